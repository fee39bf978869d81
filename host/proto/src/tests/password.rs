//! Envelopes sealed to the challengePassword (RFC 8894 §3.1): a PasswordRecipientInfo
//! (RFC 5652 §6.2.4) with PBKDF2 and the RFC 3211 key wrap. Round trips through the
//! client code, OpenSSL in both directions, and CertReps built with
//! [`ReplyRecipient::Password`].

use std::process::Command;

use sceptic_keys::SignatureDigest;

use super::message_types::crl_signed_by;
use super::openssl::{Scratch, openssl, openssl_available, verify_and_extract};
use super::{CHALLENGE, fixture};
use crate::client;
use crate::tlv::{self, tag};
use crate::{
    BuildError, CertRep, ContentCipher, Outcome, PBKDF2_ITERATIONS, PkiStatus, ReplyRecipient,
    SALT_BYTES, build_cert_rep, certs_only, crls_only, oids, seal_to_password,
};

const PASSWORD: &[u8] = CHALLENGE.as_bytes();

/// The ciphers a reply may use (single DES is always answered with 3DES).
const REPLY_CIPHERS: [ContentCipher; 4] = [
    ContentCipher::Des3,
    ContentCipher::Aes128,
    ContentCipher::Aes192,
    ContentCipher::Aes256,
];

fn content() -> Vec<u8> {
    certs_only(std::slice::from_ref(&fixture().other_ra_cert))
}

#[test]
fn password_envelopes_round_trip_with_every_cipher_and_kek() {
    let content = content();
    for cipher in REPLY_CIPHERS {
        for kek in REPLY_CIPHERS {
            let sealed = seal_to_password(&content, PASSWORD, cipher, kek).unwrap();
            let parsed = crate::envelope::parse(&sealed).unwrap();
            assert!(parsed.recipients.is_empty(), "no key transport recipient");
            assert_eq!(parsed.passwords.len(), 1);
            let (opened, used) = client::open_with_password(&sealed, PASSWORD).unwrap();
            assert_eq!(opened, content, "{cipher} under a {kek} KEK");
            assert_eq!(used, cipher);
            // The way Apple and Go clients stream BER opens too.
            let ber = client::der_to_streamed_ber(&sealed);
            assert_eq!(
                client::open_with_password(&ber, PASSWORD).unwrap().0,
                content
            );
        }
    }
    // Single DES is written as 3DES, for the content and for the KEK.
    let sealed = seal_to_password(b"x", PASSWORD, ContentCipher::Des, ContentCipher::Des).unwrap();
    let (opened, used) = client::open_with_password(&sealed, PASSWORD).unwrap();
    assert_eq!((opened.as_slice(), used), (&b"x"[..], ContentCipher::Des3));
    let des_cbc = tlv::oid(&oids::DES_CBC);
    assert!(!sealed.windows(des_cbc.len()).any(|w| w == des_cbc));
}

#[test]
fn the_sealed_envelope_is_version_3_with_pbkdf2_hmac_sha256() {
    let sealed = seal_to_password(
        b"content",
        PASSWORD,
        ContentCipher::Aes128,
        ContentCipher::Aes256,
    )
    .unwrap();
    let info = tlv::single(&sealed, "ContentInfo").unwrap();
    let mut r = info.children();
    r.expect(tag::OID, "type").unwrap();
    let wrapper = r.expect(tag::context_constructed(0), "content").unwrap();
    let enveloped = tlv::single(wrapper.value, "EnvelopedData").unwrap();
    let mut e = enveloped.children();
    // RFC 5652 §6.1: version 3 when a pwri is present.
    assert_eq!(e.expect(tag::INTEGER, "version").unwrap().value, [3]);
    let set = e.expect(tag::SET, "recipientInfos").unwrap();
    let pwri = tlv::single(set.value, "pwri").unwrap();
    assert_eq!(pwri.tag, tag::context_constructed(3));
    let mut p = pwri.children();
    assert_eq!(p.expect(tag::INTEGER, "version").unwrap().value, [0]);
    let kdf = p.expect(tag::context_constructed(0), "kdf").unwrap();
    let mut k = kdf.children();
    assert_eq!(
        k.expect(tag::OID, "kdf oid").unwrap().value,
        oids::PBKDF2.as_bytes()
    );
    let params = k.expect(tag::SEQUENCE, "PBKDF2-params").unwrap();
    let mut params = params.children();
    let salt = params.expect(tag::OCTET_STRING, "salt").unwrap();
    assert_eq!(salt.value.len(), SALT_BYTES);
    let count = params.expect(tag::INTEGER, "iterationCount").unwrap();
    let count = count
        .value
        .iter()
        .fold(0u32, |a, &b| (a << 8) | u32::from(b));
    assert_eq!(count, PBKDF2_ITERATIONS);
    let prf = params.expect(tag::SEQUENCE, "prf").unwrap();
    assert_eq!(
        prf.raw,
        tlv::algorithm(&oids::HMAC_WITH_SHA256, Some(&tlv::null()))
    );
    params.finish("PBKDF2-params").unwrap();
    let kea = tlv::algorithm_id(p.expect(tag::SEQUENCE, "kea").unwrap(), "kea").unwrap();
    assert_eq!(kea.oid, oids::PWRI_KEK.as_bytes());
    let kek = tlv::algorithm_id(kea.params.unwrap(), "kek").unwrap();
    assert_eq!(kek.oid, oids::AES256_CBC.as_bytes());
    assert_eq!(kek.params.unwrap().value.len(), 16, "the KEK IV");
    // A 16-byte CEK: 4 + 16 bytes round up to two AES blocks.
    assert_eq!(p.expect(tag::OCTET_STRING, "key").unwrap().value.len(), 32);
    p.finish("pwri").unwrap();
}

