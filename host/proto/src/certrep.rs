//! Building the CertRep answer (RFC 8894 §3.3.2).

use std::fmt;

use sceptic_keys::{RsaKey, SignatureDigest};

use crate::algorithms::{ContentCipher, DigestAlg, KeyTransport};
use crate::signed_data::{self, AttributeOrder, Signer};
use crate::status::{FailInfo, MessageType, PkiStatus};
use crate::tlv::{self, tag};
use crate::{degenerate, envelope, oids, password};

/// Length of the fresh senderNonce (RFC 8894 §3.2.1.5: a 16-byte random number).
pub const SENDER_NONCE_BYTES: usize = 16;

/// What the answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The certificate was issued (§3.3.2.1): the answer to PKCSReq, RenewalReq and
    /// CertPoll, and to GetCert with the requested certificate (Table 6).
    Success {
        issued_certificate_der: Vec<u8>,
        /// Whom the pkcsPKIEnvelope is encrypted to.
        recipient: ReplyRecipient,
        /// The request's cipher; single DES is answered with 3DES (CLIENTS.md).
        cipher: ContentCipher,
    },
    /// The answer to GetCRL (§3.3.2.1 Table 6, §4.6.1): a SUCCESS whose degenerate
    /// SignedData holds the CRL in its `crls` field and has no certificates.
    Crl {
        crl_der: Vec<u8>,
        /// As for [`Outcome::Success`] (for a certificate: the GetCRL signer's).
        recipient: ReplyRecipient,
        cipher: ContentCipher,
    },
    /// Refused (§3.3.2.2), with an optional failInfoText for the person at the client.
    Failure {
        fail_info: FailInfo,
        text: Option<String>,
    },
    /// Waiting for manual approval (§3.3.2.3).
    Pending,
}

/// Whom the pkcsPKIEnvelope of a SUCCESS is encrypted to (RFC 8894 §3.1).
#[derive(Clone, PartialEq, Eq)]
pub enum ReplyRecipient {
    /// The requester's signer certificate (DER): the envelope is encrypted to its RSA
    /// key (KeyTransRecipientInfo, RSAES-PKCS1-v1_5) and names it by issuer and serial
    /// number.
    Certificate(Vec<u8>),
    /// The shared secret, for a requester whose certificate does not allow
    /// keyEncipherment: a PasswordRecipientInfo (RFC 5652 §6.2.4) with a PBKDF2 KEK
    /// and the RFC 3211 key wrap under `kek` (single DES is written as 3DES).
    Password {
        /// The challengePassword's bytes (UTF-8), never empty. Not shown by `Debug`.
        password: Vec<u8>,
        kek: ContentCipher,
    },
}

impl fmt::Debug for ReplyRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate(der) => f
                .debug_tuple("Certificate")
                .field(&format_args!("{} bytes", der.len()))
                .finish(),
            // The password is a secret that authorises enrolment: it must not reach a log.
            Self::Password { kek, .. } => f
                .debug_struct("Password")
                .field("password", &format_args!("<redacted>"))
                .field("kek", kek)
                .finish(),
        }
    }
}

/// A CertRep to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRep {
    /// Copied from the request (§3.2.1.1).
    pub transaction_id: String,
    /// The request's senderNonce (§3.2.1.5).
    pub recipient_nonce: Vec<u8>,
    pub outcome: Outcome,
    /// Digest of the RA's signature.
    pub digest: SignatureDigest,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("cannot encrypt the reply's content to the requester: {0}")]
    Envelope(String),
    #[error("cannot sign the CertRep: {0}")]
    Sign(String),
}

