//! The PKCS#10 certificate request (RFC 2986) inside a PKCSReq/RenewalReq
//! (RFC 8894 §3.3.1): its subject, key, SANs and challengePassword, with the
//! self-signature checked as proof of possession of the key.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use der::Decode;
use rsa::traits::PublicKeyParts;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use crate::algorithms::DigestAlg;
use crate::message::directory_string;
use crate::oids;
use crate::status::{FailInfo, Rejection};
use crate::tlv::{self, Tlv, tag};
use crate::{ber, verify};

/// What a certificate request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrInfo {
    /// The request, BER-normalised (DER for any well-behaved client).
    pub der: Vec<u8>,
    /// The subject in RFC 4514 form (most specific RDN first).
    pub subject: String,
    pub subject_der: Vec<u8>,
    pub spki_der: Vec<u8>,
    pub sans: Vec<San>,
    /// "rsa", "ec", or the algorithm's dotted OID.
    pub key_algorithm: String,
    pub key_bits: u32,
    pub challenge_password: Option<String>,
    /// DER of the `Extensions` SEQUENCE of the extensionRequest attribute.
    pub requested_extensions_der: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SanKind {
    Dns,
    Email,
    Uri,
    Ip,
    Other,
}

impl SanKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Email => "email",
            Self::Uri => "uri",
            Self::Ip => "ip",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for SanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One subjectAltName entry, as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct San {
    pub kind: SanKind,
    pub value: String,
}

/// Reads and checks a PKCS#10 request. Unreadable input is badRequest; a signature that
/// does not verify is badMessageCheck; a key or signature algorithm this crate cannot
/// verify (EC, PSS, MD5) is badAlg.
pub fn parse_csr(input: &[u8]) -> Result<CsrInfo, Rejection> {
    let bad_request = |reason: String| Rejection::new(FailInfo::BadRequest, reason);
    let bad_alg = |reason: String| Rejection::new(FailInfo::BadAlg, reason);
    let der = ber::normalize(input)
        .map_err(|e| bad_request(format!("the certificate request is not BER/DER: {e}")))?;
    let parts = Parts::read(&der)
        .map_err(|e| bad_request(format!("the certificate request is malformed: {e}")))?;

    let subject = Name::from_der(parts.subject.raw)
        .map_err(|e| bad_request(format!("the request's subject is unreadable: {e}")))?
        .to_string();

    let key = key_description(parts.spki).map_err(bad_request)?;

    let signature_alg =
        tlv::algorithm_id(parts.signature_algorithm, "signatureAlgorithm").map_err(bad_request)?;
    let digest = match verify::signature_kind(signature_alg.oid) {
        verify::SignatureKind::RsaWith(DigestAlg::Md5) => {
            return Err(bad_alg(
                "the request is signed with MD5, which is not accepted".into(),
            ));
        }
        verify::SignatureKind::RsaWith(digest) => digest,
        verify::SignatureKind::Unsupported(name) => {
            return Err(bad_alg(format!("{name}-signed requests are not supported")));
        }
        verify::SignatureKind::Rsa | verify::SignatureKind::Unknown => {
            return Err(bad_alg(format!(
                "unknown request signature algorithm {}",
                oids::dotted(signature_alg.oid)
            )));
        }
    };
    let Some(public_key) = key.rsa.as_ref() else {
        return Err(bad_alg(format!(
            "{}-keyed requests are not supported",
            key.algorithm
        )));
    };
    let signature = verify::signature_bits(parts.signature.value)
        .ok_or_else(|| bad_request("the request's signature BIT STRING is malformed".into()))?;
    // Over the raw CertificationRequestInfo: the attributes SET is not re-sorted.
    verify::verify_pkcs1v15(public_key, digest, parts.info.raw, signature).map_err(|_| {
        Rejection::new(
            FailInfo::BadMessageCheck,
            "the request's signature does not verify with its own public key",
        )
    })?;

    let attributes = read_attributes(parts.attributes).map_err(bad_request)?;
    Ok(CsrInfo {
        subject,
        subject_der: parts.subject.raw.to_vec(),
        spki_der: parts.spki.raw.to_vec(),
        sans: attributes.sans,
        key_algorithm: key.algorithm,
        key_bits: key.bits,
        challenge_password: attributes.challenge_password,
        requested_extensions_der: attributes.extensions_der,
        der,
    })
}