#[test]
fn a_wrong_password_or_a_damaged_envelope_is_an_error_not_a_panic() {
    let sealed = seal_to_password(
        b"some content",
        PASSWORD,
        ContentCipher::Aes256,
        ContentCipher::Aes256,
    )
    .unwrap();
    for wrong in [&b"wrong"[..], b"", b"s3cret ", b"S3cret"] {
        assert!(client::open_with_password(&sealed, wrong).is_err());
    }
    // Flip each byte: never a panic (a flip in the content may still decrypt).
    for at in 0..sealed.len() {
        let mut damaged = sealed.clone();
        damaged[at] ^= 0x5a;
        let _ = client::open_with_password(&damaged, PASSWORD);
    }
    for cut in 0..sealed.len() {
        assert!(client::open_with_password(&sealed[..cut], PASSWORD).is_err());
    }
    // An envelope for a certificate has no password recipient.
    let f = fixture();
    let for_key = crate::envelope::seal(
        b"x",
        &f.requester.certificate_der,
        ContentCipher::Aes128,
        crate::KeyTransport::Pkcs1v15,
    )
    .unwrap();
    let err = client::open_with_password(&for_key, PASSWORD).unwrap_err();
    assert!(err.contains("no PasswordRecipientInfo"), "{err}");
    // An empty password is refused when sealing.
    assert!(seal_to_password(b"x", b"", ContentCipher::Aes128, ContentCipher::Aes128).is_err());
}

fn password_rep(outcome: Outcome) -> CertRep {
    CertRep {
        transaction_id: "pwri".into(),
        recipient_nonce: vec![5; 16],
        outcome,
        digest: SignatureDigest::Sha256,
    }
}

fn to_password(kek: ContentCipher) -> ReplyRecipient {
    ReplyRecipient::Password {
        password: PASSWORD.to_vec(),
        kek,
    }
}

#[test]
fn a_cert_rep_sealed_to_a_password_yields_the_issued_certificate() {
    let f = fixture();
    let issued = f.other_ra_cert.clone();
    for (cipher, kek) in [
        (ContentCipher::Aes256, ContentCipher::Aes256),
        (ContentCipher::Des, ContentCipher::Des),
        (ContentCipher::Aes128, ContentCipher::Des3),
    ] {
        let rep = password_rep(Outcome::Success {
            issued_certificate_der: issued.clone(),
            recipient: to_password(kek),
            cipher,
        });
        let bytes = build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap();
        let reply = client::read_cert_rep_with_password(&bytes, PASSWORD).unwrap();
        assert_eq!(reply.message.pki_status, Some(PkiStatus::Success));
        assert_eq!(reply.message.recipient_nonce.as_deref(), Some(&[5; 16][..]));
        assert_eq!(reply.issued_certificates, vec![issued.clone()]);
        assert_eq!(reply.cipher, Some(cipher.without_single_des()));

        assert!(client::read_cert_rep_with_password(&bytes, b"wrong").is_err());
        let err = client::read_cert_rep(&bytes, &f.requester).unwrap_err();
        assert!(err.contains("encrypted to a password"), "{err}");
    }

    // GetCRL's SUCCESS too.
    let crl = crl_signed_by(&f.ra_key, &f.ra_cert);
    let rep = password_rep(Outcome::Crl {
        crl_der: crl.clone(),
        recipient: to_password(ContentCipher::Aes128),
        cipher: ContentCipher::Aes192,
    });
    let bytes = build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap();
    let reply = client::read_cert_rep_with_password(&bytes, PASSWORD).unwrap();
    assert_eq!(reply.crls, vec![crl]);
    assert!(reply.issued_certificates.is_empty());

    // No password, no envelope.
    let rep = password_rep(Outcome::Success {
        issued_certificate_der: issued,
        recipient: ReplyRecipient::Password {
            password: Vec::new(),
            kek: ContentCipher::Aes256,
        },
        cipher: ContentCipher::Aes256,
    });
    assert!(matches!(
        build_cert_rep(&rep, &f.ra_cert, &f.ra_key),
        Err(BuildError::Envelope(_))
    ));
}

