//! A readable summary of an X.509 certificate, for the server's decisions and logs
//! (who signed a RenewalReq, what an RA certificate may be used for).

use der::Decode;
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::certfields;
use crate::oids;
use crate::status::{FailInfo, Rejection};
use crate::tlv::{self, tag};
use crate::verify::{self, SignatureKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    pub der: Vec<u8>,
    /// RFC 4514 form.
    pub subject: String,
    pub issuer: String,
    /// Lower-case hex of the serial number's magnitude (no sign octet).
    pub serial_hex: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Issuer equals subject and the signature verifies with the certificate's own key
    /// (checked for RSA only; other keys give `false`).
    pub self_signed: bool,
    pub spki_der: Vec<u8>,
    /// RFC 5280 §4.2.1.3 names of the keyUsage bits set, empty without the extension.
    pub key_usage: Vec<String>,
}

/// The names of keyUsage bits 0..=8 (RFC 5280 §4.2.1.3).
const KEY_USAGE_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

/// Describes a DER certificate; unreadable input is badRequest.
pub fn describe_certificate(der: &[u8]) -> Result<CertificateInfo, Rejection> {
    let bad = |what: &str, e: String| {
        Rejection::new(
            FailInfo::BadRequest,
            format!("the certificate's {what} is unreadable: {e}"),
        )
    };
    let fields = certfields::parse(der).map_err(|e| bad("structure", e))?;
    let subject = Name::from_der(fields.subject.raw).map_err(|e| bad("subject", e.to_string()))?;
    let issuer = Name::from_der(fields.issuer.raw).map_err(|e| bad("issuer", e.to_string()))?;

    let mut validity = fields.validity.children();
    let mut time = |what: &str| -> Result<i64, Rejection> {
        let element = validity.next(what).map_err(|e| bad("validity", e))?;
        let time = Time::from_der(element.raw).map_err(|e| bad("validity", e.to_string()))?;
        i64::try_from(time.to_unix_duration().as_secs()).map_err(|e| bad("validity", e.to_string()))
    };
    let not_before = time("notBefore")?;
    let not_after = time("notAfter")?;

    let serial = fields.serial.value;
    let magnitude = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };

    Ok(CertificateInfo {
        der: der.to_vec(),
        subject: subject.to_string(),
        issuer: issuer.to_string(),
        serial_hex: hex::encode(magnitude),
        not_before,
        not_after,
        self_signed: fields.issuer.raw == fields.subject.raw && signed_by_own_key(&fields),
        spki_der: fields.spki.raw.to_vec(),
        key_usage: key_usage(&fields),
    })
}

/// Whether `issuer_der` issued `certificate_der` (RFC 5280 §6.1.3 (a)(1) and
/// (a)(4)): the certificate names the issuer's subject as its issuer, byte for
/// byte, and its signature verifies with the issuer's public key. Validity and
/// revocation are the caller's checks. The error says which part failed.
pub fn issued_by(certificate_der: &[u8], issuer_der: &[u8]) -> Result<(), String> {
    let cert = certfields::parse(certificate_der).map_err(|e| format!("the certificate: {e}"))?;
    let issuer = certfields::parse(issuer_der).map_err(|e| format!("the issuer: {e}"))?;
    if cert.issuer.raw != issuer.subject.raw {
        return Err("its issuer name is not the anchor's subject".into());
    }
    if signed_by(&cert, issuer.spki.raw) {
        Ok(())
    } else {
        Err("its signature does not verify with the anchor's key".into())
    }
}

fn signed_by_own_key(fields: &certfields::CertFields<'_>) -> bool {
    signed_by(fields, fields.spki.raw)
}

/// An RSA PKCS#1 v1.5 signature of the TBSCertificate by the key `spki_der`.
fn signed_by(fields: &certfields::CertFields<'_>, spki_der: &[u8]) -> bool {
    let Ok(algorithm) = tlv::algorithm_id(fields.signature_algorithm, "signatureAlgorithm") else {
        return false;
    };
    let SignatureKind::RsaWith(digest) = verify::signature_kind(algorithm.oid) else {
        return false;
    };
    let (Ok(key), Some(signature)) = (
        verify::rsa_public_key(spki_der),
        verify::signature_bits(fields.signature.value),
    ) else {
        return false;
    };
    verify::verify_pkcs1v15(&key, digest, fields.tbs.raw, signature).is_ok()
}

fn key_usage(fields: &certfields::CertFields<'_>) -> Vec<String> {
    let Some((_, value)) = fields.extension(&oids::KEY_USAGE) else {
        return Vec::new();
    };
    let Ok(bits) = tlv::single(value, "keyUsage") else {
        return Vec::new();
    };
    if bits.tag != tag::BIT_STRING {
        return Vec::new();
    }
    let data = bits.value.get(1..).unwrap_or_default();
    KEY_USAGE_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| {
            data.get(bit / 8)
                .is_some_and(|byte| byte & (0x80 >> (bit % 8)) != 0)
        })
        .map(|(_, name)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_cert() -> Vec<u8> {
        let pem = include_str!("../tests/vectors/vector-cert.pem");
        der::pem::decode_vec(pem.as_bytes()).unwrap().1
    }

    #[test]
    fn openssl_self_signed_certificate_is_described() {
        let info = describe_certificate(&vector_cert()).unwrap();
        assert_eq!(info.subject, "CN=ber-vector");
        assert_eq!(info.issuer, "CN=ber-vector");
        assert!(info.self_signed);
        assert!(info.not_after > info.not_before + 365 * 86_400);
        assert_eq!(info.serial_hex.len(), 40);
        assert!(info.key_usage.is_empty()); // openssl req -x509 sets no keyUsage
    }

    #[test]
    fn a_broken_signature_is_not_self_signed() {
        let mut der = vector_cert();
        let last = der.len() - 1;
        der[last] ^= 1;
        let info = describe_certificate(&der).unwrap();
        assert!(!info.self_signed);
        assert!(describe_certificate(&der[..50]).is_err());
    }
}