struct Parts<'a> {
    info: Tlv<'a>,
    subject: Tlv<'a>,
    spki: Tlv<'a>,
    attributes: Option<Tlv<'a>>,
    signature_algorithm: Tlv<'a>,
    signature: Tlv<'a>,
}

impl<'a> Parts<'a> {
    fn read(der: &'a [u8]) -> Result<Self, String> {
        let request = tlv::single(der, "CertificationRequest")?;
        if request.tag != tag::SEQUENCE {
            return Err("not a SEQUENCE".into());
        }
        let mut r = request.children();
        let info = r.expect(tag::SEQUENCE, "certificationRequestInfo")?;
        let signature_algorithm = r.expect(tag::SEQUENCE, "signatureAlgorithm")?;
        let signature = r.expect(tag::BIT_STRING, "signature")?;
        r.finish("CertificationRequest")?;
        let mut i = info.children();
        i.expect(tag::INTEGER, "version")?;
        let subject = i.expect(tag::SEQUENCE, "subject")?;
        let spki = i.expect(tag::SEQUENCE, "subjectPKInfo")?;
        // RFC 2986 makes attributes mandatory, but some encoders omit an empty set.
        let attributes = i.optional(tag::context_constructed(0), "attributes")?;
        i.finish("certificationRequestInfo")?;
        Ok(Self {
            info,
            subject,
            spki,
            attributes,
            signature_algorithm,
            signature,
        })
    }
}

struct KeyDescription {
    algorithm: String,
    bits: u32,
    /// The key when it is RSA: the only kind whose signatures this crate checks.
    rsa: Option<rsa::PublicKey>,
}

fn key_description(spki: Tlv<'_>) -> Result<KeyDescription, String> {
    let mut r = spki.children();
    let alg = tlv::algorithm_id(r.expect(tag::SEQUENCE, "algorithm")?, "algorithm")?;
    if oids::is(alg.oid, &oids::RSA_ENCRYPTION) {
        let key = verify::rsa_public_key(spki.raw)?;
        let bits = key.n().bit_width();
        return Ok(KeyDescription {
            algorithm: "rsa".into(),
            bits,
            rsa: Some(key),
        });
    }
    if oids::is(alg.oid, &oids::EC_PUBLIC_KEY) {
        let curve = alg.params.filter(|p| p.tag == tag::OID).map(|p| p.value);
        let bits = match curve {
            Some(c) if oids::is(c, &oids::SECP256R1) => 256,
            Some(c) if oids::is(c, &oids::SECP384R1) => 384,
            Some(c) if oids::is(c, &oids::SECP521R1) => 521,
            _ => 0,
        };
        return Ok(KeyDescription {
            algorithm: "ec".into(),
            bits,
            rsa: None,
        });
    }
    Ok(KeyDescription {
        algorithm: oids::dotted(alg.oid),
        bits: 0,
        rsa: None,
    })
}

#[derive(Default)]
struct Attributes {
    challenge_password: Option<String>,
    extensions_der: Option<Vec<u8>>,
    sans: Vec<San>,
}

fn read_attributes(attributes: Option<Tlv<'_>>) -> Result<Attributes, String> {
    let mut out = Attributes::default();
    let Some(attributes) = attributes else {
        return Ok(out);
    };
    let mut r = attributes.children();
    while !r.is_empty() {
        let attribute = r.expect(tag::SEQUENCE, "request attribute")?;
        let mut a = attribute.children();
        let oid = a.expect(tag::OID, "request attribute type")?.value;
        let values = a.expect(tag::SET, "request attribute values")?;
        let first = tlv::Reader::new(values.value).next("request attribute value")?;
        if oids::is(oid, &oids::CHALLENGE_PASSWORD) {
            if out.challenge_password.is_some() {
                return Err("more than one challengePassword".into());
            }
            let text =
                directory_string(first).ok_or("the challengePassword is not a readable string")?;
            out.challenge_password = Some(text);
        } else if oids::is(oid, &oids::EXTENSION_REQUEST)
            || oids::is(oid, &oids::MS_EXTENSION_REQUEST)
        {
            if out.extensions_der.is_some() {
                return Err("more than one extensionRequest".into());
            }
            if first.tag != tag::SEQUENCE {
                return Err("the extensionRequest is not a SEQUENCE of extensions".into());
            }
            out.sans = requested_sans(first)?;
            out.extensions_der = Some(first.raw.to_vec());
        }
    }
    Ok(out)
}

