//! Reading a pkiMessage (RFC 8894 §3.2) and opening its pkcsPKIEnvelope (§3.2.2).

use sceptic_keys::RsaKey;

use crate::algorithms::{ContentCipher, DigestAlg, KeyTransport};
use crate::certfields;
use crate::oids;
use crate::signed_data::{self, Attribute};
use crate::status::{FailInfo, MessageType, PkiStatus, Rejection};
use crate::tlv::{Tlv, tag};
use crate::{ber, envelope};

/// Longest transactionID accepted, in characters. RFC 8894 §3.2.1.1 sets no bound;
/// real clients send 28 (micromdm) to 77 (certmonger) characters and CLIENTS.md asks
/// for at least 100. 256 keeps log lines and database keys bounded.
pub const MAX_TRANSACTION_ID_CHARS: usize = 256;

/// Longest nonce accepted, in bytes. RFC 8894 §3.2.1.5 says 16; a little slack
/// tolerates clients that send a whole hash, without storing arbitrary blobs.
pub const MAX_NONCE_BYTES: usize = 64;

/// Longest failInfoText kept, in bytes: it is for a person to read.
pub const MAX_FAIL_INFO_TEXT_BYTES: usize = 1024;

/// A verified pkiMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiMessage {
    pub message_type: MessageType,
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    pub recipient_nonce: Option<Vec<u8>>,
    pub pki_status: Option<PkiStatus>,
    pub fail_info: Option<FailInfo>,
    pub fail_info_text: Option<String>,
    /// The SignerInfo's digest algorithm (never MD5: such messages are rejected).
    pub digest: DigestAlg,
    /// Exact DER of the signer's certificate, as carried in the message.
    pub signer_certificate_der: Vec<u8>,
    /// Every certificate carried, in message order.
    pub certificates: Vec<Vec<u8>>,
    /// eContent (the pkcsPKIEnvelope), BER-normalised when it parses as BER.
    pub content: Option<Vec<u8>>,
}

/// Why a pkiMessage was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Unusable before the transactionID and senderNonce are known: there is nobody
    /// to address a signed CertRep to, so the server answers HTTP 400 with this text.
    #[error("malformed SCEP message: {0}")]
    Malformed(String),
    /// Identified but refused: the server answers a signed CertRep FAILURE.
    #[error("SCEP message {transaction_id} rejected: {rejection}")]
    Rejected {
        transaction_id: String,
        sender_nonce: Vec<u8>,
        rejection: Rejection,
    },
}

/// Decodes and verifies a pkiMessage: BER is normalised; the signature and
/// messageDigest are checked over the bytes received (RFC 5652 §5.4); the SCEP
/// attributes of RFC 8894 §3.2.1 are read.
///
/// "The bytes received": normalisation leaves DER untouched and never reorders, so the
/// signedAttrs element walked here is the signer's own encoding, sorted or not (the
/// der crate would re-sort it on decode and break unsorted signers' signatures).
///
/// Order of checks: structure, then transactionID and senderNonce (without them the
/// answer can only be HTTP 400: [`DecodeError::Malformed`]); then algorithms (badAlg),
/// signer certificate, messageDigest and signature (badMessageCheck); then the SCEP
/// attribute values (badRequest): [`DecodeError::Rejected`].
pub fn decode_pki_message(bytes: &[u8]) -> Result<PkiMessage, DecodeError> {
    let malformed = DecodeError::Malformed;
    let der = ber::normalize(bytes).map_err(|e| malformed(format!("not BER/DER: {e}")))?;
    let view = signed_data::parse(&der).map_err(malformed)?;
    let Some(signed_attrs) = view.signer.signed_attrs else {
        return Err(malformed(
            "no signed attributes (RFC 8894 §3.2 requires them)".into(),
        ));
    };
    let attributes = signed_data::attributes(signed_attrs).map_err(malformed)?;

    // Identify the transaction first: from here on, a refusal can be a signed answer.
    let transaction_id = transaction_id(&attributes).map_err(malformed)?;
    let sender_nonce = nonce(&attributes, &oids::SCEP_SENDER_NONCE, "senderNonce")
        .map_err(malformed)?
        .ok_or_else(|| malformed("the senderNonce attribute is missing".into()))?;
    let reject = |rejection: Rejection| DecodeError::Rejected {
        transaction_id: transaction_id.clone(),
        sender_nonce: sender_nonce.clone(),
        rejection,
    };
    let bad_request = |reason: String| reject(Rejection::new(FailInfo::BadRequest, reason));

    let signer = signed_data::verify_signer(&view).map_err(reject)?;

    let message_type_text = text_attribute(&attributes, &oids::SCEP_MESSAGE_TYPE, "messageType")
        .map_err(bad_request)?
        .ok_or_else(|| bad_request("the messageType attribute is missing".into()))?;
    let message_type = MessageType::from_text(&message_type_text)
        .ok_or_else(|| bad_request(format!("unknown messageType {message_type_text:?}")))?;
    let recipient_nonce =
        nonce(&attributes, &oids::SCEP_RECIPIENT_NONCE, "recipientNonce").map_err(bad_request)?;
    let pki_status = match text_attribute(&attributes, &oids::SCEP_PKI_STATUS, "pkiStatus")
        .map_err(bad_request)?
    {
        Some(text) => Some(
            PkiStatus::from_text(&text)
                .ok_or_else(|| bad_request(format!("unknown pkiStatus {text:?}")))?,
        ),
        None => None,
    };
    let fail_info = match text_attribute(&attributes, &oids::SCEP_FAIL_INFO, "failInfo")
        .map_err(bad_request)?
    {
        Some(text) => Some(
            FailInfo::from_text(&text)
                .ok_or_else(|| bad_request(format!("unknown failInfo {text:?}")))?,
        ),
        None => None,
    };
    let fail_info_text = text_attribute(&attributes, &oids::SCEP_FAIL_INFO_TEXT, "failInfoText")
        .map_err(bad_request)?
        .map(|mut text| {
            truncate_on_char_boundary(&mut text, MAX_FAIL_INFO_TEXT_BYTES);
            text
        });

    // The envelope inside is often BER as well; normalise it for the next reader, and
    // leave it as received if it is not BER at all (open_envelope will say so).
    let content = view
        .econtent
        .map(|raw| ber::normalize(raw).unwrap_or_else(|_| raw.to_vec()));
    Ok(PkiMessage {
        message_type,
        transaction_id,
        sender_nonce,
        recipient_nonce,
        pki_status,
        fail_info,
        fail_info_text,
        digest: signer.digest,
        signer_certificate_der: signer.certificate.to_vec(),
        certificates: view.certificates.iter().map(|c| c.to_vec()).collect(),
        content,
    })
}