#[test]
fn debug_never_shows_the_password() {
    let secret = b"hunter2-very-secret".to_vec();
    let outcome = Outcome::Success {
        issued_certificate_der: vec![1, 2, 3],
        recipient: ReplyRecipient::Password {
            password: secret.clone(),
            kek: ContentCipher::Aes256,
        },
        cipher: ContentCipher::Aes128,
    };
    let shown = format!("{:?} {:#?}", outcome, password_rep(outcome.clone()));
    assert!(!shown.contains("hunter2"), "{shown}");
    // Nor as the Vec<u8> Debug form of its bytes ("104, 117, 110, …").
    let bytes = format!("{:?}", &secret[..3]);
    assert!(!shown.contains(bytes.trim_matches(['[', ']'])), "{shown}");
    assert!(
        shown.contains("<redacted>") && shown.contains("Aes256"),
        "{shown}"
    );
}

#[test]
fn openssl_decrypts_what_we_seal_to_a_password() {
    if !openssl_available() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let f = fixture();
    let dir = Scratch::new("pwri-seal");
    let content = content();
    for (cipher, kek) in [
        (ContentCipher::Aes256, ContentCipher::Aes256),
        (ContentCipher::Des3, ContentCipher::Aes128),
        (ContentCipher::Aes128, ContentCipher::Des3),
        (ContentCipher::Aes192, ContentCipher::Aes192),
    ] {
        let sealed = dir.file(
            "sealed.der",
            &seal_to_password(&content, PASSWORD, cipher, kek).unwrap(),
        );
        decrypt_with_password(&sealed, CHALLENGE, &dir.path("out.der"));
        assert_eq!(
            std::fs::read(dir.path("out.der")).unwrap(),
            content,
            "{cipher} under a {kek} KEK"
        );
        // OpenSSL's unwrap check refuses a wrong password as ours does.
        let wrong = Command::new("openssl")
            .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
            .arg(&sealed)
            .args(["-pwri_password", "wrong", "-out"])
            .arg(dir.path("wrong.der"))
            .output()
            .unwrap();
        assert!(!wrong.status.success(), "{cipher} {kek}");
    }

    // A whole CertRep: OpenSSL verifies the signature, then opens the envelope.
    let rep = password_rep(Outcome::Crl {
        crl_der: crl_signed_by(&f.ra_key, &f.ra_cert),
        recipient: to_password(ContentCipher::Aes256),
        cipher: ContentCipher::Aes256,
    });
    let bytes = build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap();
    let message = dir.file("certrep.der", &bytes);
    verify_and_extract(&message, &dir.path("envelope.der"));
    decrypt_with_password(&dir.path("envelope.der"), CHALLENGE, &dir.path("inner.der"));
    let Outcome::Crl { crl_der, .. } = &rep.outcome else {
        unreachable!()
    };
    assert_eq!(
        std::fs::read(dir.path("inner.der")).unwrap(),
        crls_only(std::slice::from_ref(crl_der))
    );
}

fn decrypt_with_password(envelope: &std::path::Path, password: &str, out: &std::path::Path) {
    openssl(&[
        &"cms",
        &"-decrypt",
        &"-binary",
        &"-inform",
        &"DER",
        &"-in",
        &envelope,
        &"-pwri_password",
        &password,
        &"-out",
        &out,
    ]);
}

#[test]
fn openssl_password_envelopes_open_with_our_unwrap() {
    if !openssl_available() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let dir = Scratch::new("pwri-open");
    let content = content();
    let input = dir.file("content.der", &content);
    // OpenSSL writes an 8-byte salt, 2048 iterations and the default hmacWithSHA1
    // prf (absent), with the content cipher as KEK cipher; `-stream` makes it BER.
    for (flag, cipher, stream) in [
        ("-aes256", ContentCipher::Aes256, false),
        ("-aes128", ContentCipher::Aes128, true),
        ("-des3", ContentCipher::Des3, false),
    ] {
        let out = dir.path("envelope.der");
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"cms",
            &"-encrypt",
            &"-binary",
            &"-pwri_password",
            &CHALLENGE,
            &flag,
            &"-outform",
            &"DER",
            &"-in",
            &input,
            &"-out",
            &out,
        ];
        if stream {
            args.push(&"-stream");
        }
        openssl(&args);
        let envelope = std::fs::read(&out).unwrap();
        let (opened, used) = client::open_with_password(&envelope, PASSWORD).unwrap();
        assert_eq!(opened, content, "{flag}");
        assert_eq!(used, cipher);
        assert!(client::open_with_password(&envelope, b"wrong").is_err());
    }
}
