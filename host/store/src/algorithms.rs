//! A service's algorithm lists beyond its content ciphers (those predate this
//! and keep their own column): which digests clients may sign with, and what the
//! server answers with. Names are the CLI's.

use serde::{Deserialize, Serialize};

/// Digests a client may sign with, strongest last. `md5` is for legacy services
/// only and is never a default.
pub const ALL_CLIENT_DIGESTS: [&str; 6] = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

/// Every digest but MD5: SHA-1 stays because micromdm scepclient and many
/// routers sign with nothing else (RFC 8894 §3.5.2 still lists it).
pub const DEFAULT_CLIENT_DIGESTS: [&str; 5] = ["sha1", "sha224", "sha256", "sha384", "sha512"];

/// What a reply may be signed with: `as-request` answers SHA-384/512 in kind and
/// everything weaker with SHA-256. MD5 and SHA-1 are never used on output.
pub const REPLY_DIGESTS: [&str; 4] = ["as-request", "sha256", "sha384", "sha512"];

/// What a SUCCESS's content may be encrypted with: `as-request` answers in the
/// request's cipher, but single DES with 3DES. Single DES is never used on output.
pub const REPLY_CIPHERS: [&str; 5] = ["as-request", "aes128", "aes192", "aes256", "des3"];

/// Key-encryption ciphers for a password-encrypted reply (RFC 3211).
pub const KEK_CIPHERS: [&str; 4] = ["aes128", "aes192", "aes256", "des3"];

/// The lists as stored (one JSON object per service; a field missing from an
/// older row reads as its default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Algorithms {
    /// Digests accepted in a request's SignerInfo; others get FAILURE badAlg.
    /// Default: [`DEFAULT_CLIENT_DIGESTS`].
    pub client_digests: Vec<String>,
    /// Default `as-request`.
    pub reply_digest: String,
    /// Default `as-request`.
    pub reply_cipher: String,
    /// Default `aes256`.
    pub kek_cipher: String,
}

impl Default for Algorithms {
    fn default() -> Self {
        Self {
            client_digests: DEFAULT_CLIENT_DIGESTS.map(str::to_owned).to_vec(),
            reply_digest: "as-request".into(),
            reply_cipher: "as-request".into(),
            kek_cipher: "aes256".into(),
        }
    }
}

/// A change to the lists; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct AlgorithmsEdit {
    pub client_digests: Option<Vec<String>>,
    pub reply_digest: Option<String>,
    pub reply_cipher: Option<String>,
    pub kek_cipher: Option<String>,
}

fn check_one(field: &str, value: &str, allowed: &[&str]) -> Result<String, String> {
    let value = value.trim().to_ascii_lowercase();
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(format!(
            "{field}: unknown value {value:?}; choose from {}",
            allowed.join(",")
        ))
    }
}

impl AlgorithmsEdit {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks every value against its list and normalises it (lower case, no
    /// duplicates). The error names the field and the values it takes.
    pub fn validated(&self) -> Result<Self, String> {
        let client_digests = match &self.client_digests {
            None => None,
            Some(list) => {
                let mut out: Vec<String> = Vec::new();
                for d in list.iter().filter(|d| !d.trim().is_empty()) {
                    let d = check_one("client-digests", d, &ALL_CLIENT_DIGESTS)?;
                    if !out.contains(&d) {
                        out.push(d);
                    }
                }
                if out.is_empty() {
                    return Err("client-digests: needs at least one digest".into());
                }
                Some(out)
            }
        };
        let one = |field, value: &Option<String>, allowed: &[&str]| {
            value
                .as_deref()
                .map(|v| check_one(field, v, allowed))
                .transpose()
        };
        Ok(Self {
            client_digests,
            reply_digest: one("reply-digest", &self.reply_digest, &REPLY_DIGESTS)?,
            reply_cipher: one("reply-cipher", &self.reply_cipher, &REPLY_CIPHERS)?,
            kek_cipher: one("kek-cipher", &self.kek_cipher, &KEK_CIPHERS)?,
        })
    }

    /// Applies a validated change and says what changed, for the audit trail.
    pub fn apply(&self, algorithms: &mut Algorithms) -> Vec<String> {
        let mut changes = Vec::new();
        if let Some(list) = &self.client_digests {
            algorithms.client_digests = list.clone();
            changes.push(format!("client-digests={}", list.join(",")));
        }
        let mut set = |name: &str, value: &Option<String>, field: &mut String| {
            if let Some(value) = value {
                *field = value.clone();
                changes.push(format!("{name}={value}"));
            }
        };
        set(
            "reply-digest",
            &self.reply_digest,
            &mut algorithms.reply_digest,
        );
        set(
            "reply-cipher",
            &self.reply_cipher,
            &mut algorithms.reply_cipher,
        );
        set("kek-cipher", &self.kek_cipher, &mut algorithms.kek_cipher);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_checked_and_normalised() {
        let edit = AlgorithmsEdit {
            client_digests: Some(vec!["SHA256".into(), "sha256".into(), "md5".into()]),
            reply_cipher: Some("AES128".into()),
            ..Default::default()
        };
        let valid = edit.validated().unwrap();
        assert_eq!(
            valid.client_digests.as_deref(),
            Some(&["sha256".to_owned(), "md5".to_owned()][..])
        );
        let mut algorithms = Algorithms::default();
        valid.apply(&mut algorithms);
        assert_eq!(algorithms.reply_cipher, "aes128");
        assert_eq!(algorithms.kek_cipher, "aes256");

        let bad = AlgorithmsEdit {
            reply_digest: Some("sha1".into()),
            ..Default::default()
        };
        let error = bad.validated().unwrap_err();
        assert!(
            error.starts_with("reply-digest: unknown value \"sha1\""),
            "{error}"
        );
        let bad = AlgorithmsEdit {
            reply_cipher: Some("des".into()),
            ..Default::default()
        };
        assert!(
            bad.validated().is_err(),
            "single DES is never a reply cipher"
        );
    }

    #[test]
    fn an_older_row_reads_as_the_defaults() {
        let read: Algorithms = serde_json::from_str("{}").unwrap();
        assert_eq!(read, Algorithms::default());
        assert!(!read.client_digests.contains(&"md5".to_owned()));
    }
}
