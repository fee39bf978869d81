//! A request travels from the client to the server and a CertRep comes back.

use sceptic_keys::{OaepHash, SignatureDigest};

use super::{CHALLENGE, SANS, any_cipher, fixture, options};
use crate::client::{self, Quirks};
use crate::tlv::{self, Tlv};
use crate::{
    CertRep, ContentCipher, DigestAlg, FailInfo, KeyTransport, MessageType, Outcome, PkiStatus,
    ReplyRecipient, SanKind, build_cert_rep, certs_only, decode_pki_message, open_envelope,
    parse_csr,
};

#[test]
fn every_cipher_digest_and_key_transport_round_trips() {
    let f = fixture();
    let transports = [
        KeyTransport::Pkcs1v15,
        KeyTransport::Oaep(OaepHash::Sha1),
        KeyTransport::Oaep(OaepHash::Sha256),
    ];
    for cipher in ContentCipher::ALL {
        for digest in [DigestAlg::Sha1, DigestAlg::Sha256, DigestAlg::Sha512] {
            for transport in transports {
                let opts = options(cipher, digest, transport);
                let (bytes, nonce) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
                let message = decode_pki_message(&bytes).unwrap();
                assert_eq!(message.message_type, MessageType::PkcsReq);
                assert_eq!(message.transaction_id, opts.transaction_id);
                assert_eq!(message.sender_nonce, nonce);
                assert_eq!(message.digest, digest);
                assert_eq!(message.signer_certificate_der, f.requester.certificate_der);
                assert_eq!(
                    message.certificates,
                    vec![f.requester.certificate_der.clone()]
                );
                assert_eq!(message.pki_status, None);

                let envelope = message.content.as_deref().unwrap();
                let opened =
                    open_envelope(envelope, &[(&f.ra_cert, &f.ra_key)], &any_cipher).unwrap();
                assert_eq!(opened.cipher, cipher);
                assert_eq!(opened.key_transport, transport);
                assert_eq!(opened.plaintext, f.csr);

                let csr = parse_csr(&opened.plaintext).unwrap();
                assert_eq!(csr.subject, "CN=device-1,O=Example");
                assert_eq!(csr.challenge_password.as_deref(), Some(CHALLENGE));
                let sans: Vec<_> = csr
                    .sans
                    .iter()
                    .map(|s| (s.kind, s.value.as_str()))
                    .collect();
                assert_eq!(sans, [(SanKind::Dns, SANS[0]), (SanKind::Dns, SANS[1])]);
                assert_eq!((csr.key_algorithm.as_str(), csr.key_bits), ("rsa", 2048));
            }
        }
    }
}

#[test]
fn client_quirks_are_accepted() {
    let f = fixture();
    let opts = options(ContentCipher::Des, DigestAlg::Sha1, KeyTransport::Pkcs1v15);
    for quirks in [
        Quirks {
            ber: true,
            ..Quirks::default()
        },
        Quirks {
            unsorted_attributes: true,
            ..Quirks::default()
        },
        Quirks {
            signature_algorithm_with_hash: true,
            ..Quirks::default()
        },
        Quirks {
            ber: true,
            unsorted_attributes: true,
            signature_algorithm_with_hash: true,
        },
    ] {
        let (bytes, nonce) =
            client::build_request_with(&f.requester, &f.ra_cert, &f.csr, &opts, &quirks);
        if quirks.ber {
            assert_eq!(&bytes[..2], [0x30, 0x80], "indefinite length at the top");
        }
        let message = decode_pki_message(&bytes).unwrap_or_else(|e| panic!("{quirks:?}: {e}"));
        assert_eq!(message.sender_nonce, nonce);
        let opened = open_envelope(
            message.content.as_deref().unwrap(),
            &[(&f.ra_cert, &f.ra_key)],
            &any_cipher,
        )
        .unwrap();
        assert_eq!(opened.plaintext, f.csr, "{quirks:?}");
    }
}

#[test]
fn unsorted_signed_attributes_verify_over_the_bytes_received() {
    use der::{Decode, Encode};
    let f = fixture();
    let opts = options(
        ContentCipher::Aes128,
        DigestAlg::Sha256,
        KeyTransport::Pkcs1v15,
    );
    let quirks = Quirks {
        unsorted_attributes: true,
        ..Quirks::default()
    };
    let (bytes, _) = client::build_request_with(&f.requester, &f.ra_cert, &f.csr, &opts, &quirks);

    // The attributes really are out of DER order…
    let view = crate::signed_data::parse(&bytes).unwrap();
    let signed_attrs = view.signer.signed_attrs.unwrap();
    let attributes: Vec<&[u8]> = {
        let mut r = signed_attrs.children();
        std::iter::from_fn(|| (!r.is_empty()).then(|| r.next("attribute").unwrap().raw)).collect()
    };
    assert!(attributes.windows(2).any(|w| w[0] > w[1]));
    // …so a decode/re-encode with the der crate (which re-sorts) changes the signed
    // bytes: exactly the pitfall that verifying over the raw element avoids.
    let info = cms::content_info::ContentInfo::from_der(&bytes).unwrap();
    let signed: cms::signed_data::SignedData = info.content.decode_as().unwrap();
    let reencoded = signed
        .signer_infos
        .0
        .iter()
        .next()
        .unwrap()
        .signed_attrs
        .as_ref()
        .unwrap()
        .to_der()
        .unwrap();
    assert_ne!(
        reencoded,
        crate::signed_data::signed_attrs_as_set(signed_attrs)
    );

    let message = decode_pki_message(&bytes).unwrap();
    assert_eq!(message.transaction_id, opts.transaction_id);
}

