//! `local-ca-issuer`: the built-in CA. It builds each certificate from the CSR and
//! its own configuration, and asks the host to sign it with the service's CA key,
//! which it never sees.
//!
//! The subject is kept byte for byte as requested; subjectAltName comes from the
//! CSR's extensionRequest; key usage, extended key usage and validity come from the
//! configuration:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `validity-days` | `365` | lifetime of issued certificates |
//! | `backdate-minutes` | `5` | notBefore this far in the past, for clients with slow clocks |
//! | `key-usage` | `digitalSignature,keyEncipherment` | RFC 5280 names, comma-separated |
//! | `extended-key-usage` | `clientAuth` | names or dotted OIDs; empty for none |

wit_bindgen::generate!({
    world: "issuer-plugin",
    path: "../../wit/v0.2",
    generate_all,
});

use std::time::{Duration, UNIX_EPOCH};

use exports::sceptic::plugin::issuer::Guest;
use sceptic::host::{config, signing};
use sceptic::types::types::{Denial, FailInfo, IssueResult, Request};
use sceptic_x509::LeafProfile;

const KNOWN_KEYS: &[&str] = &[
    "validity-days",
    "backdate-minutes",
    "key-usage",
    "extended-key-usage",
];
const DEFAULT_VALIDITY_DAYS: u64 = 365;
const DEFAULT_BACKDATE_MINUTES: u64 = 5;
const DEFAULT_KEY_USAGE: &str = "digitalSignature,keyEncipherment";
const DEFAULT_EXTENDED_KEY_USAGE: &str = "clientAuth";
fn number(key: &str, default: u64, max: u64) -> Result<u64, String> {
    match config::get(key) {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if n >= 1 && n <= max => Ok(n),
            _ => Err(format!(
                "{key} must be a whole number from 1 to {max}, not {text:?}"
            )),
        },
    }
}

fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn settings() -> Result<LeafProfile, String> {
    if let Some(key) = config::keys()
        .into_iter()
        .find(|k| !KNOWN_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "local-ca-issuer has no setting {key:?} (known: {})",
            KNOWN_KEYS.join(", ")
        ));
    }
    let days = number("validity-days", DEFAULT_VALIDITY_DAYS, 36_500)?;
    let backdate = number("backdate-minutes", DEFAULT_BACKDATE_MINUTES, 1_440)?;
    let key_usage = config::get("key-usage").unwrap_or_else(|| DEFAULT_KEY_USAGE.into());
    let eku =
        config::get("extended-key-usage").unwrap_or_else(|| DEFAULT_EXTENDED_KEY_USAGE.into());
    Ok(LeafProfile {
        validity: Duration::from_secs(days * 86_400),
        backdate: Duration::from_secs(backdate * 60),
        key_usage: sceptic_x509::key_usage_from_names(list(&key_usage))?,
        extended_key_usage: sceptic_x509::extended_key_usage_from_names(list(&eku))?,
    })
}

fn rejected(fail_info: FailInfo, reason: String) -> IssueResult {
    IssueResult::Rejected(Denial { fail_info, reason })
}

struct LocalCa;

impl Guest for LocalCa {
    fn init() -> Result<(), String> {
        settings().map(|_| ())
    }

    fn ca_certificates() -> Vec<Vec<u8>> {
        vec![signing::issuing_key().certificate()]
    }

    fn issue(request: Request) -> IssueResult {
        let profile = match settings() {
            Ok(s) => s,
            Err(e) => return rejected(FailInfo::BadRequest, format!("issuer configuration: {e}")),
        };
        let key = signing::issuing_key();
        let received = UNIX_EPOCH + Duration::from_secs(request.received_at.max(0) as u64);
        let tbs = match profile.tbs_for_csr(&request.csr.der, &key.certificate(), signing::random_serial(), received) {
            Ok(tbs) => tbs,
            Err(e) => return rejected(FailInfo::BadRequest, e),
        };
        match key.sign_certificate(&tbs) {
            Ok(certificate) => IssueResult::Issued(certificate),
            Err(e) => rejected(FailInfo::BadRequest, format!("the host refused to sign: {e}")),
        }
    }

    fn poll(ticket: String) -> IssueResult {
        // This CA decides at once; it never hands out tickets.
        rejected(
            FailInfo::BadCertId,
            format!("no pending request {ticket:?}"),
        )
    }
}

export!(LocalCa);
