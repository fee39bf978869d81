//! The pkcsPKIEnvelope (RFC 8894 §3.2.2): a CMS EnvelopedData (RFC 5652 §6) with
//! KeyTransRecipientInfos, or for a reply to a key that may not encrypt, a
//! PasswordRecipientInfo (RFC 8894 §3.1; see [`crate::password`]). Parsing here is
//! structural only; choosing a recipient and unwrapping the key is the caller's (server
//! and client use different keys).

use sceptic_keys::OaepHash;

use crate::algorithms::{ContentCipher, DigestAlg, KeyTransport, oaep_digest, oaep_hash};
use crate::certfields::{self, CertId};
use crate::oids;
use crate::tlv::{self, Tlv, tag};

/// One KeyTransRecipientInfo.
pub struct KeyTrans<'a> {
    pub rid: CertId<'a>,
    /// The key transport, or why it is not supported (for the error message).
    pub transport: Result<KeyTransport, String>,
    pub encrypted_key: &'a [u8],
}

/// An EnvelopedData taken apart.
pub struct Envelope<'a> {
    pub recipients: Vec<KeyTrans<'a>>,
    /// The PasswordRecipientInfos (`[3] pwri`, RFC 5652 §6.2.4), raw: they are only
    /// read by whoever holds the password ([`crate::password::open`]), so a malformed
    /// one never makes a request that also has a usable KeyTransRecipientInfo fail.
    pub passwords: Vec<Tlv<'a>>,
    /// The content cipher, or the unknown OID's dotted form.
    pub cipher: Result<ContentCipher, String>,
    pub iv: Option<&'a [u8]>,
    pub ciphertext: Vec<u8>,
}

/// Parses a (normalised, DER-shaped) ContentInfo holding an EnvelopedData.
pub fn parse(der: &[u8]) -> Result<Envelope<'_>, String> {
    let info = tlv::single(der, "pkcsPKIEnvelope")?;
    if info.tag != tag::SEQUENCE {
        return Err("pkcsPKIEnvelope: not a ContentInfo SEQUENCE".into());
    }
    let mut r = info.children();
    let content_type = r.expect(tag::OID, "pkcsPKIEnvelope: contentType")?;
    if !oids::is(content_type.value, &oids::ENVELOPED_DATA) {
        return Err(format!(
            "pkcsPKIEnvelope: content type {} is not envelopedData",
            oids::dotted(content_type.value)
        ));
    }
    let wrapper = r.expect(tag::context_constructed(0), "pkcsPKIEnvelope: content")?;
    r.finish("pkcsPKIEnvelope")?;
    let enveloped = tlv::single(wrapper.value, "EnvelopedData")?;

    let mut e = enveloped.children();
    e.expect(tag::INTEGER, "EnvelopedData: version")?;
    e.optional(tag::context_constructed(0), "EnvelopedData: originatorInfo")?;
    let recipient_infos = e.expect(tag::SET, "EnvelopedData: recipientInfos")?;
    let encrypted_content_info = e.expect(tag::SEQUENCE, "EnvelopedData: encryptedContentInfo")?;
    // unprotectedAttrs [1], if any, are ignored.

    let mut recipients = Vec::new();
    let mut passwords = Vec::new();
    let mut ri = recipient_infos.children();
    while !ri.is_empty() {
        let info = ri.next("RecipientInfo")?;
        // KeyTransRecipientInfo (a bare SEQUENCE) is what SCEP uses with RSA, and
        // PasswordRecipientInfo ([3]) what it uses for keys that cannot encrypt
        // (RFC 8894 §3.1). The other choices ([1] kari, [2] kekri, [4] ori) are skipped.
        if info.tag == tag::SEQUENCE {
            recipients.push(key_trans(info)?);
        } else if info.tag == tag::context_constructed(3) {
            passwords.push(info);
        }
    }

    let mut c = encrypted_content_info.children();
    c.expect(tag::OID, "EncryptedContentInfo: contentType")?;
    let algorithm = tlv::algorithm_id(
        c.expect(
            tag::SEQUENCE,
            "EncryptedContentInfo: contentEncryptionAlgorithm",
        )?,
        "contentEncryptionAlgorithm",
    )?;
    let cipher = ContentCipher::from_oid(algorithm.oid).ok_or_else(|| oids::dotted(algorithm.oid));
    let iv = algorithm
        .params
        .filter(|p| p.tag == tag::OCTET_STRING)
        .map(|p| p.value);
    let ciphertext = if c.is_empty() {
        Vec::new()
    } else {
        encrypted_content(c.next("EncryptedContentInfo: encryptedContent")?)?
    };
    c.finish("EncryptedContentInfo")?;
    Ok(Envelope {
        recipients,
        passwords,
        cipher,
        iv,
        ciphertext,
    })
}

