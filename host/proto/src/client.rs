//! The client side of SCEP, for tests and conformance drivers: a requester with a
//! self-signed certificate (as SCEP clients make one), PKCS#10 requests, pkiMessages
//! and the reading of CertReps.
//!
//! It is a second, independent implementation of the crypto: it uses the pure-Rust
//! `rsa` private key (not sceptic-keys), so a round trip through the server code
//! cross-checks both, and it can sign with SHA-1 like old clients. The functions panic
//! on impossible inputs (an unreadable RA certificate, an invalid subject): they are
//! test tools, not a client library.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::Encode;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sceptic_keys::OaepHash;
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::algorithms::{ContentCipher, DigestAlg, KeyTransport};
use crate::message::{PkiMessage, decode_pki_message};
use crate::signed_data::{self, AttributeOrder, Signer};
use crate::status::{MessageType, PkiStatus};
use crate::tlv::{self, Tlv, tag};
use crate::{ber, certfields, degenerate, envelope, oids, password};

/// A SCEP client's identity: its key and the certificate it signs requests with.
pub struct Requester {
    pub key: rsa::PrivateKey,
    pub certificate_der: Vec<u8>,
}

impl Requester {
    /// A fresh key and a self-signed certificate `CN=subject_cn`, as a client makes
    /// before its first enrolment (RFC 8894 §2.3).
    pub fn generate(bits: usize, subject_cn: &str) -> Self {
        let key = rsa::PrivateKey::new(&mut rand::rng(), bits).expect("RSA key generation");
        let spki = public_key_der(&key);
        let certificate_der = self_signed_certificate(&spki, &format!("CN={subject_cn}"), &|tbs| {
            key.pkcs1v15_sign::<sha2::Sha256>(tbs).expect("RSA signing")
        });
        Self {
            key,
            certificate_der,
        }
    }

    /// An existing key and certificate (for instance one issued earlier, to renew).
    pub fn with_certificate(key: rsa::PrivateKey, certificate_der: Vec<u8>) -> Self {
        Self {
            key,
            certificate_der,
        }
    }

    /// The private key as PKCS#8 PEM (to hand to openssl in tests).
    pub fn private_key_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding")
            .to_string()
    }
}

fn public_key_der(key: &rsa::PrivateKey) -> Vec<u8> {
    key.as_public_key()
        .to_public_key_der()
        .expect("SPKI encoding")
        .as_bytes()
        .to_vec()
}

