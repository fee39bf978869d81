//! CRLs signed with a real CA key, read back by x509-cert and verified by OpenSSL.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use der::Decode;
use sceptic_keys::{RsaKey, SignatureDigest};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::crl::CertificateList;

use super::*;
use crate::{
    CertificateTemplate, assemble_certificate, key_identifier, key_usage_from_names, name_der,
    tbs_certificate_der,
};

const DAY: Duration = Duration::from_secs(86_400);

struct Ca {
    key: RsaKey,
    certificate: Vec<u8>,
    subject: Vec<u8>,
    key_id: Vec<u8>,
}

/// A self-signed CA made by this crate, with keyCertSign and cRLSign.
fn ca() -> Ca {
    let key = RsaKey::generate(2048).unwrap();
    let spki = SubjectPublicKeyInfoOwned::from_der(&key.public_key_spki_der()).unwrap();
    let subject = name_der("CN=Sceptic CRL Test CA,O=Example").unwrap();
    let now = SystemTime::now();
    let template = CertificateTemplate {
        serial: vec![0x41, 0x02, 0x03],
        issuer: subject.clone(),
        issuer_key_id: None,
        subject: subject.clone(),
        subject_public_key_info: spki.clone(),
        not_before: now - DAY,
        not_after: now + 365 * DAY,
        ca: Some(None),
        key_usage: key_usage_from_names(["keyCertSign", "cRLSign"]).unwrap(),
        extended_key_usage: Vec::new(),
        extra_extensions: Vec::new(),
    };
    let tbs = tbs_certificate_der(&template).unwrap();
    let signature = key.sign(SignatureDigest::Sha256, &tbs).unwrap();
    let certificate = assemble_certificate(&tbs, &sha256_with_rsa(), &signature).unwrap();
    Ca {
        key_id: key_identifier(&spki),
        key,
        certificate,
        subject,
    }
}

fn signed_crl(ca: &Ca, template: &CrlTemplate) -> Vec<u8> {
    let tbs = tbs_cert_list_der(template).unwrap();
    let signature = ca.key.sign(SignatureDigest::Sha256, &tbs).unwrap();
    assemble_crl(&tbs, &sha256_with_rsa(), &signature).unwrap()
}

fn template(ca: &Ca, revoked: Vec<RevokedEntry>) -> CrlTemplate {
    let now = SystemTime::now();
    CrlTemplate {
        issuer: ca.subject.clone(),
        issuer_key_id: ca.key_id.clone(),
        this_update: now,
        next_update: now + 7 * DAY,
        crl_number: 4242,
        revoked,
    }
}

#[test]
fn crl_reads_back_with_its_entries_and_extensions() {
    let ca = ca();
    let entries = vec![
        RevokedEntry {
            serial: vec![0x00, 0x9a, 0xbc],
            revoked_at: SystemTime::now() - DAY,
            reason: Some(CrlReason::KeyCompromise),
        },
        RevokedEntry {
            serial: vec![0x12],
            revoked_at: SystemTime::now(),
            reason: Some(CrlReason::Unspecified),
        },
    ];
    let der = signed_crl(&ca, &template(&ca, entries));
    let crl: CertificateList = CertificateList::from_der(&der).unwrap();
    let tbs = &crl.tbs_cert_list;
    assert_eq!(tbs.version, Version::V2);
    let revoked = tbs.revoked_certificates.as_ref().unwrap();
    assert_eq!(revoked.len(), 2);
    assert_eq!(revoked[0].serial_number.as_bytes(), [0x00, 0x9a, 0xbc]);
    let reason = revoked[0].crl_entry_extensions.as_ref().unwrap();
    assert_eq!(reason[0].extn_id, oids::ID_CE_CRL_REASONS);
    assert_eq!(reason[0].extn_value.as_bytes(), [0x0a, 0x01, 0x01]);
    assert!(
        revoked[1].crl_entry_extensions.is_none(),
        "unspecified is left out (RFC 5280 §5.3.1)"
    );
    let extensions = tbs.crl_extensions.as_ref().unwrap();
    let ids: Vec<_> = extensions.iter().map(|e| e.extn_id).collect();
    assert_eq!(
        ids,
        [oids::ID_CE_AUTHORITY_KEY_IDENTIFIER, oids::ID_CE_CRL_NUMBER]
    );
    assert_eq!(
        extensions[1].extn_value.as_bytes(),
        [0x02, 0x02, 0x10, 0x92]
    );
    // The issuer is the CA's subject byte for byte.
    assert!(der.windows(ca.subject.len()).any(|w| w == ca.subject));
}

