//! What the server refuses, and how it says so.

use sceptic_keys::OaepHash;

use super::{any_cipher, fixture, no_single_des, options};
use crate::client::{self, Quirks};
use crate::signed_data::{self, AttributeOrder, Signer};
use crate::tlv::{self, tag};
use crate::{
    ContentCipher, DecodeError, DigestAlg, FailInfo, KeyTransport, Rejection, certfields,
    decode_pki_message, envelope, oids, open_envelope, verify,
};

fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    let outer_start = outer.as_ptr() as usize;
    let inner_start = inner.as_ptr() as usize;
    assert!(inner_start >= outer_start && inner_start + inner.len() <= outer_start + outer.len());
    inner_start - outer_start
}

fn rejection(result: Result<crate::PkiMessage, DecodeError>) -> (String, Rejection) {
    match result {
        Err(DecodeError::Rejected {
            transaction_id,
            rejection,
            ..
        }) => (transaction_id, rejection),
        other => panic!("expected a Rejected error, got {other:?}"),
    }
}

/// A request signed by the fixture's requester with arbitrary signed attributes.
fn signed_request(attributes: Vec<Vec<u8>>) -> Vec<u8> {
    let f = fixture();
    let content = b"\x30\x00";
    let signer = Signer {
        certificate_der: &f.requester.certificate_der,
        digest: DigestAlg::Sha256,
        signature_algorithm: oids::RSA_ENCRYPTION,
    };
    signed_data::assemble(
        Some(content),
        attributes,
        &DigestAlg::Sha256.digest(content).unwrap(),
        AttributeOrder::Sorted,
        &signer,
        &|m| {
            f.requester
                .key
                .pkcs1v15_sign::<sha2::Sha256>(m)
                .map_err(|e| e.to_string())
        },
    )
    .unwrap()
}

fn text(oid: &der::asn1::ObjectIdentifier, value: &str) -> Vec<u8> {
    tlv::attribute(oid, &tlv::encode(tag::PRINTABLE_STRING, value.as_bytes()))
}

fn nonce() -> Vec<u8> {
    tlv::attribute(&oids::SCEP_SENDER_NONCE, &tlv::octet_string(&[9; 16]))
}

#[test]
fn single_des_is_refused_where_not_allowed() {
    let f = fixture();
    let opts = options(ContentCipher::Des, DigestAlg::Sha1, KeyTransport::Pkcs1v15);
    let (bytes, _) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
    let envelope = decode_pki_message(&bytes).unwrap().content.unwrap();
    let refused = open_envelope(&envelope, &[(&f.ra_cert, &f.ra_key)], &no_single_des).unwrap_err();
    assert_eq!(refused.fail_info, FailInfo::BadAlg);
    assert!(refused.reason.contains("des"), "{refused}");
    // Allowed, it opens.
    assert!(open_envelope(&envelope, &[(&f.ra_cert, &f.ra_key)], &any_cipher).is_ok());
}

#[test]
fn an_envelope_for_another_ra_is_refused_and_rollover_works() {
    let f = fixture();
    let opts = options(
        ContentCipher::Aes128,
        DigestAlg::Sha256,
        KeyTransport::Pkcs1v15,
    );
    let (bytes, _) = client::build_request(&f.requester, &f.other_ra_cert, &f.csr, &opts);
    let envelope = decode_pki_message(&bytes).unwrap().content.unwrap();
    let refused = open_envelope(&envelope, &[(&f.ra_cert, &f.ra_key)], &any_cipher).unwrap_err();
    assert_eq!(
        refused,
        Rejection::new(
            FailInfo::BadMessageCheck,
            "not encrypted to this service's RA certificate"
        )
    );
    let both = [
        (&f.ra_cert[..], &f.ra_key),
        (&f.other_ra_cert[..], &f.other_ra_key),
    ];
    assert_eq!(
        open_envelope(&envelope, &both, &any_cipher)
            .unwrap()
            .plaintext,
        f.csr
    );
}

