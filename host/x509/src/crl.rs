//! Certificate revocation lists (RFC 5280 §5): the TBSCertList a CA signs, and the
//! reason codes of its entries. As with certificates, this crate only builds the bytes
//! to be signed; the holder of the CA key signs them and [`assemble_crl`] wraps the
//! result. SCEP hands the CRL out in a GetCRL CertRep (RFC 8894 §3.3.2.1, §4.6).

use std::fmt;
use std::time::SystemTime;

use const_oid::db::rfc5280 as oids;
use der::asn1::{Int, OctetString};
use der::{Decode, Encode, Enumerated, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::certificate::Version;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::AuthorityKeyIdentifier;
use x509_cert::time::Time;

use crate::{extension, sha256_with_rsa, signed_structure, time_at};

/// CRLReason (RFC 5280 §5.3.1), the value of the reasonCode entry extension.
///
/// `RemoveFromCrl` only has a meaning in delta CRLs (RFC 5280 §5.3.1); it is listed
/// because the RFC lists it, but a full CRL has no use for it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Enumerated)]
#[repr(u32)]
pub enum CrlReason {
    Unspecified = 0,
    KeyCompromise = 1,
    CaCompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    // 7 is not used (RFC 5280 §5.3.1).
    RemoveFromCrl = 8,
    PrivilegeWithdrawn = 9,
    AaCompromise = 10,
}

impl CrlReason {
    /// Every reason, in code order.
    pub const ALL: [Self; 10] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::RemoveFromCrl,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The ENUMERATED value on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The name RFC 5280 §5.3.1 gives it (what `openssl ca -crl_reason` also takes).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// A reason from its RFC 5280 name. Case is ignored, because people type
    /// "keycompromise" and "cacompromise"; an unknown name gets the list of valid ones.
    pub fn parse(name: &str) -> Result<Self, String> {
        let wanted = name.trim();
        Self::ALL
            .into_iter()
            .find(|reason| reason.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                let valid: Vec<&str> = Self::ALL.iter().map(|r| r.name()).collect();
                format!(
                    "unknown revocation reason {wanted:?} (use one of: {})",
                    valid.join(", ")
                )
            })
    }
}

impl fmt::Display for CrlReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One revoked certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// DER INTEGER contents of the certificate's serial number, exactly as in the
    /// certificate (a relying party compares the INTEGER, RFC 5280 §5.1.2.6).
    pub serial: Vec<u8>,
    pub revoked_at: SystemTime,
    /// `None` and `Some(Unspecified)` both leave the reasonCode out: RFC 5280 §5.3.1
    /// says it SHOULD be absent rather than unspecified.
    pub reason: Option<CrlReason>,
}

/// Everything that goes into one CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlTemplate {
    /// DER Name of the CA, exactly as its certificate's subject (RFC 5280 §5.1.2.3:
    /// relying parties match the CRL to the CA by this name).
    pub issuer: Vec<u8>,
    /// The CA's subjectKeyIdentifier, for authorityKeyIdentifier (RFC 5280 §5.2.1:
    /// conforming CAs MUST include it).
    pub issuer_key_id: Vec<u8>,
    pub this_update: SystemTime,
    /// RFC 5280 §5.1.2.5: conforming CAs MUST include nextUpdate.
    pub next_update: SystemTime,
    /// Monotonically increasing per CA (RFC 5280 §5.2.3).
    pub crl_number: u64,
    /// In the order given. An empty list leaves revokedCertificates out, as
    /// RFC 5280 §5.1.2.6 requires.
    pub revoked: Vec<RevokedEntry>,
}

/// TBSCertList as RFC 5280 §5.1 writes it. Our own mirror for the same reason as the
/// TBSCertificate one: the issuer Name must travel as raw DER (decoding re-sorts
/// multi-valued RDNs), and x509-cert's type holds a decoded `Name`.
#[derive(Clone, Debug, Sequence)]
struct TbsCertList {
    version: Version,
    signature: AlgorithmIdentifierOwned,
    issuer: der::Any,
    this_update: Time,
    next_update: Time,
    revoked_certificates: Option<Vec<RevokedCertificate>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    crl_extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Debug, Sequence)]
struct RevokedCertificate {
    // A signed INTEGER, not x509-cert's SerialNumber: SerialNumber re-encodes the
    // value as unsigned, which would change the bytes of a (non-conforming) negative
    // serial so that the entry no longer names the certificate.
    user_certificate: Int,
    revocation_date: Time,
    crl_entry_extensions: Option<Vec<Extension>>,
}

/// DER of the TBSCertList described by `template`: version 2, signed with
/// sha256WithRSAEncryption, with the cRLNumber and authorityKeyIdentifier CRL
/// extensions (RFC 5280 §5.2.3, §5.2.1) and a reasonCode entry extension (§5.3.1)
/// where a reason other than unspecified is given.
///
/// Fails if the issuer is not one DER element or a serial is not canonical DER
/// INTEGER contents.
pub fn tbs_cert_list_der(template: &CrlTemplate) -> der::Result<Vec<u8>> {
    let revoked = template
        .revoked
        .iter()
        .map(revoked_certificate)
        .collect::<der::Result<Vec<_>>>()?;

    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(template.issuer_key_id.clone())?),
        ..Default::default()
    };
    let crl_extensions = vec![
        // Both non-critical, as RFC 5280 §5.2.1 and §5.2.3 require.
        extension(oids::ID_CE_AUTHORITY_KEY_IDENTIFIER, false, &aki)?,
        extension(oids::ID_CE_CRL_NUMBER, false, &template.crl_number)?,
    ];

    let tbs = TbsCertList {
        // v2: extensions are present (RFC 5280 §5.1.2.1).
        version: Version::V2,
        signature: sha256_with_rsa(),
        issuer: der::Any::from_der(&template.issuer)?,
        this_update: time_at(template.this_update)?,
        next_update: time_at(template.next_update)?,
        revoked_certificates: (!revoked.is_empty()).then_some(revoked),
        crl_extensions: Some(crl_extensions),
    };
    tbs.to_der()
}

fn revoked_certificate(entry: &RevokedEntry) -> der::Result<RevokedCertificate> {
    // Decoding a whole INTEGER element checks that the contents are canonical DER,
    // so what is written is exactly what the certificate carries.
    let mut integer = Vec::with_capacity(entry.serial.len() + 4);
    der::Header::new(
        der::Tag::Integer,
        der::Length::try_from(entry.serial.len())?,
    )
    .encode_to_vec(&mut integer)?;
    integer.extend_from_slice(&entry.serial);
    let user_certificate = Int::from_der(&integer)?;

    let crl_entry_extensions = match entry.reason {
        None | Some(CrlReason::Unspecified) => None,
        Some(reason) => Some(vec![extension(oids::ID_CE_CRL_REASONS, false, &reason)?]),
    };
    Ok(RevokedCertificate {
        user_certificate,
        revocation_date: time_at(entry.revoked_at)?,
        crl_entry_extensions,
    })
}

/// The DER CertificateList made of `tbs_der` (kept byte for byte), its algorithm and
/// the signature over it (RFC 5280 §5.1: the same shape as a Certificate).
pub fn assemble_crl(
    tbs_der: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &[u8],
) -> der::Result<Vec<u8>> {
    signed_structure(tbs_der, algorithm, signature)
}

#[cfg(test)]
#[path = "crl_tests.rs"]
mod tests;
