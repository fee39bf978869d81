//! A service's RA: who issues its certificate, its key size and subject, and when
//! a successor is made. RFC 8894 §2.1: the RA signs replies and decrypts requests
//! for the CA; its certificate is the one clients encrypt to.

use serde::{Deserialize, Serialize};

/// RSA sizes an RA key may have. 2048 is the floor clients expect; 4096 costs
/// about 7x the private-key time of 2048 on every request.
pub const RA_KEY_BITS: [u32; 3] = [2048, 3072, 4096];

/// Who issues a service's RA certificate: the data directory's CA, the only CA
/// whose key sceptic holds. (An RA issued through the service's issuer plugin
/// would need the plugin to issue for a host-made CSR; not built yet.)
pub const RA_ISSUERS: [&str; 1] = ["local"];

/// Default share of the RA certificate's life left when a successor is made: a
/// two-year RA gets its successor about five months before it expires, time
/// enough for clients that poll GetNextCACert monthly.
pub const DEFAULT_RENEW_AT_PERCENT: u8 = 20;

/// As stored (one JSON object per service; a missing field reads as its default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct RaSettings {
    /// Default 2048.
    pub key_bits: u32,
    /// RFC 4514 subject of the RA certificate. Default (`None`): `CN=sceptic RA NAME`.
    pub subject: Option<String>,
    /// Make a successor when this share (percent) of the current RA certificate's
    /// life is left; 0 never does (the operator renews by hand). Default 20.
    pub renew_at_percent: u8,
    /// `local`: the data directory's CA signs the RA certificate (the default,
    /// and for now the only choice).
    pub issuer: String,
    /// Skip the check that the certificate issuer and the RA issuer chain to the
    /// same root. Default false: such a configuration is refused.
    pub skip_issuer_check: bool,
}

impl Default for RaSettings {
    fn default() -> Self {
        Self {
            key_bits: 2048,
            subject: None,
            renew_at_percent: DEFAULT_RENEW_AT_PERCENT,
            issuer: "local".into(),
            skip_issuer_check: false,
        }
    }
}

impl RaSettings {
    /// The RA subject for a service named `service`.
    pub fn subject_for(&self, service: &str) -> String {
        self.subject
            .clone()
            .unwrap_or_else(|| format!("CN=sceptic RA {service}"))
    }
}

/// A change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct RaSettingsEdit {
    pub key_bits: Option<u32>,
    /// `Some(None)` goes back to the default subject.
    pub subject: Option<Option<String>>,
    pub renew_at_percent: Option<u8>,
    pub issuer: Option<String>,
    pub skip_issuer_check: Option<bool>,
}

impl RaSettingsEdit {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks every value; the error names the setting and what it takes.
    pub fn validated(&self) -> Result<Self, String> {
        if let Some(bits) = self.key_bits
            && !RA_KEY_BITS.contains(&bits)
        {
            return Err(format!(
                "ra-key-bits: {bits} is not one of 2048, 3072, 4096"
            ));
        }
        if let Some(percent) = self.renew_at_percent
            && percent > 100
        {
            return Err(format!(
                "ra-renew-at-percent: {percent} is not between 0 and 100"
            ));
        }
        let issuer = match &self.issuer {
            Some(issuer) => {
                let issuer = issuer.trim().to_ascii_lowercase();
                if !RA_ISSUERS.contains(&issuer.as_str()) {
                    return Err(format!(
                        "ra-issuer: unknown value {issuer:?}; choose from {}",
                        RA_ISSUERS.join(",")
                    ));
                }
                Some(issuer)
            }
            None => None,
        };
        let subject = match &self.subject {
            Some(Some(s)) if s.trim().is_empty() => Some(None),
            Some(Some(s)) => Some(Some(s.trim().to_owned())),
            other => other.clone(),
        };
        Ok(Self {
            issuer,
            subject,
            ..self.clone()
        })
    }

    /// Applies a validated change; says what changed, for the audit trail.
    pub fn apply(&self, ra: &mut RaSettings) -> Vec<String> {
        let mut changes = Vec::new();
        if let Some(bits) = self.key_bits {
            ra.key_bits = bits;
            changes.push(format!("ra-key-bits={bits}"));
        }
        if let Some(subject) = &self.subject {
            ra.subject = subject.clone();
            changes.push(format!(
                "ra-subject={}",
                subject.as_deref().unwrap_or("(default)")
            ));
        }
        if let Some(percent) = self.renew_at_percent {
            ra.renew_at_percent = percent;
            changes.push(format!("ra-renew-at-percent={percent}"));
        }
        if let Some(issuer) = &self.issuer {
            ra.issuer = issuer.clone();
            changes.push(format!("ra-issuer={issuer}"));
        }
        if let Some(skip) = self.skip_issuer_check {
            ra.skip_issuer_check = skip;
            changes.push(format!("skip-issuer-check={skip}"));
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_the_default_subject_names_the_service() {
        let ra = RaSettings::default();
        assert_eq!(ra.subject_for("vpn"), "CN=sceptic RA vpn");
        let bad = RaSettingsEdit {
            key_bits: Some(1024),
            ..Default::default()
        };
        assert!(bad.validated().unwrap_err().starts_with("ra-key-bits"));
        let bad = RaSettingsEdit {
            issuer: Some("cfssl".into()),
            ..Default::default()
        };
        assert!(bad.validated().unwrap_err().starts_with("ra-issuer"));
        let edit = RaSettingsEdit {
            key_bits: Some(3072),
            subject: Some(Some("CN=RA,O=Example".into())),
            ..Default::default()
        }
        .validated()
        .unwrap();
        let mut ra = RaSettings::default();
        assert_eq!(edit.apply(&mut ra).len(), 2);
        assert_eq!(ra.subject_for("vpn"), "CN=RA,O=Example");
        assert_eq!(ra.key_bits, 3072);
    }
}