#[test]
fn a_tampered_signed_attribute_is_a_bad_message_check() {
    let f = fixture();
    let opts = options(
        ContentCipher::Aes128,
        DigestAlg::Sha256,
        KeyTransport::Pkcs1v15,
    );
    let (mut bytes, nonce) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
    let at = bytes
        .windows(opts.transaction_id.len())
        .position(|w| w == opts.transaction_id.as_bytes())
        .unwrap();
    bytes[at] = b'T';
    let result = decode_pki_message(&bytes);
    let Err(DecodeError::Rejected {
        transaction_id,
        sender_nonce,
        rejection,
    }) = result
    else {
        panic!("expected a rejection, got {result:?}");
    };
    assert_eq!(transaction_id, format!("T{}", &opts.transaction_id[1..]));
    assert_eq!(sender_nonce, nonce);
    assert_eq!(rejection.fail_info, FailInfo::BadMessageCheck);
    assert!(rejection.reason.contains("signature"), "{rejection}");
}

#[test]
fn tampered_content_fails_the_message_digest() {
    let f = fixture();
    let opts = options(
        ContentCipher::Aes128,
        DigestAlg::Sha256,
        KeyTransport::Pkcs1v15,
    );
    let (bytes, _) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
    let econtent = signed_data::parse(&bytes).unwrap().econtent.unwrap();
    let at = offset_in(&bytes, econtent) + econtent.len() - 5;
    let mut tampered = bytes.clone();
    tampered[at] ^= 1;
    let (_, refused) = rejection(decode_pki_message(&tampered));
    assert_eq!(refused.fail_info, FailInfo::BadMessageCheck);
    assert!(refused.reason.contains("messageDigest"), "{refused}");
}

#[test]
fn md5_is_refused_as_bad_alg() {
    let f = fixture();
    for quirks in [
        Quirks::default(),
        Quirks {
            signature_algorithm_with_hash: true,
            ..Quirks::default()
        },
    ] {
        let opts = options(
            ContentCipher::Aes128,
            DigestAlg::Md5,
            KeyTransport::Pkcs1v15,
        );
        let (bytes, _) =
            client::build_request_with(&f.requester, &f.ra_cert, &f.csr, &opts, &quirks);
        let (id, refused) = rejection(decode_pki_message(&bytes));
        assert_eq!(id, opts.transaction_id);
        assert_eq!(refused.fail_info, FailInfo::BadAlg);
        assert!(refused.reason.contains("MD5"), "{refused}");
    }
}

#[test]
fn unknown_message_type_is_a_bad_request() {
    let bytes = signed_request(vec![
        text(&oids::SCEP_MESSAGE_TYPE, "99"),
        text(&oids::SCEP_TRANSACTION_ID, "t-99"),
        nonce(),
    ]);
    let (id, refused) = rejection(decode_pki_message(&bytes));
    assert_eq!(id, "t-99");
    assert_eq!(refused.fail_info, FailInfo::BadRequest);
    assert!(refused.reason.contains("messageType"), "{refused}");
}

#[test]
fn without_transaction_id_or_sender_nonce_the_message_is_malformed() {
    let no_nonce = signed_request(vec![
        text(&oids::SCEP_MESSAGE_TYPE, "19"),
        text(&oids::SCEP_TRANSACTION_ID, "t-1"),
    ]);
    assert!(
        matches!(decode_pki_message(&no_nonce), Err(DecodeError::Malformed(m)) if m.contains("senderNonce"))
    );
    let no_id = signed_request(vec![text(&oids::SCEP_MESSAGE_TYPE, "19"), nonce()]);
    assert!(
        matches!(decode_pki_message(&no_id), Err(DecodeError::Malformed(m)) if m.contains("transactionID"))
    );
    let too_long = signed_request(vec![
        text(&oids::SCEP_MESSAGE_TYPE, "19"),
        text(
            &oids::SCEP_TRANSACTION_ID,
            &"x".repeat(crate::message::MAX_TRANSACTION_ID_CHARS + 1),
        ),
        nonce(),
    ]);
    assert!(matches!(
        decode_pki_message(&too_long),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        decode_pki_message(b"not a message"),
        Err(DecodeError::Malformed(_))
    ));
}