/// A self-signed v3 certificate (sha256WithRSAEncryption, valid from an hour ago for
/// a year, keyUsage digitalSignature + keyEncipherment) for the key `spki_der`; `sign`
/// returns the PKCS#1 v1.5 SHA-256 signature of the bytes it is given. Works with
/// either key type, e.g. `|tbs| ra_key.sign(SignatureDigest::Sha256, tbs).unwrap()`.
pub fn self_signed_certificate(
    spki_der: &[u8],
    subject: &str,
    sign: &dyn Fn(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let name = name_der(subject);
    let mut serial = [0u8; 8];
    rand::fill(&mut serial[..]);
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive, and minimal (no leading zero)
    let now = SystemTime::now();
    let time = |t: SystemTime| {
        Time::try_from(t)
            .and_then(|t| t.to_der())
            .expect("time encoding")
    };
    let validity = tlv::sequence(&[
        &time(now - Duration::from_secs(3600)),
        &time(now + Duration::from_secs(365 * 86_400)),
    ]);
    let signature_algorithm = tlv::algorithm(&oids::SHA256_WITH_RSA, Some(&tlv::null()));
    let key_usage = tlv::sequence(&[
        &tlv::oid(&oids::KEY_USAGE),
        &[tag::BOOLEAN, 1, 0xff],
        // BIT STRING, 5 unused bits: digitalSignature (0) and keyEncipherment (2).
        &tlv::octet_string(&[tag::BIT_STRING, 2, 5, 0xa0]),
    ]);
    let tbs = tlv::sequence(&[
        &tlv::constructed(tag::context_constructed(0), &[&tlv::small_integer(2)]),
        &tlv::encode(tag::INTEGER, &serial),
        &signature_algorithm,
        &name,
        &validity,
        &name,
        spki_der,
        &tlv::constructed(
            tag::context_constructed(3),
            &[&tlv::sequence(&[&key_usage])],
        ),
    ]);
    let mut bits = vec![0u8];
    bits.extend(sign(&tbs));
    tlv::sequence(&[
        &tbs,
        &signature_algorithm,
        &tlv::encode(tag::BIT_STRING, &bits),
    ])
}

fn name_der(subject: &str) -> Vec<u8> {
    Name::from_str(subject)
        .and_then(|n| n.to_der())
        .expect("an RFC 4514 subject such as CN=x,O=y")
}

/// A PKCS#10 request for `subject` ("CN=x,O=y"), signed with SHA-256, with an optional
/// challengePassword and DNS subjectAltNames in an extensionRequest.
pub fn build_csr(
    key: &rsa::PrivateKey,
    subject: &str,
    challenge: Option<&str>,
    dns_sans: &[&str],
) -> Vec<u8> {
    let mut attributes = Vec::new();
    if let Some(challenge) = challenge {
        attributes.push(tlv::attribute(
            &oids::CHALLENGE_PASSWORD,
            &tlv::text_string(challenge),
        ));
    }
    if !dns_sans.is_empty() {
        let names: Vec<u8> = dns_sans
            .iter()
            .flat_map(|dns| tlv::encode(tag::context(2), dns.as_bytes()))
            .collect();
        let san = tlv::sequence(&[
            &tlv::oid(&oids::SUBJECT_ALT_NAME),
            &tlv::octet_string(&tlv::encode(tag::SEQUENCE, &names)),
        ]);
        attributes.push(tlv::attribute(
            &oids::EXTENSION_REQUEST,
            &tlv::sequence(&[&san]),
        ));
    }
    attributes.sort(); // DER SET OF, written as [0] IMPLICIT
    let info = tlv::sequence(&[
        &tlv::small_integer(0),
        &name_der(subject),
        &public_key_der(key),
        &tlv::encode(tag::context_constructed(0), &attributes.concat()),
    ]);
    let signature = key
        .pkcs1v15_sign::<sha2::Sha256>(&info)
        .expect("RSA signing");
    let mut bits = vec![0u8];
    bits.extend(signature);
    tlv::sequence(&[
        &info,
        &tlv::algorithm(&oids::SHA256_WITH_RSA, Some(&tlv::null())),
        &tlv::encode(tag::BIT_STRING, &bits),
    ])
}

/// A CertPoll's messageData (RFC 8894 §3.3.3): `SEQUENCE { issuer, subject }`, from
/// the DER Names of the CA and of the subject that was requested.
pub fn issuer_and_subject(issuer_der: &[u8], subject_der: &[u8]) -> Vec<u8> {
    tlv::sequence(&[issuer_der, subject_der])
}

/// A GetCert or GetCRL messageData (RFC 8894 §3.3.4): an IssuerAndSerialNumber from
/// the issuer's DER Name and the serialNumber INTEGER's content octets, exactly as in
/// the certificate (written as given, so tests can send malformed serials too).
pub fn issuer_and_serial(issuer_der: &[u8], serial_bytes: &[u8]) -> Vec<u8> {
    tlv::sequence(&[issuer_der, &tlv::encode(tag::INTEGER, serial_bytes)])
}

/// How to build a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    pub message_type: MessageType,
    pub transaction_id: String,
    /// Sha1, Sha256 or Sha512 for real requests. Md5 builds a request that only names
    /// MD5 (its digest and signature are not MD5, as this crate never computes MD5):
    /// useful solely to test that MD5 is refused.
    pub digest: DigestAlg,
    /// Any cipher, single DES included.
    pub cipher: ContentCipher,
    pub key_transport: KeyTransport,
}

/// Ways of building a request that real clients have, beyond the plain DER form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Signed attributes not in DER order (signed over those bytes).
    pub unsorted_attributes: bool,
    /// signatureAlgorithm shaNNNWithRSAEncryption instead of rsaEncryption.
    pub signature_algorithm_with_hash: bool,
    /// BER as Apple and Go clients stream it: see [`der_to_streamed_ber`]; the inner
    /// envelope is BER too.
    pub ber: bool,
}

/// A pkiMessage carrying `inner` (a CSR, IssuerAndSubject …) encrypted to the RA,
/// signed with the requester's certificate. Returns the DER message and its
/// senderNonce.
pub fn build_request(
    requester: &Requester,
    ra_cert_der: &[u8],
    inner: &[u8],
    opts: &RequestOptions,
) -> (Vec<u8>, Vec<u8>) {
    build_request_with(requester, ra_cert_der, inner, opts, &Quirks::default())
}

