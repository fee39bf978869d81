//! Builds X.509 TBSCertificates and TBSCertLists, and assembles signed certificates
//! and CRLs.
//!
//! The split between "build the TBSCertificate" and "sign it" is the point: an issuer
//! plugin (the built-in `local-ca-issuer`, compiled to WebAssembly) decides what goes
//! into a certificate, and the host, which alone holds the CA key, signs the bytes.
//! The same code builds the CA and RA certificates at `sceptic init`, so there is one
//! certificate profile implementation, not two. No I/O and no key material here; the
//! crate compiles for `wasm32-wasip2` as well as for the host.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use der::asn1::{BitString, Null, OctetString};
use der::{Decode, Encode, Sequence};
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::Version;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

pub use x509_cert;

mod leaf;
pub use leaf::LeafProfile;

mod crl;

pub use crl::{CrlReason, CrlTemplate, RevokedEntry, assemble_crl, tbs_cert_list_der};

/// sha256WithRSAEncryption (RFC 4055), the signature algorithm of every certificate
/// this crate builds: the host's CA keys are RSA and aws-lc-rs signs with SHA-256.
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// The TBSCertificate as RFC 5280 §4.1 writes it. Our own mirror of the type, because
/// x509-cert 0.3 keeps its fields private and its builder insists on owning the signer.
#[derive(Clone, Debug, Sequence)]
struct Tbs {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: Version,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    // Names travel as raw DER: decoding a Name re-sorts multi-valued RDNs, and the
    // subject must stay exactly as the CSR asked and the issuer exactly as the CA's
    // certificate spells it.
    issuer: der::Any,
    validity: Validity,
    subject: der::Any,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

/// Everything that goes into one certificate.
#[derive(Clone, Debug)]
pub struct CertificateTemplate {
    /// DER INTEGER contents of a positive serial number.
    pub serial: Vec<u8>,
    /// DER Name of the issuer, exactly as in the issuer's certificate.
    pub issuer: Vec<u8>,
    /// The issuer's subjectKeyIdentifier, copied into authorityKeyIdentifier.
    /// `None` for a self-signed certificate, which uses its own.
    pub issuer_key_id: Option<Vec<u8>>,
    /// DER Name of the subject, exactly as requested.
    pub subject: Vec<u8>,
    pub subject_public_key_info: SubjectPublicKeyInfoOwned,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// `Some(path_len)` makes a CA certificate.
    pub ca: Option<Option<u8>>,
    pub key_usage: KeyUsage,
    pub extended_key_usage: Vec<ObjectIdentifier>,
    /// Further extensions copied as they are (e.g. subjectAltName from a CSR).
    pub extra_extensions: Vec<Extension>,
}

/// The AlgorithmIdentifier for sha256WithRSAEncryption, with the NULL parameter
/// RFC 4055 §5 requires.
pub fn sha256_with_rsa() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: SHA256_WITH_RSA,
        parameters: Some(der::Any::from(Null)),
    }
}

/// The RFC 5280 §4.2.1.2 method (1) key identifier: SHA-1 of the subjectPublicKey bits.
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

/// A Time for a moment, UTCTime before 2050 and GeneralizedTime after (RFC 5280 §4.1.2.5).
pub fn time_at(moment: SystemTime) -> der::Result<Time> {
    // Certificates carry whole seconds.
    let secs = moment
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Time::try_from(UNIX_EPOCH + Duration::from_secs(secs))
}

fn extension<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
) -> der::Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// DER of the TBSCertificate described by `template`, signed with sha256WithRSA.
pub fn tbs_certificate_der(template: &CertificateTemplate) -> der::Result<Vec<u8>> {
    let spki = &template.subject_public_key_info;
    let own_key_id = key_identifier(spki);
    let authority_key_id = template
        .issuer_key_id
        .clone()
        .unwrap_or_else(|| own_key_id.clone());

    let mut extensions = Vec::new();
    let basic = BasicConstraints {
        ca: template.ca.is_some(),
        path_len_constraint: template.ca.flatten(),
    };
    extensions.push(extension(oids::ID_CE_BASIC_CONSTRAINTS, true, &basic)?);
    extensions.push(extension(oids::ID_CE_KEY_USAGE, true, &template.key_usage)?);
    if !template.extended_key_usage.is_empty() {
        let eku = ExtendedKeyUsage(template.extended_key_usage.clone());
        extensions.push(extension(oids::ID_CE_EXT_KEY_USAGE, false, &eku)?);
    }
    let ski = SubjectKeyIdentifier(OctetString::new(own_key_id)?);
    extensions.push(extension(oids::ID_CE_SUBJECT_KEY_IDENTIFIER, false, &ski)?);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(authority_key_id)?),
        ..Default::default()
    };
    extensions.push(extension(
        oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &aki,
    )?);
    for extra in &template.extra_extensions {
        // The profile's own extensions win over anything a request asked for.
        if !extensions.iter().any(|e| e.extn_id == extra.extn_id) {
            extensions.push(extra.clone());
        }
    }

    let tbs = Tbs {
        version: Version::V3,
        serial_number: SerialNumber::new(&template.serial)?,
        signature: sha256_with_rsa(),
        issuer: der::Any::from_der(&template.issuer)?,
        validity: Validity::new(time_at(template.not_before)?, time_at(template.not_after)?),
        subject: der::Any::from_der(&template.subject)?,
        subject_public_key_info: spki.clone(),
        extensions: Some(extensions),
    };
    tbs.to_der()
}

