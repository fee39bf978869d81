//! A leaf certificate for a PKCS#10 request: the part of a CA that decides what
//! goes into the certificate. Shared by the built-in `local-ca-issuer` and any Rust
//! issuer plugin that builds certificates itself.

use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Reader, SliceReader};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::KeyUsage;

use crate::{CertificateTemplate, key_identifier, subject_alt_name, tbs_certificate_der};

/// extensionRequest (PKCS#9, RFC 2985 §5.4.2).
const EXTENSION_REQUEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

/// What an issuer puts into every leaf certificate.
#[derive(Clone, Debug)]
pub struct LeafProfile {
    pub validity: Duration,
    /// notBefore this far before the request arrived, for clients with slow clocks.
    pub backdate: Duration,
    pub key_usage: KeyUsage,
    pub extended_key_usage: Vec<ObjectIdentifier>,
}

/// The CSR's subject (raw DER), public key and requested extensions.
fn read_csr(csr: &[u8]) -> der::Result<(Vec<u8>, SubjectPublicKeyInfoOwned, Vec<Extension>)> {
    // The subject is read raw from the CertificationRequestInfo so that it is
    // copied exactly, whatever order its attributes are in.
    let mut outer = SliceReader::new(csr)?;
    let (subject, spki) = outer.sequence(|request| {
        let info: der::asn1::AnyRef<'_> = request.decode()?;
        let mut fields = SliceReader::new(info.value())?;
        let _version: u8 = fields.decode()?;
        let subject: der::asn1::AnyRef<'_> = fields.decode()?;
        let spki: SubjectPublicKeyInfoOwned = fields.decode()?;
        let rest = request.remaining_len();
        request.drain(rest)?;
        Ok::<_, der::Error>((subject.to_der()?, spki))
    })?;
    let parsed = x509_cert::request::CertReq::from_der(csr)?;
    let mut extensions = Vec::new();
    for attribute in parsed.info.attributes.iter() {
        if attribute.oid == EXTENSION_REQUEST {
            for value in attribute.values.iter() {
                extensions.extend(value.decode_as::<Vec<Extension>>()?);
            }
        }
    }
    Ok((subject, spki, extensions))
}

impl LeafProfile {
    /// The TBSCertificate for `csr_der`, issued by the CA whose certificate is
    /// `ca_certificate_der`. The subject is kept byte for byte as requested and
    /// subjectAltName is copied from the extensionRequest; everything else comes
    /// from the profile. The caller has the CA key sign it.
    pub fn tbs_for_csr(
        &self,
        csr_der: &[u8],
        ca_certificate_der: &[u8],
        serial: Vec<u8>,
        received: SystemTime,
    ) -> Result<Vec<u8>, String> {
        let (subject, spki, requested) =
            read_csr(csr_der).map_err(|e| format!("unreadable CSR: {e}"))?;
        let ca = x509_cert::Certificate::from_der(ca_certificate_der)
            .map_err(|e| format!("unreadable CA certificate: {e}"))?;
        let issuer = ca
            .tbs_certificate()
            .subject()
            .to_der()
            .map_err(|e| format!("CA subject: {e}"))?;
        let template = CertificateTemplate {
            serial,
            issuer,
            issuer_key_id: Some(key_identifier(
                ca.tbs_certificate().subject_public_key_info(),
            )),
            subject,
            subject_public_key_info: spki,
            not_before: received - self.backdate,
            not_after: received + self.validity,
            ca: None,
            key_usage: self.key_usage,
            extended_key_usage: self.extended_key_usage.clone(),
            extra_extensions: subject_alt_name(&requested).into_iter().collect(),
        };
        tbs_certificate_der(&template).map_err(|e| format!("cannot build the certificate: {e}"))
    }
}