/// [`build_request`] with quirks.
pub fn build_request_with(
    requester: &Requester,
    ra_cert_der: &[u8],
    inner: &[u8],
    opts: &RequestOptions,
    quirks: &Quirks,
) -> (Vec<u8>, Vec<u8>) {
    let mut envelope = envelope::seal(inner, ra_cert_der, opts.cipher, opts.key_transport)
        .expect("an RSA RA certificate");
    if quirks.ber {
        envelope = der_to_streamed_ber(&envelope);
    }
    let mut sender_nonce = vec![0u8; 16];
    rand::fill(&mut sender_nonce[..]);
    let attributes = vec![
        tlv::attribute(
            &oids::SCEP_MESSAGE_TYPE,
            &tlv::text_string(&opts.message_type.code().to_string()),
        ),
        tlv::attribute(
            &oids::SCEP_TRANSACTION_ID,
            &tlv::text_string(&opts.transaction_id),
        ),
        tlv::attribute(&oids::SCEP_SENDER_NONCE, &tlv::octet_string(&sender_nonce)),
    ];
    // Md5 (a test of refusal only): a placeholder digest, see RequestOptions::digest.
    let message_digest = opts.digest.digest(&envelope).unwrap_or_else(|| vec![0; 16]);
    let signature_algorithm = match (quirks.signature_algorithm_with_hash, opts.digest) {
        (false, _) => oids::RSA_ENCRYPTION,
        (true, DigestAlg::Md5) => oids::MD5_WITH_RSA,
        (true, DigestAlg::Sha1) => oids::SHA1_WITH_RSA,
        (true, DigestAlg::Sha224) => oids::SHA224_WITH_RSA,
        (true, DigestAlg::Sha256) => oids::SHA256_WITH_RSA,
        (true, DigestAlg::Sha384) => oids::SHA384_WITH_RSA,
        (true, DigestAlg::Sha512) => oids::SHA512_WITH_RSA,
    };
    let signer = Signer {
        certificate_der: &requester.certificate_der,
        digest: opts.digest,
        signature_algorithm,
    };
    let order = if quirks.unsorted_attributes {
        AttributeOrder::Unsorted
    } else {
        AttributeOrder::Sorted
    };
    let key = &requester.key;
    let digest = opts.digest;
    let message = signed_data::assemble(
        Some(&envelope),
        attributes,
        &message_digest,
        order,
        &signer,
        &|signed| {
            match digest {
                DigestAlg::Sha1 => key.pkcs1v15_sign::<sha1::Sha1>(signed),
                DigestAlg::Sha224 => key.pkcs1v15_sign::<sha2::Sha224>(signed),
                DigestAlg::Md5 | DigestAlg::Sha256 => key.pkcs1v15_sign::<sha2::Sha256>(signed),
                DigestAlg::Sha384 => key.pkcs1v15_sign::<sha2::Sha384>(signed),
                DigestAlg::Sha512 => key.pkcs1v15_sign::<sha2::Sha512>(signed),
            }
            .map_err(|e| e.to_string())
        },
    )
    .expect("a readable requester certificate");
    let message = if quirks.ber {
        der_to_streamed_ber(&message)
    } else {
        message
    };
    (message, sender_nonce)
}

/// A CertRep as the requester sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub message: PkiMessage,
    /// The certificates of the decrypted degenerate SignedData (SUCCESS only).
    pub issued_certificates: Vec<Vec<u8>>,
    /// Its CRLs: the answer to a GetCRL (RFC 8894 §3.3.2.1 Table 6).
    pub crls: Vec<Vec<u8>>,
    pub cipher: Option<ContentCipher>,
}

/// Reads a CertRep: verifies it like a server verifies a request, and for a SUCCESS
/// decrypts the envelope with the requester's key and lists the certificates and
/// CRLs inside.
pub fn read_cert_rep(bytes: &[u8], requester: &Requester) -> Result<Reply, String> {
    read(bytes, &|envelope| open_as_requester(envelope, requester))
}

/// [`read_cert_rep`] for a SUCCESS whose envelope is encrypted to the shared secret
/// (a PasswordRecipientInfo, RFC 8894 §3.1): `password` is the challengePassword the
/// request carried.
pub fn read_cert_rep_with_password(bytes: &[u8], password: &[u8]) -> Result<Reply, String> {
    read(bytes, &|envelope| open_with_password(envelope, password))
}

/// Decrypts a pkcsPKIEnvelope (BER or DER) through its PasswordRecipientInfo (RFC 5652
/// §6.2.4): PBKDF2 from `password`, then the RFC 3211 §2.3.2 unwrap with its check
/// bytes. Returns the content and its cipher; a wrong password is an `Err`.
pub fn open_with_password(
    envelope_bytes: &[u8],
    password: &[u8],
) -> Result<(Vec<u8>, ContentCipher), String> {
    let der = ber::normalize(envelope_bytes).map_err(|e| e.to_string())?;
    password::open(&envelope::parse(&der)?, password)
}

type Opener<'a> = dyn Fn(&[u8]) -> Result<(Vec<u8>, ContentCipher), String> + 'a;