/// Builds the DER pkiMessage answering a request, signed by the RA.
///
/// Signed attributes (§3.2.1, §3.3.2): contentType and messageDigest (CMS),
/// messageType 3, pkiStatus, failInfo and failInfoText for a FAILURE, the request's
/// transactionID, a fresh senderNonce and the request's senderNonce as recipientNonce.
/// A FAILURE or PENDING carries no pkcsPKIEnvelope: the eContent is present but empty,
/// and messageDigest is the digest of the empty string (as micromdm and certmonger
/// expect).
pub fn build_cert_rep(
    rep: &CertRep,
    ra_cert_der: &[u8],
    ra_key: &RsaKey,
) -> Result<Vec<u8>, BuildError> {
    let (status, content) = match &rep.outcome {
        Outcome::Success {
            issued_certificate_der,
            recipient,
            cipher,
        } => {
            let degenerate = certs_only(std::slice::from_ref(issued_certificate_der));
            let envelope = seal(&degenerate, recipient, *cipher)?;
            (PkiStatus::Success, envelope)
        }
        Outcome::Crl {
            crl_der,
            recipient,
            cipher,
        } => {
            let degenerate = crls_only(std::slice::from_ref(crl_der));
            let envelope = seal(&degenerate, recipient, *cipher)?;
            (PkiStatus::Success, envelope)
        }
        Outcome::Failure { .. } => (PkiStatus::Failure, Vec::new()),
        Outcome::Pending => (PkiStatus::Pending, Vec::new()),
    };

    let mut sender_nonce = [0u8; SENDER_NONCE_BYTES];
    rand::fill(&mut sender_nonce[..]);
    let mut attributes = vec![
        printable(
            &oids::SCEP_MESSAGE_TYPE,
            &MessageType::CertRep.code().to_string(),
        ),
        printable(&oids::SCEP_PKI_STATUS, status.code()),
        transaction_id_attribute(&rep.transaction_id),
        tlv::attribute(&oids::SCEP_SENDER_NONCE, &tlv::octet_string(&sender_nonce)),
        tlv::attribute(
            &oids::SCEP_RECIPIENT_NONCE,
            &tlv::octet_string(&rep.recipient_nonce),
        ),
    ];
    if let Outcome::Failure { fail_info, text } = &rep.outcome {
        attributes.push(printable(&oids::SCEP_FAIL_INFO, fail_info.code()));
        if let Some(text) = text {
            attributes.push(tlv::attribute(
                &oids::SCEP_FAIL_INFO_TEXT,
                &tlv::encode(tag::UTF8_STRING, text.as_bytes()),
            ));
        }
    }

    let digest = DigestAlg::from(rep.digest);
    let message_digest = digest
        .digest(&content)
        .ok_or_else(|| BuildError::Sign(format!("{digest} is not available")))?;
    let signer = Signer {
        certificate_der: ra_cert_der,
        digest,
        signature_algorithm: oids::RSA_ENCRYPTION,
    };
    signed_data::assemble(
        Some(&content),
        attributes,
        &message_digest,
        AttributeOrder::Sorted,
        &signer,
        &|signed| ra_key.sign(rep.digest, signed).map_err(|e| e.to_string()),
    )
    .map_err(BuildError::Sign)
}

/// The pkcsPKIEnvelope of a SUCCESS (§3.2.2), encrypted to the requester's signer
/// certificate or to the shared secret (§3.1). Single DES is answered with 3DES
/// (CLIENTS.md).
fn seal(
    degenerate: &[u8],
    recipient: &ReplyRecipient,
    cipher: ContentCipher,
) -> Result<Vec<u8>, BuildError> {
    let cipher = cipher.without_single_des();
    match recipient {
        ReplyRecipient::Certificate(certificate_der) => {
            envelope::seal(degenerate, certificate_der, cipher, KeyTransport::Pkcs1v15)
        }
        ReplyRecipient::Password { password, kek } => {
            password::seal_to_password(degenerate, password, cipher, *kek)
        }
    }
    .map_err(BuildError::Envelope)
}

/// The GetNextCACert answer (RFC 8894 §4.7.1): a SignedData signed by the current
/// RA whose content is a degenerate certificates-only SignedData holding `next`,
/// the certificates to use once the current ones expire. Only contentType and
/// messageDigest are signed (it is not a pkiMessage: no SCEP attributes).
pub fn build_next_ca_cert(
    next: &[Vec<u8>],
    ra_cert_der: &[u8],
    ra_key: &RsaKey,
    digest: SignatureDigest,
) -> Result<Vec<u8>, BuildError> {
    let content = certs_only(next);
    let algorithm = DigestAlg::from(digest);
    let message_digest = algorithm
        .digest(&content)
        .ok_or_else(|| BuildError::Sign(format!("{algorithm} is not available")))?;
    let signer = Signer {
        certificate_der: ra_cert_der,
        digest: algorithm,
        signature_algorithm: oids::RSA_ENCRYPTION,
    };
    signed_data::assemble(
        Some(&content),
        Vec::new(),
        &message_digest,
        AttributeOrder::Sorted,
        &signer,
        &|signed| ra_key.sign(digest, signed).map_err(|e| e.to_string()),
    )
    .map_err(BuildError::Sign)
}

/// A degenerate certificates-only SignedData ContentInfo (RFC 8894 §3.4), DER, holding
/// `certs` in the given order: the GetCACert answer for a CA with an RA, and the
/// content of a CertRep SUCCESS.
pub fn certs_only(certs: &[Vec<u8>]) -> Vec<u8> {
    degenerate::certs_only(certs)
}

/// A degenerate SignedData ContentInfo (RFC 8894 §3.4), DER, with `crls` in its `crls`
/// field and no certificates: the content of the CertRep answering a GetCRL.
pub fn crls_only(crls: &[Vec<u8>]) -> Vec<u8> {
    degenerate::crls_only(crls)
}

fn printable(kind: &der::asn1::ObjectIdentifier, text: &str) -> Vec<u8> {
    tlv::attribute(kind, &tlv::encode(tag::PRINTABLE_STRING, text.as_bytes()))
}

/// The transactionID is echoed as a PrintableString (§3.2.1.1) when its characters
/// allow, otherwise as a UTF8String rather than as an invalid PrintableString.
fn transaction_id_attribute(id: &str) -> Vec<u8> {
    tlv::attribute(&oids::SCEP_TRANSACTION_ID, &tlv::text_string(id))
}
