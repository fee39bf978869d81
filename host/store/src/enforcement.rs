//! A service's enforcement flags: checks the host makes on every PKIOperation
//! before any plugin sees the request. They are certdog's per-service "enforce"
//! settings; each is off by default, which is how RFC 8894 clients work without them.

use serde::{Deserialize, Serialize};

/// The flags as stored (one JSON object per service, so a new flag needs no
/// migration; a flag missing from an older row reads as off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Enforcement {
    /// PKIOperation only by POST (RFC 8894 §4.1 allows GET too). A GET is refused
    /// with a signed FAILURE that names the flag.
    pub post_only: bool,
    /// The signer certificate must carry keyUsage digitalSignature (when it has a
    /// keyUsage extension at all, RFC 5280 §4.2.1.3: no extension means any use).
    pub signer_digital_signature: bool,
    /// When the signer certificate does not allow keyEncipherment, the CertRep is
    /// not encrypted to its key but to the challengePassword of the request, with
    /// password-based recipient info (RFC 8894 §3.1, RFC 3211).
    pub respect_key_usage: bool,
    /// A self-signed signer certificate must carry the CSR's subject and public
    /// key (RFC 8894 §2.3: the transient certificate stands for the CSR's key).
    pub self_signed_matches_csr: bool,
    /// A POST PKIOperation must say `Content-Type: application/x-pki-message`
    /// (RFC 8894 §4.3). Off, any content type (or none) is read as the message.
    pub strict_content_types: bool,
}

/// A change to the flags; `None` leaves a flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct EnforcementEdit {
    pub post_only: Option<bool>,
    pub signer_digital_signature: Option<bool>,
    pub respect_key_usage: Option<bool>,
    pub self_signed_matches_csr: Option<bool>,
    pub strict_content_types: Option<bool>,
}

impl EnforcementEdit {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the change and says what changed, for the audit trail.
    pub fn apply(&self, flags: &mut Enforcement) -> Vec<String> {
        let mut changes = Vec::new();
        let mut set = |name: &str, value: Option<bool>, flag: &mut bool| {
            if let Some(value) = value {
                *flag = value;
                changes.push(format!("{name}={value}"));
            }
        };
        set("post-only", self.post_only, &mut flags.post_only);
        set(
            "signer-digital-signature",
            self.signer_digital_signature,
            &mut flags.signer_digital_signature,
        );
        set(
            "respect-key-usage",
            self.respect_key_usage,
            &mut flags.respect_key_usage,
        );
        set(
            "self-signed-matches-csr",
            self.self_signed_matches_csr,
            &mut flags.self_signed_matches_csr,
        );
        set(
            "strict-content-types",
            self.strict_content_types,
            &mut flags.strict_content_types,
        );
        changes
    }
}