fn read(bytes: &[u8], open: &Opener<'_>) -> Result<Reply, String> {
    let message = decode_pki_message(bytes).map_err(|e| e.to_string())?;
    if message.message_type != MessageType::CertRep {
        return Err(format!("expected a CertRep, got {}", message.message_type));
    }
    let mut reply = Reply {
        message,
        issued_certificates: Vec::new(),
        crls: Vec::new(),
        cipher: None,
    };
    if reply.message.pki_status == Some(PkiStatus::Success) {
        let content = reply
            .message
            .content
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or("a SUCCESS CertRep without a pkcsPKIEnvelope")?;
        let (plaintext, cipher) = open(content)?;
        let degenerate = ber::normalize(&plaintext).map_err(|e| e.to_string())?;
        let carried = degenerate::carried(&degenerate)?;
        reply.issued_certificates = carried.certificates;
        reply.crls = carried.crls;
        reply.cipher = Some(cipher);
    }
    Ok(reply)
}

fn open_as_requester(
    envelope_bytes: &[u8],
    requester: &Requester,
) -> Result<(Vec<u8>, ContentCipher), String> {
    let der = ber::normalize(envelope_bytes).map_err(|e| e.to_string())?;
    let parsed = envelope::parse(&der)?;
    let own = certfields::parse(&requester.certificate_der)?;
    let recipient = parsed.recipients.iter().find(|r| r.rid.names(&own)).ok_or(
        if parsed.passwords.is_empty() {
            "the reply is not encrypted to the requester's certificate"
        } else {
            "the reply is encrypted to a password, not to the requester's certificate"
        },
    )?;
    let cipher = parsed
        .cipher
        .clone()
        .map_err(|oid| format!("unknown content cipher {oid}"))?;
    let key = &requester.key;
    let encrypted = recipient.encrypted_key;
    let content_key = match recipient.transport.clone()? {
        KeyTransport::Pkcs1v15 => key.pkcs1v15_decrypt(encrypted),
        KeyTransport::Oaep(OaepHash::Sha1) => key.oaep_decrypt::<sha1::Sha1>(encrypted),
        KeyTransport::Oaep(OaepHash::Sha256) => key.oaep_decrypt::<sha2::Sha256>(encrypted),
        KeyTransport::Oaep(OaepHash::Sha384) => key.oaep_decrypt::<sha2::Sha384>(encrypted),
        KeyTransport::Oaep(OaepHash::Sha512) => key.oaep_decrypt::<sha2::Sha512>(encrypted),
    }
    .map_err(|e| format!("the content key does not decrypt: {e}"))?;
    let iv = parsed.iv.ok_or("the envelope has no IV")?;
    let plaintext = cipher
        .decrypt(&content_key, iv, &parsed.ciphertext)
        .map_err(|_| "the content does not decrypt".to_string())?;
    Ok((plaintext, cipher))
}

/// Chunk size of OCTET STRINGs in [`der_to_streamed_ber`]: small, so that even short
/// contents are split into several chunks.
pub const BER_CHUNK_BYTES: usize = 100;

/// Re-encodes DER as a streaming BER encoder (Apple's, Go's) would: every constructed
/// element with indefinite length, OCTET STRINGs longer than [`BER_CHUNK_BYTES`] as
/// constructed chunks, and EncryptedContentInfo's primitive `[0]` as a constructed
/// `[0]` of OCTET STRING chunks. Input that is not DER is returned unchanged.
pub fn der_to_streamed_ber(der: &[u8]) -> Vec<u8> {
    let Ok(top) = tlv::single(der, "DER input") else {
        return der.to_vec();
    };
    let mut out = Vec::with_capacity(der.len() + der.len() / 8);
    match streamed(top, false, 0, &mut out) {
        Ok(()) => out,
        Err(_) => der.to_vec(),
    }
}

fn streamed(
    element: Tlv<'_>,
    encrypted_content_slot: bool,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if depth > ber::MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    let chunked = |outer: u8, value: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(&[outer, 0x80]);
        for chunk in value.chunks(BER_CHUNK_BYTES) {
            out.extend(tlv::encode(tag::OCTET_STRING, chunk));
        }
        out.extend_from_slice(&[0, 0]);
    };
    if element.tag & 0x20 != 0 {
        out.extend_from_slice(&[element.tag, 0x80]);
        let mut children = element.children();
        let mut seen: Vec<u8> = Vec::new();
        while !children.is_empty() {
            let child = children.next("DER child")?;
            let slot = element.tag == tag::SEQUENCE && seen == [tag::OID, tag::SEQUENCE];
            streamed(child, slot, depth + 1, out)?;
            seen.push(child.tag);
        }
        out.extend_from_slice(&[0, 0]);
    } else if element.tag == tag::OCTET_STRING && element.value.len() > BER_CHUNK_BYTES {
        chunked(0x24, element.value, out);
    } else if encrypted_content_slot && element.tag == tag::context(0) {
        chunked(tag::context_constructed(0), element.value, out);
    } else {
        out.extend_from_slice(element.raw);
    }
    Ok(())
}
