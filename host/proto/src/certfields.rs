//! The fields of an X.509 certificate as raw slices of its encoding.
//!
//! CMS names certificates by issuer and serial number or by subject key identifier
//! (RFC 5652 §5.3, §6.2.1); comparing the raw encodings is exact, where re-encoding a
//! decoded Name is not (multi-valued RDNs get re-sorted).

use crate::oids;
use crate::tlv::{self, Reader, Tlv, tag};

/// Raw pieces of a certificate (RFC 5280 §4.1).
pub struct CertFields<'a> {
    pub tbs: Tlv<'a>,
    /// The serial number INTEGER element (tag included).
    pub serial: Tlv<'a>,
    /// The issuer Name element.
    pub issuer: Tlv<'a>,
    pub validity: Tlv<'a>,
    /// The subject Name element.
    pub subject: Tlv<'a>,
    /// The SubjectPublicKeyInfo element.
    pub spki: Tlv<'a>,
    /// The `Extensions` SEQUENCE inside `[3]`, if any.
    pub extensions: Option<Tlv<'a>>,
    pub signature_algorithm: Tlv<'a>,
    /// The signature BIT STRING element.
    pub signature: Tlv<'a>,
}

pub fn parse(der: &[u8]) -> Result<CertFields<'_>, String> {
    let cert = tlv::single(der, "certificate")?;
    if cert.tag != tag::SEQUENCE {
        return Err("certificate: not a SEQUENCE".into());
    }
    let mut r = cert.children();
    let tbs = r.expect(tag::SEQUENCE, "certificate: tbsCertificate")?;
    let signature_algorithm = r.expect(tag::SEQUENCE, "certificate: signatureAlgorithm")?;
    let signature = r.expect(tag::BIT_STRING, "certificate: signature")?;
    r.finish("certificate")?;

    let mut t = tbs.children();
    t.optional(tag::context_constructed(0), "certificate: version")?;
    let serial = t.expect(tag::INTEGER, "certificate: serialNumber")?;
    t.expect(tag::SEQUENCE, "certificate: signature")?;
    let issuer = t.expect(tag::SEQUENCE, "certificate: issuer")?;
    let validity = t.expect(tag::SEQUENCE, "certificate: validity")?;
    let subject = t.expect(tag::SEQUENCE, "certificate: subject")?;
    let spki = t.expect(tag::SEQUENCE, "certificate: subjectPublicKeyInfo")?;
    t.optional(tag::context(1), "certificate: issuerUniqueID")?;
    t.optional(tag::context(2), "certificate: subjectUniqueID")?;
    let extensions = match t.optional(tag::context_constructed(3), "certificate: extensions")? {
        Some(wrapper) => Some(tlv::single(wrapper.value, "certificate: extensions")?),
        None => None,
    };
    t.finish("tbsCertificate")?;
    Ok(CertFields {
        tbs,
        serial,
        issuer,
        validity,
        subject,
        spki,
        extensions,
        signature_algorithm,
        signature,
    })
}

impl<'a> CertFields<'a> {
    /// The extnValue octets of the extension `oid`, with its critical flag.
    pub fn extension(&self, oid: &der::asn1::ObjectIdentifier) -> Option<(bool, &'a [u8])> {
        let extensions = self.extensions?;
        let mut r = extensions.children();
        while !r.is_empty() {
            let ext = r.next("extension").ok()?;
            let mut e = ext.children();
            let id = e.expect(tag::OID, "extnID").ok()?;
            let critical = match e.optional(tag::BOOLEAN, "critical").ok()? {
                Some(flag) => flag.value.first().is_some_and(|&b| b != 0),
                None => false,
            };
            let value = e.expect(tag::OCTET_STRING, "extnValue").ok()?;
            if oids::is(id.value, oid) {
                return Some((critical, value.value));
            }
        }
        None
    }

    /// The subjectKeyIdentifier extension's key identifier.
    pub fn subject_key_identifier(&self) -> Option<&'a [u8]> {
        let (_, value) = self.extension(&oids::SUBJECT_KEY_IDENTIFIER)?;
        let key_id = tlv::single(value, "subjectKeyIdentifier").ok()?;
        (key_id.tag == tag::OCTET_STRING).then_some(key_id.value)
    }

    /// The public key BIT STRING's bytes (no unused-bits octet), as RFC 5280 §4.2.1.2
    /// method 1 hashes them for a key identifier.
    pub fn public_key_bits(&self) -> Option<&'a [u8]> {
        let mut r = self.spki.children();
        r.next("algorithm").ok()?;
        let bits = r.expect(tag::BIT_STRING, "subjectPublicKey").ok()?;
        bits.value.get(1..)
    }

    /// Whether `key_id` names this certificate: its SKI extension, or failing that the
    /// SHA-1 of its public key (what clients compute for certificates without one).
    pub fn has_key_id(&self, key_id: &[u8]) -> bool {
        if let Some(ski) = self.subject_key_identifier() {
            return ski == key_id;
        }
        use sha1::Digest;
        self.public_key_bits()
            .is_some_and(|bits| sha1::Sha1::digest(bits).as_slice() == key_id)
    }

    /// Whether an IssuerAndSerialNumber's raw parts name this certificate.
    pub fn is_issuer_serial(&self, issuer: &[u8], serial: &[u8]) -> bool {
        self.issuer.raw == issuer && self.serial.raw == serial
    }
}

/// An IssuerAndSerialNumber (RFC 5652 §10.2.4) or SubjectKeyIdentifier naming a
/// certificate in a SignerInfo `sid` or a RecipientInfo `rid`.
#[derive(Debug, Clone, Copy)]
pub enum CertId<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

impl<'a> CertId<'a> {
    /// Reads a `sid`/`rid`: a SEQUENCE, or `[0]` IMPLICIT SubjectKeyIdentifier.
    pub fn read(r: &mut Reader<'a>, what: &str) -> Result<Self, String> {
        let id = r.next(what)?;
        match id.tag {
            tag::SEQUENCE => {
                let mut parts = id.children();
                let issuer = parts.expect(tag::SEQUENCE, what)?;
                let serial = parts.expect(tag::INTEGER, what)?;
                parts.finish(what)?;
                Ok(Self::IssuerSerial {
                    issuer: issuer.raw,
                    serial: serial.raw,
                })
            }
            t if t == tag::context(0) => Ok(Self::KeyId(id.value)),
            other => Err(format!("{what}: unexpected tag 0x{other:02x}")),
        }
    }

    pub fn names(&self, cert: &CertFields<'_>) -> bool {
        match *self {
            Self::IssuerSerial { issuer, serial } => cert.is_issuer_serial(issuer, serial),
            Self::KeyId(key_id) => cert.has_key_id(key_id),
        }
    }
}

/// The IssuerAndSerialNumber element naming `cert`, from its raw fields.
pub fn issuer_and_serial(cert: &CertFields<'_>) -> Vec<u8> {
    tlv::sequence(&[cert.issuer.raw, cert.serial.raw])
}