fn requested_sans(extensions: Tlv<'_>) -> Result<Vec<San>, String> {
    let mut sans = Vec::new();
    let mut r = extensions.children();
    while !r.is_empty() {
        let extension = r.expect(tag::SEQUENCE, "requested extension")?;
        let mut e = extension.children();
        let oid = e.expect(tag::OID, "requested extension id")?.value;
        e.optional(tag::BOOLEAN, "requested extension critical flag")?;
        let value = e
            .expect(tag::OCTET_STRING, "requested extension value")?
            .value;
        if !oids::is(oid, &oids::SUBJECT_ALT_NAME) {
            continue;
        }
        let names = SubjectAltName::from_der(value)
            .map_err(|e| format!("the requested subjectAltName is unreadable: {e}"))?;
        sans.extend(names.0.iter().map(describe_general_name));
    }
    Ok(sans)
}

fn describe_general_name(name: &GeneralName) -> San {
    let (kind, value) = match name {
        GeneralName::DnsName(dns) => (SanKind::Dns, dns.to_string()),
        GeneralName::Rfc822Name(email) => (SanKind::Email, email.to_string()),
        GeneralName::UniformResourceIdentifier(uri) => (SanKind::Uri, uri.to_string()),
        GeneralName::IpAddress(ip) => {
            let bytes = ip.as_bytes();
            let text = if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                Ipv4Addr::from(v4).to_string()
            } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                Ipv6Addr::from(v6).to_string()
            } else {
                hex::encode(bytes)
            };
            (SanKind::Ip, text)
        }
        GeneralName::DirectoryName(dn) => (SanKind::Other, format!("dirName:{dn}")),
        GeneralName::OtherName(other) => (SanKind::Other, format!("otherName:{}", other.type_id)),
        GeneralName::RegisteredId(oid) => (SanKind::Other, format!("registeredID:{oid}")),
        GeneralName::EdiPartyName(_) => (SanKind::Other, "ediPartyName".to_string()),
    };
    San { kind, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSL_CSR: &[u8] = include_bytes!("../tests/vectors/csr.der");

    #[test]
    fn openssl_request_is_read() {
        let info = parse_csr(OPENSSL_CSR).unwrap();
        assert_eq!(info.subject, "O=Sceptic,CN=vector-csr");
        assert_eq!(info.key_algorithm, "rsa");
        assert_eq!(info.key_bits, 2048);
        assert_eq!(
            info.sans,
            vec![San {
                kind: SanKind::Dns,
                value: "vector.example".into()
            }]
        );
        assert_eq!(info.challenge_password, None);
        assert!(info.requested_extensions_der.is_some());
        assert_eq!(info.der, OPENSSL_CSR);
    }

    #[test]
    fn a_changed_byte_breaks_the_signature() {
        let mut tampered = OPENSSL_CSR.to_vec();
        let at = tampered.windows(6).position(|w| w == b"vector").unwrap();
        tampered[at] = b'V';
        assert_eq!(
            parse_csr(&tampered).unwrap_err().fail_info,
            FailInfo::BadMessageCheck
        );
        assert_eq!(
            parse_csr(b"garbage").unwrap_err().fail_info,
            FailInfo::BadRequest
        );
        assert_eq!(
            parse_csr(&OPENSSL_CSR[..100]).unwrap_err().fail_info,
            FailInfo::BadRequest
        );
    }
}