/// The Bleichenbacher/Marvin rule. A corrupted encrypted key (RSA unwrap fails), a
/// well-formed key of the wrong length, and a corrupted content with the right key
/// (padding fails) must produce byte-identical rejections: if they differed, a client
/// could submit chosen ciphertexts as encryptedKey and learn from the answer whether
/// the RA key's PKCS#1 unwrap succeeded, which is the oracle those attacks need.
#[test]
fn every_decryption_failure_gives_the_same_rejection() {
    let f = fixture();
    let ra = [(&f.ra_cert[..], &f.ra_key)];
    for transport in [KeyTransport::Pkcs1v15, KeyTransport::Oaep(OaepHash::Sha256)] {
        let good = envelope::seal(&f.csr, &f.ra_cert, ContentCipher::Aes128, transport).unwrap();
        assert!(open_envelope(&good, &ra, &any_cipher).is_ok());
        let parsed = envelope::parse(&good).unwrap();
        let encrypted_key = parsed.recipients[0].encrypted_key;
        let key_at = offset_in(&good, encrypted_key);

        let mut corrupted_key = good.clone();
        corrupted_key[key_at + encrypted_key.len() / 2] ^= 0x55;

        let ra_public =
            verify::rsa_public_key(certfields::parse(&f.ra_cert).unwrap().spki.raw).unwrap();
        let short = match transport {
            KeyTransport::Pkcs1v15 => ra_public.pkcs1v15_encrypt(&[1, 2, 3, 4, 5]),
            _ => ra_public.oaep_encrypt::<sha2::Sha256>(&[1, 2, 3, 4, 5]),
        }
        .unwrap();
        let mut wrong_length_key = good.clone();
        wrong_length_key[key_at..key_at + short.len()].copy_from_slice(&short);

        // Flip the top bit of the last plaintext byte through the previous ciphertext
        // block: the padding byte becomes > 16, so unpadding fails deterministically.
        let ciphertext = &parsed.ciphertext;
        let content_at = good
            .windows(ciphertext.len())
            .position(|w| w == &ciphertext[..])
            .unwrap();
        let mut corrupted_content = good.clone();
        corrupted_content[content_at + ciphertext.len() - 16 - 1] ^= 0x80;

        let expected = Rejection::new(
            FailInfo::BadMessageCheck,
            "the request's envelope could not be decrypted",
        );
        let answers: Vec<Rejection> = [&corrupted_key, &wrong_length_key, &corrupted_content]
            .iter()
            .map(|envelope| open_envelope(envelope, &ra, &any_cipher).unwrap_err())
            .collect();
        for answer in &answers {
            assert_eq!(answer, &expected, "{transport}");
            assert_eq!(format!("{answer:?}"), format!("{expected:?}"));
            assert_eq!(answer.to_string(), expected.to_string());
        }
    }
}

#[test]
fn structural_problems_before_rsa_are_named() {
    let f = fixture();
    let ra = [(&f.ra_cert[..], &f.ra_key)];
    let refused = open_envelope(b"\x30\x03\x02\x01\x00", &ra, &any_cipher).unwrap_err();
    assert_eq!(refused.fail_info, FailInfo::BadRequest);
    // Unknown cipher OID → badAlg.
    let good = envelope::seal(
        &f.csr,
        &f.ra_cert,
        ContentCipher::Aes128,
        KeyTransport::Pkcs1v15,
    )
    .unwrap();
    let oid = oids::AES128_CBC.as_bytes();
    let at = good.windows(oid.len()).position(|w| w == oid).unwrap();
    let mut unknown = good.clone();
    unknown[at + oid.len() - 1] = 0x7f;
    let refused = open_envelope(&unknown, &ra, &any_cipher).unwrap_err();
    assert_eq!(refused.fail_info, FailInfo::BadAlg);
    assert!(
        refused.reason.contains("unknown content cipher"),
        "{refused}"
    );
}
