//! Cross-checks with OpenSSL's CMS implementation, skipped only where `openssl` is
//! not installed. Single DES is left out: OpenSSL 3 keeps it in the legacy provider.

use std::path::{Path, PathBuf};
use std::process::Command;

use sceptic_keys::{OaepHash, SignatureDigest};

use super::message_types::crl_signed_by;
use super::{fixture, options};
use crate::client;
use crate::{
    CertRep, ContentCipher, DigestAlg, FailInfo, KeyTransport, Outcome, ReplyRecipient,
    build_cert_rep, certs_only, crls_only,
};

pub(super) fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A private scratch directory, removed when dropped.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    pub(super) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sceptic-proto-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(super) fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn openssl(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    openssl_stdout(args);
}

/// Runs openssl, which must succeed, and returns what it wrote on stdout.
fn openssl_stdout(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let output = Command::new("openssl")
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl {:?} failed: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `openssl cms -verify` checks the signature and messageDigest and writes the content.
pub(super) fn verify_and_extract(message: &Path, content_out: &Path) {
    openssl(&[
        &"cms",
        &"-verify",
        &"-noverify",
        &"-binary",
        &"-inform",
        &"DER",
        &"-in",
        &message,
        &"-out",
        &content_out,
    ]);
}

fn decrypt(envelope: &Path, key_pem: &Path, out: &Path) {
    openssl(&[
        &"cms",
        &"-decrypt",
        &"-binary",
        &"-inform",
        &"DER",
        &"-in",
        &envelope,
        &"-inkey",
        &key_pem,
        &"-out",
        &out,
    ]);
}

#[test]
fn openssl_verifies_and_decrypts_client_requests() {
    if !openssl_available() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let f = fixture();
    let dir = Scratch::new("requests");
    let ra_key = dir.file("ra.pem", f.ra_key.to_pem().as_bytes());
    for (cipher, digest, transport) in [
        (ContentCipher::Des3, DigestAlg::Sha1, KeyTransport::Pkcs1v15),
        (
            ContentCipher::Aes128,
            DigestAlg::Sha256,
            KeyTransport::Oaep(OaepHash::Sha1),
        ),
        (
            ContentCipher::Aes256,
            DigestAlg::Sha512,
            KeyTransport::Oaep(OaepHash::Sha256),
        ),
    ] {
        let opts = options(cipher, digest, transport);
        let (bytes, _) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
        let message = dir.file("request.der", &bytes);
        verify_and_extract(&message, &dir.path("envelope.der"));
        decrypt(&dir.path("envelope.der"), &ra_key, &dir.path("csr.der"));
        assert_eq!(
            std::fs::read(dir.path("csr.der")).unwrap(),
            f.csr,
            "{cipher} {digest} {transport}"
        );
    }
}

#[test]
fn openssl_verifies_cert_reps_and_decrypts_the_issued_certificate() {
    if !openssl_available() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let f = fixture();
    let dir = Scratch::new("certreps");
    let requester_key = dir.file("requester.pem", f.requester.private_key_pem().as_bytes());
    let issued = f.other_ra_cert.clone();
    for (cipher, digest) in [
        (ContentCipher::Aes256, SignatureDigest::Sha256),
        (ContentCipher::Des3, SignatureDigest::Sha512),
        (ContentCipher::Aes128, SignatureDigest::Sha384),
    ] {
        let rep = CertRep {
            transaction_id: "openssl-check".into(),
            recipient_nonce: vec![1; 16],
            outcome: Outcome::Success {
                issued_certificate_der: issued.clone(),
                recipient: ReplyRecipient::Certificate(f.requester.certificate_der.clone()),
                cipher,
            },
            digest,
        };
        let message = dir.file(
            "certrep.der",
            &build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap(),
        );
        verify_and_extract(&message, &dir.path("envelope.der"));
        decrypt(
            &dir.path("envelope.der"),
            &requester_key,
            &dir.path("inner.der"),
        );
        assert_eq!(
            std::fs::read(dir.path("inner.der")).unwrap(),
            certs_only(std::slice::from_ref(&issued)),
            "{cipher}"
        );
    }

    // FAILURE and PENDING: empty content, signature still verifies.
    for outcome in [
        Outcome::Failure {
            fail_info: FailInfo::BadRequest,
            text: Some("no".into()),
        },
        Outcome::Pending,
    ] {
        let rep = CertRep {
            transaction_id: "openssl-check".into(),
            recipient_nonce: vec![1; 16],
            outcome,
            digest: SignatureDigest::Sha256,
        };
        let message = dir.file(
            "certrep.der",
            &build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap(),
        );
        verify_and_extract(&message, &dir.path("content"));
        assert!(std::fs::read(dir.path("content")).unwrap().is_empty());
    }
}

#[test]
fn openssl_reads_the_crl_in_a_get_crl_cert_rep() {
    if !openssl_available() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let f = fixture();
    let dir = Scratch::new("crl-certrep");
    let requester_key = dir.file("requester.pem", f.requester.private_key_pem().as_bytes());
    let crl = crl_signed_by(&f.ra_key, &f.ra_cert);
    let rep = CertRep {
        transaction_id: "openssl-crl".into(),
        recipient_nonce: vec![1; 16],
        outcome: Outcome::Crl {
            crl_der: crl.clone(),
            recipient: ReplyRecipient::Certificate(f.requester.certificate_der.clone()),
            cipher: ContentCipher::Aes128,
        },
        digest: SignatureDigest::Sha256,
    };
    let message = dir.file(
        "certrep.der",
        &build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap(),
    );
    verify_and_extract(&message, &dir.path("envelope.der"));
    decrypt(
        &dir.path("envelope.der"),
        &requester_key,
        &dir.path("inner.der"),
    );
    let inner = std::fs::read(dir.path("inner.der")).unwrap();
    assert_eq!(inner, crls_only(std::slice::from_ref(&crl)));

    let printed = openssl_stdout(&[
        &"pkcs7",
        &"-inform",
        &"DER",
        &"-print",
        &"-noout",
        &"-in",
        &dir.path("inner.der"),
    ]);
    // The CRL is in `crls` (RFC 8894 §3.4) and the certificates field is absent.
    assert!(printed.contains("crl:"), "{printed}");
    assert!(printed.contains("cert:\n      <ABSENT>"), "{printed}");
    assert!(printed.contains("serialNumber: 49374"), "0xc0de: {printed}");
    assert!(printed.contains("X509v3 CRL Reason Code"), "{printed}");
    assert!(printed.contains("X509v3 CRL Number"), "{printed}");
    assert!(printed.contains("Sceptic Test RA"), "{printed}");

    // And OpenSSL verifies that CRL with the issuer's certificate.
    dir.file("crl.der", &crl);
    let issuer =
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &f.ra_cert).unwrap();
    let issuer = dir.file("issuer.pem", issuer.as_bytes());
    let output = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-in"])
        .arg(dir.path("crl.der"))
        .arg("-CAfile")
        .arg(&issuer)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("verify OK"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn openssl_verifies_a_get_next_ca_cert_answer_and_reads_the_next_certificates() {
    if !openssl_available() {
        return;
    }
    let f = fixture();
    let next = vec![f.other_ra_cert.clone()];
    let answer =
        crate::build_next_ca_cert(&next, &f.ra_cert, &f.ra_key, SignatureDigest::Sha256).unwrap();
    let dir = Scratch::new("next-ca");
    let message = dir.file("next.der", &answer);
    let content = dir.path("content.der");
    verify_and_extract(&message, &content);
    assert_eq!(std::fs::read(&content).unwrap(), certs_only(&next));
    let pem = openssl_stdout(&[
        &"pkcs7",
        &"-inform",
        &"DER",
        &"-in",
        &content,
        &"-print_certs",
    ]);
    assert!(pem.contains("CN = Other RA"), "{pem}");
}
