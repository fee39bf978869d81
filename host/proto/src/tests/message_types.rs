//! CertPoll, GetCert and GetCRL (RFC 8894 §3.3.3, §3.3.4) from the client to the
//! parsed messageData, and the GetCRL CertRep (§3.3.2.1, §4.6.1) back to the client.

use std::time::{Duration, SystemTime};

use sceptic_keys::{RsaKey, SignatureDigest};
use sceptic_x509::{CrlReason, CrlTemplate, RevokedEntry};

use super::{any_cipher, fixture, options};
use crate::client::{self, Quirks};
use crate::{
    CertRep, ContentCipher, DigestAlg, FailInfo, KeyTransport, MessageType, Outcome, PkiStatus,
    ReplyRecipient, build_cert_rep, certfields, decode_pki_message, open_envelope,
    parse_issuer_and_serial, parse_issuer_and_subject,
};

/// Serial number of the entry in [`crl_signed_by`]'s CRL.
pub(crate) const REVOKED_SERIAL: [u8; 3] = [0x00, 0xc0, 0xde];

/// A real CRL (one keyCompromise entry, CRL number 7) issued by the certificate
/// `issuer_cert` with `key`.
pub(crate) fn crl_signed_by(key: &RsaKey, issuer_cert: &[u8]) -> Vec<u8> {
    let issuer = certfields::parse(issuer_cert).unwrap();
    let now = SystemTime::now();
    let template = CrlTemplate {
        issuer: issuer.subject.raw.to_vec(),
        issuer_key_id: vec![0x5c; 20],
        this_update: now,
        next_update: now + Duration::from_secs(86_400),
        crl_number: 7,
        revoked: vec![RevokedEntry {
            serial: REVOKED_SERIAL.to_vec(),
            revoked_at: now,
            reason: Some(CrlReason::KeyCompromise),
        }],
    };
    let tbs = sceptic_x509::tbs_cert_list_der(&template).unwrap();
    let signature = key.sign(SignatureDigest::Sha256, &tbs).unwrap();
    sceptic_x509::assemble_crl(&tbs, &sceptic_x509::sha256_with_rsa(), &signature).unwrap()
}

/// The messageData of each message type, naming the requester's own certificate
/// (as a client polling for, fetching, or checking its certificate would).
fn bodies() -> [(MessageType, Vec<u8>); 3] {
    let f = fixture();
    let own = certfields::parse(&f.requester.certificate_der).unwrap();
    let by_serial = client::issuer_and_serial(own.issuer.raw, own.serial.value);
    [
        (
            MessageType::CertPoll,
            client::issuer_and_subject(own.issuer.raw, own.subject.raw),
        ),
        (MessageType::GetCert, by_serial.clone()),
        (MessageType::GetCrl, by_serial),
    ]
}

#[test]
fn cert_poll_get_cert_and_get_crl_round_trip() {
    let f = fixture();
    let own = certfields::parse(&f.requester.certificate_der).unwrap();
    for ber in [false, true] {
        for (message_type, body) in bodies() {
            let mut opts = options(
                ContentCipher::Aes128,
                DigestAlg::Sha256,
                KeyTransport::Pkcs1v15,
            );
            opts.message_type = message_type;
            let quirks = Quirks {
                ber,
                ..Quirks::default()
            };
            let (bytes, nonce) =
                client::build_request_with(&f.requester, &f.ra_cert, &body, &opts, &quirks);
            let message = decode_pki_message(&bytes).unwrap();
            assert_eq!(message.message_type, message_type);
            assert_eq!(message.sender_nonce, nonce);
            let opened = open_envelope(
                message.content.as_deref().unwrap(),
                &[(&f.ra_cert, &f.ra_key)],
                &any_cipher,
            )
            .unwrap();
            assert_eq!(opened.plaintext, body);

            // Streamed BER inside the envelope too, as a Go or Apple client sends it.
            let plaintext = if ber {
                client::der_to_streamed_ber(&opened.plaintext)
            } else {
                opened.plaintext
            };
            if message_type == MessageType::CertPoll {
                let parsed = parse_issuer_and_subject(&plaintext).unwrap();
                assert_eq!(parsed.issuer_der, own.issuer.raw);
                assert_eq!(parsed.subject_der, own.subject.raw);
            } else {
                let parsed = parse_issuer_and_serial(&plaintext).unwrap();
                assert_eq!(parsed.issuer_der, own.issuer.raw);
                assert_eq!(parsed.serial, own.serial.value);
                let info = crate::describe_certificate(&f.requester.certificate_der).unwrap();
                assert_eq!(parsed.serial_hex, info.serial_hex);
            }
        }
    }
}