/// The DER Certificate made of `tbs_der` (kept byte for byte), its algorithm and the
/// signature over it.
pub fn assemble_certificate(
    tbs_der: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &[u8],
) -> der::Result<Vec<u8>> {
    signed_structure(tbs_der, algorithm, signature)
}

/// `SEQUENCE { tbs, signatureAlgorithm, signatureValue BIT STRING }`: the shape of both
/// a Certificate (RFC 5280 §4.1) and a CertificateList (§5.1). The TBS part is copied,
/// not re-encoded, because the signature covers exactly those bytes.
fn signed_structure(
    tbs_der: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &[u8],
) -> der::Result<Vec<u8>> {
    let tbs = der::asn1::AnyRef::from_der(tbs_der)?;
    let algorithm = algorithm.to_der()?;
    let algorithm = der::asn1::AnyRef::from_der(&algorithm)?;
    let signature = BitString::from_bytes(signature)?;
    let body_len = (tbs.encoded_len()? + algorithm.encoded_len()? + signature.encoded_len()?)?;
    let mut out = Vec::with_capacity(usize::try_from(body_len)? + 8);
    der::Header::new(der::Tag::Sequence, body_len).encode_to_vec(&mut out)?;
    tbs.encode_to_vec(&mut out)?;
    algorithm.encode_to_vec(&mut out)?;
    signature.encode_to_vec(&mut out)?;
    Ok(out)
}

/// keyUsage from names as RFC 5280 §4.2.1.3 spells them, e.g. "digitalSignature".
pub fn key_usage_from_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<KeyUsage, String> {
    let mut usages = der::flagset::FlagSet::<KeyUsages>::default();
    for name in names {
        usages |= match name.trim() {
            "digitalSignature" => KeyUsages::DigitalSignature,
            "nonRepudiation" | "contentCommitment" => KeyUsages::NonRepudiation,
            "keyEncipherment" => KeyUsages::KeyEncipherment,
            "dataEncipherment" => KeyUsages::DataEncipherment,
            "keyAgreement" => KeyUsages::KeyAgreement,
            "keyCertSign" => KeyUsages::KeyCertSign,
            "cRLSign" => KeyUsages::CRLSign,
            other => {
                return Err(format!(
                    "unknown key usage {other:?} (use digitalSignature, nonRepudiation, \
                     keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign)"
                ));
            }
        };
    }
    Ok(KeyUsage(usages))
}

/// Extended key usages from short names ("clientAuth", "serverAuth", …) or dotted OIDs.
pub fn extended_key_usage_from_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<ObjectIdentifier>, String> {
    names
        .into_iter()
        .map(|name| match name.trim() {
            "serverAuth" => Ok(oids::ID_KP_SERVER_AUTH),
            "clientAuth" => Ok(oids::ID_KP_CLIENT_AUTH),
            "codeSigning" => Ok(oids::ID_KP_CODE_SIGNING),
            "emailProtection" => Ok(oids::ID_KP_EMAIL_PROTECTION),
            "timeStamping" => Ok(oids::ID_KP_TIME_STAMPING),
            "OCSPSigning" => Ok(oids::ID_KP_OCSP_SIGNING),
            "ipsecIKE" => Ok(ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.17")),
            dotted => ObjectIdentifier::new(dotted).map_err(|_| {
                format!(
                    "unknown extended key usage {dotted:?} (use serverAuth, clientAuth, \
                     codeSigning, emailProtection, timeStamping, OCSPSigning, ipsecIKE or a dotted OID)"
                )
            }),
        })
        .collect()
}

/// The subjectAltName extension among a CSR's requested extensions, if any.
pub fn subject_alt_name(requested: &[Extension]) -> Option<Extension> {
    requested
        .iter()
        .find(|e| e.extn_id == oids::ID_CE_SUBJECT_ALT_NAME)
        .cloned()
}

/// Bytes of random input a serial number is made from.
pub const SERIAL_RANDOM_BYTES: usize = 16;

/// A positive serial number (DER INTEGER contents) from 16 random bytes: the top
/// bit is cleared so it is positive, the next is set so it needs no leading zero
/// and keeps its full length. 126 random bits, well above the 64 that RFC 5280
/// practice and the CA/Browser Forum ask for.
pub fn serial_from_random(mut random: [u8; SERIAL_RANDOM_BYTES]) -> Vec<u8> {
    random[0] = (random[0] & 0x7f) | 0x40;
    random.to_vec()
}

/// DER of a Name given in RFC 4514 form ("CN=sceptic CA,O=Example").
pub fn name_der(rfc4514: &str) -> Result<Vec<u8>, String> {
    use std::str::FromStr;
    let name = x509_cert::name::Name::from_str(rfc4514)
        .map_err(|e| format!("{rfc4514:?} is not a distinguished name: {e}"))?;
    name.to_der().map_err(|e| e.to_string())
}