fn transaction_id(attributes: &[Attribute<'_>]) -> Result<String, String> {
    let text = text_attribute(attributes, &oids::SCEP_TRANSACTION_ID, "transactionID")?
        .ok_or("the transactionID attribute is missing")?;
    if text.is_empty() {
        return Err("the transactionID is empty".into());
    }
    if text.chars().count() > MAX_TRANSACTION_ID_CHARS {
        return Err(format!(
            "the transactionID is longer than {MAX_TRANSACTION_ID_CHARS} characters"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("the transactionID contains control characters".into());
    }
    Ok(text)
}

fn nonce(
    attributes: &[Attribute<'_>],
    oid: &der::asn1::ObjectIdentifier,
    name: &str,
) -> Result<Option<Vec<u8>>, String> {
    let Some(value) = signed_data::single_value(attributes, oid, name)? else {
        return Ok(None);
    };
    if value.tag != tag::OCTET_STRING {
        return Err(format!("the {name} is not an OCTET STRING"));
    }
    if value.value.is_empty() || value.value.len() > MAX_NONCE_BYTES {
        return Err(format!(
            "the {name} has {} bytes (expected 16, at most {MAX_NONCE_BYTES})",
            value.value.len()
        ));
    }
    Ok(Some(value.value.to_vec()))
}

/// A string attribute. RFC 8894 §3.2.1 says PrintableString (UTF8String for
/// failInfoText); the other common string types are accepted as well.
fn text_attribute(
    attributes: &[Attribute<'_>],
    oid: &der::asn1::ObjectIdentifier,
    name: &str,
) -> Result<Option<String>, String> {
    match signed_data::single_value(attributes, oid, name)? {
        None => Ok(None),
        Some(value) => directory_string(value)
            .map(Some)
            .ok_or_else(|| format!("the {name} attribute is not a readable string")),
    }
}

/// The text of a string element: PrintableString, IA5String, UTF8String, T61String
/// (read as Latin-1), BMPString or UniversalString.
pub(crate) fn directory_string(value: Tlv<'_>) -> Option<String> {
    match value.tag {
        tag::PRINTABLE_STRING | tag::IA5_STRING => value
            .value
            .is_ascii()
            .then(|| String::from_utf8_lossy(value.value).into_owned()),
        tag::UTF8_STRING => String::from_utf8(value.value.to_vec()).ok(),
        tag::T61_STRING => Some(value.value.iter().map(|&b| char::from(b)).collect()),
        tag::BMP_STRING => {
            if !value.value.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = value
                .value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        tag::UNIVERSAL_STRING => {
            if !value.value.len().is_multiple_of(4) {
                return None;
            }
            value
                .value
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

fn truncate_on_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// A decrypted pkcsPKIEnvelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedEnvelope {
    /// The messageData: a PKCS#10 request, IssuerAndSubject, IssuerAndSerialNumber …
    pub plaintext: Vec<u8>,
    pub cipher: ContentCipher,
    pub key_transport: KeyTransport,
}

/// The one answer to every failure that happens after the RSA operation. See
/// [`open_envelope`] for why it must not vary.
const UNDECRYPTABLE: &str = "the request's envelope could not be decrypted";

/// Opens a pkcsPKIEnvelope encrypted to one of the RA certificates in `recipients`
/// (two during an RA key rollover), with the cipher allowed by `cipher_allowed`.
///
/// Everything that can be refused without the private key is refused first, with a
/// precise reason: the structure, the content cipher (before any RSA work, so a
/// refused cipher costs nothing), the key transport and the recipient.
///
/// After the RSA operation, failures must be indistinguishable (Bleichenbacher 1998,
/// and the Marvin attack on PKCS#1 v1.5 decryption): if a client could tell "the key
/// unwrap failed" from "the content did not decrypt", the server would become a
/// decryption oracle for the RA key. So an unwrap failure, or a key of the wrong length,
/// silently continues with a random key of the right length; the content decryption
/// then fails on its padding, or on the ASN.1 check of the plaintext, and every such
/// path returns the same [`Rejection`]: badMessageCheck, "the request's envelope could
/// not be decrypted". The fallback key is drawn before the unwrap, so both paths do
/// the same work here; what timing difference remains is inside aws-lc's unwrap.
pub fn open_envelope(
    envelope: &[u8],
    recipients: &[(&[u8], &RsaKey)],
    cipher_allowed: &dyn Fn(ContentCipher) -> bool,
) -> Result<OpenedEnvelope, Rejection> {
    let bad_request = |reason: String| Rejection::new(FailInfo::BadRequest, reason);
    let der = ber::normalize(envelope)
        .map_err(|e| bad_request(format!("the pkcsPKIEnvelope is not BER/DER: {e}")))?;
    let parsed = envelope::parse(&der).map_err(bad_request)?;

    let cipher = parsed
        .cipher
        .clone()
        .map_err(|oid| Rejection::new(FailInfo::BadAlg, format!("unknown content cipher {oid}")))?;
    if !cipher_allowed(cipher) {
        return Err(Rejection::new(
            FailInfo::BadAlg,
            format!("content cipher {cipher} is not allowed by this service"),
        ));
    }
    let iv = parsed
        .iv
        .filter(|iv| iv.len() == cipher.block_len())
        .ok_or_else(|| {
            bad_request(format!(
                "the {cipher} IV is missing or not {} bytes",
                cipher.block_len()
            ))
        })?;
    // A length that is not whole blocks is visible to anyone; refusing it early
    // reveals nothing about the key.
    if parsed.ciphertext.is_empty() || parsed.ciphertext.len() % cipher.block_len() != 0 {
        return Err(bad_request(format!(
            "the encrypted content ({} bytes) is not a whole number of {cipher} blocks",
            parsed.ciphertext.len()
        )));
    }

    let ra_certs: Vec<_> = recipients
        .iter()
        .filter_map(|(cert, key)| certfields::parse(cert).ok().map(|fields| (fields, *key)))
        .collect();
    let (recipient, ra_key) = parsed
        .recipients
        .iter()
        .find_map(|r| {
            ra_certs
                .iter()
                .find(|(fields, _)| r.rid.names(fields))
                .map(|(_, key)| (r, *key))
        })
        .ok_or_else(|| {
            Rejection::new(
                FailInfo::BadMessageCheck,
                "not encrypted to this service's RA certificate",
            )
        })?;
    let key_transport = recipient
        .transport
        .clone()
        .map_err(|reason| Rejection::new(FailInfo::BadAlg, reason))?;

    // From here on, every failure is the same failure (see the doc comment).
    let fallback_key = cipher.random_key();
    let unwrapped = match key_transport {
        KeyTransport::Pkcs1v15 => ra_key.decrypt_pkcs1v15(recipient.encrypted_key),
        KeyTransport::Oaep(hash) => ra_key.decrypt_oaep(hash, recipient.encrypted_key),
    };
    let content_key = match unwrapped {
        Ok(key) if key.len() == cipher.key_len() => key,
        _ => fallback_key,
    };
    let undecryptable = || Rejection::new(FailInfo::BadMessageCheck, UNDECRYPTABLE);
    let plaintext = cipher
        .decrypt(&content_key, iv, &parsed.ciphertext)
        .map_err(|_| undecryptable())?;
    // Every SCEP messageData is one ASN.1 element (RFC 8894 §3.3). Checking it turns
    // the 1-in-256 chance that garbage from a wrong key passes the padding check into
    // the same answer as every other failure.
    if ber::normalize(&plaintext).is_err() {
        return Err(undecryptable());
    }
    Ok(OpenedEnvelope {
        plaintext,
        cipher,
        key_transport,
    })
}