#[test]
fn an_empty_crl_has_no_revoked_certificates_field() {
    let ca = ca();
    let der = signed_crl(&ca, &template(&ca, Vec::new()));
    let crl: CertificateList = CertificateList::from_der(&der).unwrap();
    assert!(crl.tbs_cert_list.revoked_certificates.is_none());
}

#[test]
fn serials_are_kept_exactly_or_refused() {
    let ca = ca();
    let entry = |serial: Vec<u8>| RevokedEntry {
        serial,
        revoked_at: SystemTime::now(),
        reason: None,
    };
    // A negative serial (non-conforming CAs issue them) is written as it came.
    let tbs = tbs_cert_list_der(&template(&ca, vec![entry(vec![0x80, 0x01])])).unwrap();
    assert!(tbs.windows(4).any(|w| w == [0x02, 0x02, 0x80, 0x01]));
    // Not canonical DER INTEGER contents: refused rather than silently re-encoded.
    for bad in [vec![], vec![0x00, 0x01], vec![0xff, 0x80]] {
        assert!(tbs_cert_list_der(&template(&ca, vec![entry(bad.clone())])).is_err());
    }
    let mut garbage_issuer = template(&ca, Vec::new());
    garbage_issuer.issuer = vec![0x30, 0x05, 0x01];
    assert!(tbs_cert_list_der(&garbage_issuer).is_err());
}

#[test]
fn reasons_parse_from_their_rfc_names() {
    for reason in CrlReason::ALL {
        assert_eq!(CrlReason::parse(reason.name()), Ok(reason));
        assert_eq!(reason.to_string(), reason.name());
    }
    assert_eq!(
        CrlReason::parse(" cacompromise "),
        Ok(CrlReason::CaCompromise)
    );
    assert_eq!(CrlReason::RemoveFromCrl.code(), 8);
    let error = CrlReason::parse("stolen").unwrap_err();
    assert!(error.contains("\"stolen\""), "{error}");
    assert!(
        error.contains("keyCompromise") && error.contains("aACompromise"),
        "{error}"
    );
}

#[test]
fn openssl_verifies_the_crl() {
    if !Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let ca = ca();
    let entries = vec![
        RevokedEntry {
            serial: vec![0x4a, 0x3f, 0x01],
            revoked_at: SystemTime::now() - DAY,
            reason: Some(CrlReason::KeyCompromise),
        },
        RevokedEntry {
            serial: vec![0x00, 0xc0, 0xff, 0xee],
            revoked_at: SystemTime::now(),
            reason: Some(CrlReason::CessationOfOperation),
        },
    ];
    let der = signed_crl(&ca, &template(&ca, entries));

    let dir = std::env::temp_dir().join(format!("sceptic-x509-crl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| -> PathBuf { dir.join(name) };
    let pem =
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &ca.certificate).unwrap();
    std::fs::write(path("ca.pem"), pem).unwrap();
    std::fs::write(path("crl.der"), &der).unwrap();
    let output = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(path("crl.der"))
        .arg("-CAfile")
        .arg(path("ca.pem"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // OpenSSL 3 writes "verify OK" on stderr.
    assert!(stderr.contains("verify OK"), "{stderr}");
    for expected in [
        "Version 2",
        "Serial Number: 4A3F01",
        "Serial Number: C0FFEE",
        "Key Compromise",
        "Cessation Of Operation",
        "X509v3 CRL Number",
        "4242",
        "X509v3 Authority Key Identifier",
        "CN = Sceptic CRL Test CA",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing in:\n{stdout}"
        );
    }
}