#[test]
fn cert_rep_success_failure_and_pending_reach_the_client() {
    let f = fixture();
    let opts = options(
        ContentCipher::Aes256,
        DigestAlg::Sha256,
        KeyTransport::Pkcs1v15,
    );
    let (bytes, nonce) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
    let request = decode_pki_message(&bytes).unwrap();
    // Any certificate serves as "the issued one"; it must differ from the signer's.
    let issued = f.other_ra_cert.clone();

    let reply_to = |outcome: Outcome, digest: SignatureDigest| {
        let rep = CertRep {
            transaction_id: request.transaction_id.clone(),
            recipient_nonce: request.sender_nonce.clone(),
            outcome,
            digest,
        };
        let bytes = build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap();
        let reply = client::read_cert_rep(&bytes, &f.requester).unwrap();
        assert_eq!(reply.message.message_type, MessageType::CertRep);
        assert_eq!(reply.message.transaction_id, opts.transaction_id);
        assert_eq!(reply.message.recipient_nonce.as_deref(), Some(&nonce[..]));
        assert_ne!(reply.message.sender_nonce, nonce);
        assert_eq!(reply.message.sender_nonce.len(), 16);
        assert_eq!(reply.message.signer_certificate_der, f.ra_cert);
        assert_eq!(reply.message.digest, DigestAlg::from(digest));
        reply
    };
    let success = |cipher| Outcome::Success {
        issued_certificate_der: issued.clone(),
        recipient: ReplyRecipient::Certificate(request.signer_certificate_der.clone()),
        cipher,
    };

    let first = reply_to(success(ContentCipher::Aes256), SignatureDigest::Sha256);
    assert_eq!(first.message.pki_status, Some(PkiStatus::Success));
    assert_eq!(first.issued_certificates, vec![issued.clone()]);
    assert_eq!(first.cipher, Some(ContentCipher::Aes256));
    let second = reply_to(success(ContentCipher::Aes128), SignatureDigest::Sha512);
    assert_ne!(
        first.message.sender_nonce, second.message.sender_nonce,
        "fresh senderNonce"
    );
    assert_eq!(second.cipher, Some(ContentCipher::Aes128));

    // Single DES is answered with 3DES.
    let des = reply_to(success(ContentCipher::Des), SignatureDigest::Sha256);
    assert_eq!(des.cipher, Some(ContentCipher::Des3));
    assert_eq!(des.issued_certificates, vec![issued.clone()]);

    let failure = reply_to(
        Outcome::Failure {
            fail_info: FailInfo::BadRequest,
            text: Some("challenge password is wrong".into()),
        },
        SignatureDigest::Sha256,
    );
    assert_eq!(failure.message.pki_status, Some(PkiStatus::Failure));
    assert_eq!(failure.message.fail_info, Some(FailInfo::BadRequest));
    assert_eq!(
        failure.message.fail_info_text.as_deref(),
        Some("challenge password is wrong")
    );
    assert_eq!(
        failure.message.content.as_deref(),
        Some(&[][..]),
        "eContent present, empty"
    );
    assert!(failure.issued_certificates.is_empty());

    let pending = reply_to(Outcome::Pending, SignatureDigest::Sha384);
    assert_eq!(pending.message.pki_status, Some(PkiStatus::Pending));
    assert_eq!(pending.message.fail_info, None);
    assert_eq!(pending.message.fail_info_text, None);
}

#[test]
fn cert_rep_is_der_and_its_success_content_is_the_degenerate_signed_data() {
    let f = fixture();
    let rep = CertRep {
        transaction_id:
            "77777777777777777777777777777777777777777777777777777777777777777777777777777".into(),
        recipient_nonce: vec![7; 16],
        outcome: Outcome::Success {
            issued_certificate_der: f.other_ra_cert.clone(),
            recipient: ReplyRecipient::Certificate(f.requester.certificate_der.clone()),
            cipher: ContentCipher::Des3,
        },
        digest: SignatureDigest::Sha256,
    };
    let bytes = build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap();
    assert_eq!(
        crate::ber::normalize(&bytes).unwrap(),
        bytes,
        "the CertRep is DER-shaped"
    );
    // A typed DER decoder (which rejects BER) reads it.
    use der::Decode;
    cms::content_info::ContentInfo::from_der(&bytes).unwrap();
    let message = decode_pki_message(&bytes).unwrap();
    let envelope = message.content.unwrap();
    // Primitive [0] encryptedContent (PyScep needs DER).
    let parsed = crate::envelope::parse(&envelope).unwrap();
    assert!(!parsed.ciphertext.is_empty());
    cms::content_info::ContentInfo::from_der(&envelope).unwrap();
    assert_eq!(
        crate::degenerate::carried(&certs_only(std::slice::from_ref(&f.other_ra_cert)))
            .unwrap()
            .certificates,
        vec![f.other_ra_cert.clone()]
    );
}