/// `encryptedContent [0] IMPLICIT OCTET STRING`: primitive after normalisation, but a
/// constructed form of OCTET STRING chunks is still accepted here in case it reaches
/// this point by another road.
fn encrypted_content(element: Tlv<'_>) -> Result<Vec<u8>, String> {
    if element.tag == tag::context(0) {
        return Ok(element.value.to_vec());
    }
    if element.tag == tag::context_constructed(0) {
        let mut out = Vec::new();
        let mut chunks = element.children();
        while !chunks.is_empty() {
            out.extend_from_slice(
                chunks
                    .expect(tag::OCTET_STRING, "encryptedContent chunk")?
                    .value,
            );
        }
        return Ok(out);
    }
    Err(format!(
        "encryptedContent: unexpected tag 0x{:02x}",
        element.tag
    ))
}

fn key_trans(info: Tlv<'_>) -> Result<KeyTrans<'_>, String> {
    let mut k = info.children();
    k.expect(tag::INTEGER, "KeyTransRecipientInfo: version")?;
    let rid = CertId::read(&mut k, "KeyTransRecipientInfo: rid")?;
    let algorithm = tlv::algorithm_id(
        k.expect(
            tag::SEQUENCE,
            "KeyTransRecipientInfo: keyEncryptionAlgorithm",
        )?,
        "keyEncryptionAlgorithm",
    )?;
    let encrypted_key = k
        .expect(tag::OCTET_STRING, "KeyTransRecipientInfo: encryptedKey")?
        .value;
    k.finish("KeyTransRecipientInfo")?;
    let transport = if oids::is(algorithm.oid, &oids::RSA_ENCRYPTION) {
        Ok(KeyTransport::Pkcs1v15)
    } else if oids::is(algorithm.oid, &oids::RSAES_OAEP) {
        oaep_params(algorithm.params).map(KeyTransport::Oaep)
    } else {
        Err(format!(
            "key transport {} is not supported",
            oids::dotted(algorithm.oid)
        ))
    };
    Ok(KeyTrans {
        rid,
        transport,
        encrypted_key,
    })
}

/// RSAES-OAEP-params (RFC 4055 §4.1 / RFC 8017 appendix A.2.1): every field has a
/// default (SHA-1, MGF1 with SHA-1, empty label). The key seam supports one hash for
/// both OAEP and MGF1 and no label, which is what every client sends.
fn oaep_params(params: Option<Tlv<'_>>) -> Result<OaepHash, String> {
    let unsupported = |what: &str| Err(format!("RSA-OAEP with {what} is not supported"));
    let Some(params) = params.filter(|p| p.tag == tag::SEQUENCE) else {
        // Absent (or NULL, as some old encoders write): all defaults.
        return Ok(OaepHash::Sha1);
    };
    let mut hash = DigestAlg::Sha1;
    let mut mgf_hash = DigestAlg::Sha1;
    let mut r = params.children();
    if let Some(h) = r.optional(tag::context_constructed(0), "OAEP hashAlgorithm")? {
        let alg = tlv::algorithm_id(tlv::single(h.value, "OAEP hashAlgorithm")?, "OAEP hash")?;
        hash = DigestAlg::from_oid(alg.oid).ok_or_else(|| {
            format!(
                "RSA-OAEP with hash {} is not supported",
                oids::dotted(alg.oid)
            )
        })?;
    }
    if let Some(m) = r.optional(tag::context_constructed(1), "OAEP maskGenAlgorithm")? {
        let alg = tlv::algorithm_id(tlv::single(m.value, "OAEP maskGenAlgorithm")?, "OAEP MGF")?;
        if !oids::is(alg.oid, &oids::MGF1) {
            return unsupported(&format!("mask generation {}", oids::dotted(alg.oid)));
        }
        let Some(inner) = alg.params else {
            return unsupported("MGF1 without a hash");
        };
        let inner = tlv::algorithm_id(inner, "MGF1 hash")?;
        mgf_hash = DigestAlg::from_oid(inner.oid)
            .ok_or_else(|| format!("MGF1 hash {} is not supported", oids::dotted(inner.oid)))?;
    }
    if let Some(p) = r.optional(tag::context_constructed(2), "OAEP pSourceAlgorithm")? {
        let alg = tlv::algorithm_id(tlv::single(p.value, "OAEP pSource")?, "OAEP pSource")?;
        let empty_label = alg
            .params
            .is_none_or(|label| label.tag == tag::OCTET_STRING && label.value.is_empty());
        if !oids::is(alg.oid, &oids::P_SPECIFIED) || !empty_label {
            return unsupported("a label");
        }
    }
    r.finish("RSAES-OAEP-params")?;
    if hash != mgf_hash {
        return unsupported(&format!("hash {hash} and MGF1 hash {mgf_hash}"));
    }
    oaep_hash(hash).ok_or_else(|| format!("RSA-OAEP with hash {hash} is not supported"))
}

/// The keyEncryptionAlgorithm element for a key transport.
fn key_transport_algorithm(transport: KeyTransport) -> Vec<u8> {
    match transport {
        KeyTransport::Pkcs1v15 => tlv::algorithm(&oids::RSA_ENCRYPTION, Some(&tlv::null())),
        // RFC 4055 §4.1: the SHA-1 defaults are written as an empty SEQUENCE.
        KeyTransport::Oaep(OaepHash::Sha1) => {
            tlv::algorithm(&oids::RSAES_OAEP, Some(&tlv::sequence(&[])))
        }
        KeyTransport::Oaep(hash) => {
            let digest = tlv::algorithm(&oaep_digest(hash).oid(), None);
            let mgf = tlv::algorithm(&oids::MGF1, Some(&digest));
            let params = tlv::sequence(&[
                &tlv::constructed(tag::context_constructed(0), &[&digest]),
                &tlv::constructed(tag::context_constructed(1), &[&mgf]),
            ]);
            tlv::algorithm(&oids::RSAES_OAEP, Some(&params))
        }
    }
}

/// Encrypts `plaintext` to the key of `recipient_cert_der`: a DER ContentInfo holding
/// an EnvelopedData with one KeyTransRecipientInfo (rid = issuer and serial number).
/// Only public-key operations are involved.
pub fn seal(
    plaintext: &[u8],
    recipient_cert_der: &[u8],
    cipher: ContentCipher,
    transport: KeyTransport,
) -> Result<Vec<u8>, String> {
    let cert = certfields::parse(recipient_cert_der)
        .map_err(|e| format!("the recipient certificate is unreadable: {e}"))?;
    let public_key = crate::verify::rsa_public_key(cert.spki.raw)
        .map_err(|e| format!("the recipient certificate has {e}"))?;
    let key = cipher.random_key();
    let iv = cipher.random_iv();
    let ciphertext = cipher
        .encrypt(&key, &iv, plaintext)
        .map_err(|_| "content encryption failed".to_string())?;
    let encrypted_key = match transport {
        KeyTransport::Pkcs1v15 => public_key.pkcs1v15_encrypt(&key),
        KeyTransport::Oaep(OaepHash::Sha1) => public_key.oaep_encrypt::<sha1::Sha1>(&key),
        KeyTransport::Oaep(OaepHash::Sha256) => public_key.oaep_encrypt::<sha2::Sha256>(&key),
        KeyTransport::Oaep(OaepHash::Sha384) => public_key.oaep_encrypt::<sha2::Sha384>(&key),
        KeyTransport::Oaep(OaepHash::Sha512) => public_key.oaep_encrypt::<sha2::Sha512>(&key),
    }
    .map_err(|e| format!("key transport to the recipient failed: {e}"))?;

    let recipient = tlv::sequence(&[
        &tlv::small_integer(0), // version 0: rid is issuerAndSerialNumber (RFC 5652 §6.2.1)
        &certfields::issuer_and_serial(&cert),
        &key_transport_algorithm(transport),
        &tlv::octet_string(&encrypted_key),
    ]);
    // Version 0: no originatorInfo, only v0 KeyTransRecipientInfos (RFC 5652 §6.1).
    Ok(assemble(0, recipient, cipher, &iv, &ciphertext))
}

/// A DER ContentInfo holding an EnvelopedData with one (encoded) RecipientInfo, whose
/// content of type id-data was encrypted with `cipher` and `iv` into `ciphertext`.
/// `version` is the EnvelopedData's CMSVersion, which depends on the recipient kind
/// (RFC 5652 §6.1).
pub(crate) fn assemble(
    version: u8,
    recipient: Vec<u8>,
    cipher: ContentCipher,
    iv: &[u8],
    ciphertext: &[u8],
) -> Vec<u8> {
    let encrypted_content_info = tlv::sequence(&[
        &tlv::oid(&oids::DATA),
        &tlv::algorithm(&cipher.oid(), Some(&tlv::octet_string(iv))),
        // Primitive [0]: DER. PyScep (asn1crypto) refuses the constructed form.
        &tlv::encode(tag::context(0), ciphertext),
    ]);
    let enveloped = tlv::sequence(&[
        &tlv::small_integer(version),
        &tlv::set_of(vec![recipient]),
        &encrypted_content_info,
    ]);
    tlv::sequence(&[
        &tlv::oid(&oids::ENVELOPED_DATA),
        &tlv::constructed(tag::context_constructed(0), &[&enveloped]),
    ])
}
