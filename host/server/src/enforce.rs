//! A service's enforcement flags (certdog's per-service "enforce" settings, see
//! `sceptic_store::Enforcement`): checks the host makes on a PKIOperation before
//! any plugin sees it, and the choice of whom a SUCCESS is encrypted to. Each
//! check refuses with a signed FAILURE whose text names the flag, so an operator
//! reading a client's error knows which setting to look at.

use sceptic_proto::{CertificateInfo, CsrInfo, FailInfo};

use crate::reply::{Origin, Refusal, host_refusal};
use crate::runtime::ServiceRuntime;

/// The media type RFC 8894 §4.3 gives a PKIOperation sent by POST.
pub const PKI_MESSAGE_MEDIA_TYPE: &str = "application/x-pki-message";

const DIGITAL_SIGNATURE: &str = "digitalSignature";
const KEY_ENCIPHERMENT: &str = "keyEncipherment";

fn flag_refusal(flag: &str, rt: &ServiceRuntime, what: String) -> Refusal {
    host_refusal(
        FailInfo::BadRequest,
        format!(
            "{what} (service {:?} enforces {flag}; an operator can turn it off with \
             `sceptic service edit {} --{flag} false`)",
            rt.service.name, rt.service.name
        ),
    )
}

/// POST only, and the right Content-Type: checked once the transactionID is known
/// (so the refusal is a signed FAILURE) and before anything is decrypted.
pub fn check_transport(rt: &ServiceRuntime, origin: &Origin) -> Result<(), Refusal> {
    let flags = &rt.service.enforcement;
    if flags.post_only && origin.method != "POST" {
        return Err(flag_refusal(
            "post-only",
            rt,
            "PKIOperation must be sent by POST, not GET".into(),
        ));
    }
    if flags.strict_content_types && origin.method == "POST" {
        // Parameters (`; charset=…`) are not part of the media type (RFC 9110 §8.3.1).
        let media_type = origin
            .content_type
            .as_deref()
            .map(|v| v.split(';').next().unwrap_or_default().trim());
        if !media_type.is_some_and(|t| t.eq_ignore_ascii_case(PKI_MESSAGE_MEDIA_TYPE)) {
            return Err(flag_refusal(
                "strict-content-types",
                rt,
                format!(
                    "a PKIOperation POST must have Content-Type {PKI_MESSAGE_MEDIA_TYPE}, not {}",
                    media_type.map_or("none".to_owned(), |t| format!("{t:?}"))
                ),
            ));
        }
    }
    Ok(())
}

/// Whether a certificate's keyUsage allows `usage`. No keyUsage extension means
/// no restriction (RFC 5280 §4.2.1.3).
fn allows(certificate: &CertificateInfo, usage: &str) -> bool {
    certificate.key_usage.is_empty() || certificate.key_usage.iter().any(|u| u == usage)
}

/// The signer's keyUsage, checked before its envelope is opened.
pub fn check_signer(rt: &ServiceRuntime, signer: &CertificateInfo) -> Result<(), Refusal> {
    if rt.service.enforcement.signer_digital_signature && !allows(signer, DIGITAL_SIGNATURE) {
        return Err(flag_refusal(
            "signer-digital-signature",
            rt,
            format!(
                "the signer certificate's keyUsage ({}) lacks digitalSignature",
                signer.key_usage.join(",")
            ),
        ));
    }
    Ok(())
}

/// A self-signed signer stands for the key being enrolled (RFC 8894 §2.3): with
/// the flag on it must carry the CSR's subject and public key.
pub fn check_self_signed(
    rt: &ServiceRuntime,
    signer: &CertificateInfo,
    csr: &CsrInfo,
) -> Result<(), Refusal> {
    if !rt.service.enforcement.self_signed_matches_csr || !signer.self_signed {
        return Ok(());
    }
    if signer.spki_der != csr.spki_der {
        return Err(flag_refusal(
            "self-signed-matches-csr",
            rt,
            "the self-signed signer certificate's public key is not the CSR's".into(),
        ));
    }
    if signer.subject != csr.subject {
        return Err(flag_refusal(
            "self-signed-matches-csr",
            rt,
            format!(
                "the self-signed signer certificate's subject {:?} is not the CSR's {:?}",
                signer.subject, csr.subject
            ),
        ));
    }
    Ok(())
}

/// Whom a SUCCESS's content is encrypted to.
pub enum Delivery {
    /// The signer certificate's key (RFC 8894 §3.3.2.1).
    Signer,
    /// The challengePassword the client sent in this request (RFC 8894 §3.1):
    /// the signer's certificate does not allow keyEncipherment and the service
    /// respects key usage. The value is this request's; no plaintext is stored.
    Password(String),
}

/// Chooses the [`Delivery`] for a request, or refuses it when the reply could not
/// be delivered: a signer that may not encipher keys, on a service that respects
/// key usage, and no challengePassword in this request to encrypt to.
pub fn delivery(
    rt: &ServiceRuntime,
    signer: &CertificateInfo,
    csr: Option<&CsrInfo>,
) -> Result<Delivery, Refusal> {
    if !rt.service.enforcement.respect_key_usage || allows(signer, KEY_ENCIPHERMENT) {
        return Ok(Delivery::Signer);
    }
    match csr.and_then(|c| c.challenge_password.clone()) {
        Some(password) if !password.is_empty() => Ok(Delivery::Password(password)),
        _ => Err(flag_refusal(
            "respect-key-usage",
            rt,
            format!(
                "the signer certificate's keyUsage ({}) does not allow keyEncipherment, so the reply \
                 must be encrypted to the challengePassword, and this message carries none; send \
                 a PKCSReq with the challengePassword (a repeated PKCSReq with the same \
                 transactionID also polls)",
                signer.key_usage.join(",")
            ),
        )),
    }
}