#[test]
fn a_get_crl_cert_rep_carries_the_crl_intact() {
    let f = fixture();
    let crl = crl_signed_by(&f.ra_key, &f.ra_cert);
    for (cipher, expected) in [
        (ContentCipher::Aes256, ContentCipher::Aes256),
        (ContentCipher::Des, ContentCipher::Des3),
    ] {
        let rep = CertRep {
            transaction_id: "get-crl".into(),
            recipient_nonce: vec![9; 16],
            outcome: Outcome::Crl {
                crl_der: crl.clone(),
                recipient: ReplyRecipient::Certificate(f.requester.certificate_der.clone()),
                cipher,
            },
            digest: SignatureDigest::Sha256,
        };
        let bytes = build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap();
        let reply = client::read_cert_rep(&bytes, &f.requester).unwrap();
        assert_eq!(reply.message.pki_status, Some(PkiStatus::Success));
        assert_eq!(reply.message.recipient_nonce.as_deref(), Some(&[9; 16][..]));
        assert_eq!(reply.crls, vec![crl.clone()]);
        assert!(reply.issued_certificates.is_empty());
        assert_eq!(reply.cipher, Some(expected));
    }

    // A certificate SUCCESS has no CRLs; a FAILURE has neither.
    let success = CertRep {
        transaction_id: "get-cert".into(),
        recipient_nonce: vec![9; 16],
        outcome: Outcome::Success {
            issued_certificate_der: f.other_ra_cert.clone(),
            recipient: ReplyRecipient::Certificate(f.requester.certificate_der.clone()),
            cipher: ContentCipher::Aes128,
        },
        digest: SignatureDigest::Sha256,
    };
    let reply = client::read_cert_rep(
        &build_cert_rep(&success, &f.ra_cert, &f.ra_key).unwrap(),
        &f.requester,
    )
    .unwrap();
    assert_eq!(reply.issued_certificates, vec![f.other_ra_cert.clone()]);
    assert!(reply.crls.is_empty());
    let failure = CertRep {
        outcome: Outcome::Failure {
            fail_info: FailInfo::BadCertId,
            text: Some("no such certificate".into()),
        },
        ..success
    };
    let reply = client::read_cert_rep(
        &build_cert_rep(&failure, &f.ra_cert, &f.ra_key).unwrap(),
        &f.requester,
    )
    .unwrap();
    assert_eq!(reply.message.fail_info, Some(FailInfo::BadCertId));
    assert!(reply.crls.is_empty() && reply.issued_certificates.is_empty());
}

#[test]
fn mutated_and_random_message_data_give_rejections_not_panics() {
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    let mut rng = StdRng::seed_from_u64(0x009e_7c41);
    let bases: Vec<Vec<u8>> = bodies()
        .into_iter()
        .flat_map(|(_, body)| [client::der_to_streamed_ber(&body), body])
        .collect();
    for i in 0..super::robustness::MUTATIONS {
        let input = super::robustness::mutate(&bases[i % bases.len()], &mut rng);
        for result in [
            parse_issuer_and_subject(&input).map(|_| ()),
            parse_issuer_and_serial(&input).map(|_| ()),
        ] {
            if let Err(rejection) = result {
                assert_eq!(rejection.fail_info, FailInfo::BadRequest);
                assert!(!rejection.reason.is_empty());
            }
        }
    }
    for _ in 0..500 {
        let len = rng.random_range(0..256);
        let random: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = parse_issuer_and_subject(&random);
        let _ = parse_issuer_and_serial(&random);
    }
    for base in &bases {
        for end in 0..base.len() {
            assert!(parse_issuer_and_subject(&base[..end]).is_err());
            assert!(parse_issuer_and_serial(&base[..end]).is_err());
        }
    }
}
