//! `legacy-policy`: a test component built against WIT v0.1, and kept on it for
//! good, so the tests prove that a plugin built for an old, frozen WIT version
//! keeps loading and deciding beside built-ins of the newest one (wit/README.md).
//! Never move it to a newer version. Not embedded in the binary.
//!
//! It allows a request whose CSR subject starts with the configured `prefix`
//! (required, not empty), and abstains on every other one.

wit_bindgen::generate!({
    world: "policy-plugin",
    path: "../../wit/v0.1",
    generate_all,
});

use exports::sceptic::plugin::policy::Guest;
use sceptic::host::config;
use sceptic::types::types::{Decision, Request};

struct LegacyPolicy;

impl Guest for LegacyPolicy {
    fn init() -> Result<(), String> {
        if let Some(key) = config::keys().into_iter().find(|k| k != "prefix") {
            return Err(format!(
                "legacy-policy has no setting {key:?} (known: prefix)"
            ));
        }
        match config::get("prefix") {
            Some(prefix) if !prefix.is_empty() => Ok(()),
            _ => Err("legacy-policy needs a non-empty prefix".into()),
        }
    }

    fn evaluate(request: Request) -> Decision {
        match config::get("prefix") {
            Some(prefix) if request.csr.subject.starts_with(&prefix) => Decision::Allow,
            _ => Decision::Abstain,
        }
    }
}

export!(LegacyPolicy);