#[test]
fn long_and_unusual_transaction_ids_are_echoed() {
    let f = fixture();
    for id in [
        "a".repeat(200),
        "base64+/=_-id with space".to_string(),
        "ünïcødé-id".to_string(),
    ] {
        let mut opts = options(
            ContentCipher::Aes128,
            DigestAlg::Sha256,
            KeyTransport::Pkcs1v15,
        );
        opts.transaction_id = id.clone();
        let (bytes, nonce) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
        let request = decode_pki_message(&bytes).unwrap();
        assert_eq!(request.transaction_id, id);
        let rep = CertRep {
            transaction_id: request.transaction_id,
            recipient_nonce: nonce,
            outcome: Outcome::Pending,
            digest: SignatureDigest::Sha256,
        };
        let reply = client::read_cert_rep(
            &build_cert_rep(&rep, &f.ra_cert, &f.ra_key).unwrap(),
            &f.requester,
        )
        .unwrap();
        assert_eq!(reply.message.transaction_id, id);
    }
}

#[test]
fn openssl_streamed_envelopes_open() {
    let key =
        sceptic_keys::RsaKey::from_pem(include_str!("../../tests/vectors/vector-key.pem")).unwrap();
    let cert = der::pem::decode_vec(include_bytes!("../../tests/vectors/vector-cert.pem"))
        .unwrap()
        .1;
    let csr = include_bytes!("../../tests/vectors/csr.der");
    for (vector, cipher, transport) in [
        (
            &include_bytes!("../../tests/vectors/enveloped-des3-indefinite.der")[..],
            ContentCipher::Des3,
            KeyTransport::Pkcs1v15,
        ),
        (
            &include_bytes!("../../tests/vectors/enveloped-aes256-oaep-indefinite.der")[..],
            ContentCipher::Aes256,
            KeyTransport::Oaep(OaepHash::Sha1),
        ),
    ] {
        let opened = open_envelope(vector, &[(&cert, &key)], &any_cipher).unwrap();
        assert_eq!(opened.plaintext, csr);
        assert_eq!((opened.cipher, opened.key_transport), (cipher, transport));
    }
}

#[test]
fn go_and_apple_shaped_encrypted_content_opens() {
    let f = fixture();
    let ra = [(&f.ra_cert[..], &f.ra_key)];
    let der = crate::envelope::seal(
        &f.csr,
        &f.ra_cert,
        ContentCipher::Des,
        KeyTransport::Pkcs1v15,
    )
    .unwrap();

    // Streamed (Apple, OpenSSL -stream): indefinite lengths, [0] of 100-byte chunks.
    let streamed = client::der_to_streamed_ber(&der);
    assert!(streamed.windows(4).any(|w| w == [0xa0, 0x80, 0x04, 0x64]));
    assert_eq!(
        open_envelope(&streamed, &ra, &any_cipher)
            .unwrap()
            .plaintext,
        f.csr
    );

    // Go's pkcs7: definite lengths, encryptedContent as [0] constructed around ONE
    // OCTET STRING, which looks exactly like an EXPLICIT tag.
    let ciphertext = crate::envelope::parse(&der).unwrap().ciphertext;
    let primitive = tlv::encode(0x80, &ciphertext);
    let go_form = tlv::constructed(0xa0, &[&tlv::octet_string(&ciphertext)]);
    let at = der
        .windows(primitive.len())
        .position(|w| w == primitive)
        .unwrap();
    let go = replace_element(&der, at, primitive.len(), &go_form);
    assert_eq!(
        crate::ber::normalize(&go).unwrap(),
        der,
        "normalised back to the DER form"
    );
    assert_eq!(
        open_envelope(&go, &ra, &any_cipher).unwrap().plaintext,
        f.csr
    );
}

/// Re-encodes `der` with the element at byte `at` (of `old_len` bytes) replaced,
/// fixing the lengths of every enclosing element.
fn replace_element(der: &[u8], at: usize, old_len: usize, replacement: &[u8]) -> Vec<u8> {
    fn rebuild(
        element: Tlv<'_>,
        base: usize,
        at: usize,
        old_len: usize,
        replacement: &[u8],
    ) -> Vec<u8> {
        let start = element.raw.as_ptr() as usize - base;
        if start == at && element.raw.len() == old_len {
            return replacement.to_vec();
        }
        if element.tag & 0x20 == 0 {
            return element.raw.to_vec();
        }
        let mut content = Vec::new();
        let mut children = element.children();
        while !children.is_empty() {
            content.extend(rebuild(
                children.next("child").unwrap(),
                base,
                at,
                old_len,
                replacement,
            ));
        }
        tlv::encode(element.tag, &content)
    }
    let top = tlv::single(der, "test input").unwrap();
    rebuild(top, der.as_ptr() as usize, at, old_len, replacement)
}
