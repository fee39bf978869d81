//! `trusted-cert-policy`: authorises a request signed by a certificate the host
//! verifies, i.e. a renewal (and, if configured, a new certificate) by a client
//! that already holds a certificate this service trusts (RFC 8894 §2.3: the
//! message is signed with the existing certificate instead of a self-signed one).
//!
//! The verification is the host's (`sceptic:pki/trust`): the signer must equal or
//! be issued by a certificate of the configured anchor sets, be within its
//! validity now and not be revoked (RFC 5280 §6.1.3). This plugin only decides
//! what a verified signer may ask for:
//! - a self-signed signer (a first enrollment): abstain, the secret policy's
//!   business;
//! - a signer no anchor set verifies: deny (badRequest) with the host's reason,
//!   so a renewal signed by a foreign, expired or revoked certificate fails;
//! - verified, same subject as the CSR: a renewal; allowed if `allow-renewal`;
//! - verified, another subject: a new certificate; allowed if `allow-new-issuance`.
//!
//! Anything not allowed is abstained on, so another policy may still allow it.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `anchors` | `service-ca,trusted` | anchor sets to verify against, in order: `service-ca` (certificates this service issued), `trusted` (the operator's trusted certificates) |
//! | `allow-renewal` | `true` | a verified signer may renew its own subject |
//! | `allow-new-issuance` | `false` | a verified signer may obtain a certificate for another subject |

wit_bindgen::generate!({
    world: "policy-plugin",
    path: "../../wit/v0.2",
    generate_all,
});

use exports::sceptic::plugin::policy::Guest;
use sceptic::host::{config, log};
use sceptic::pki::trust;
use sceptic::types::types::{Decision, Denial, FailInfo, Request};

const KNOWN_KEYS: &[&str] = &["anchors", "allow-renewal", "allow-new-issuance"];
const ANCHOR_SETS: &[&str] = &["service-ca", "trusted"];

struct Settings {
    anchors: Vec<String>,
    allow_renewal: bool,
    allow_new_issuance: bool,
}

fn settings() -> Result<Settings, String> {
    if let Some(key) = config::keys()
        .into_iter()
        .find(|k| !KNOWN_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "trusted-cert-policy has no setting {key:?} (known: {})",
            KNOWN_KEYS.join(", ")
        ));
    }
    Ok(Settings {
        anchors: anchors()?,
        allow_renewal: flag("allow-renewal", true)?,
        allow_new_issuance: flag("allow-new-issuance", false)?,
    })
}

fn anchors() -> Result<Vec<String>, String> {
    let Some(text) = config::get("anchors") else {
        return Ok(ANCHOR_SETS.iter().map(|s| s.to_string()).collect());
    };
    let mut sets: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim) {
        if !ANCHOR_SETS.contains(&name) {
            return Err(format!(
                "anchors: {name:?} is not an anchor set (use a comma list of {})",
                ANCHOR_SETS.join(", ")
            ));
        }
        if !sets.iter().any(|s| s == name) {
            sets.push(name.to_owned());
        }
    }
    Ok(sets)
}

fn flag(key: &str, default: bool) -> Result<bool, String> {
    match config::get(key).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!("{key} must be true or false, not {other:?}")),
    }
}

struct TrustedCertPolicy;

impl Guest for TrustedCertPolicy {
    fn init() -> Result<(), String> {
        settings().map(|_| ())
    }

    fn evaluate(request: Request) -> Decision {
        // `init` ran first in this very instance and accepted the settings; this
        // cannot fail, but if it did, refusing is the safe answer.
        let settings = match settings() {
            Ok(settings) => settings,
            Err(e) => return deny(e),
        };
        let signer = &request.signer;
        if signer.self_signed {
            return Decision::Abstain;
        }
        let mut refusals = Vec::new();
        let mut verified = None;
        for set in &settings.anchors {
            match trust::verify(set, &signer.der) {
                Ok(trusted) => {
                    verified = Some((set, trusted));
                    break;
                }
                Err(why) => refusals.push(format!("{set}: {why}")),
            }
        }
        let Some((set, trusted)) = verified else {
            return deny(format!(
                "the signer certificate {} (serial {}) is not trusted: {}",
                signer.subject,
                signer.serial,
                refusals.join("; ")
            ));
        };
        log::log(
            log::Level::Info,
            &format!(
                "signer {} (serial {}) verified by anchor set {set} (anchor {}, issued by this service: {})",
                signer.subject, signer.serial, trusted.anchor_subject, trusted.issued_by_service
            ),
        );
        // Same subject: the holder renews its own certificate. Another subject:
        // it asks for a certificate it never had, a stronger thing to grant.
        let (kind, allowed) = if request.csr.subject == signer.subject {
            ("renewal", settings.allow_renewal)
        } else {
            ("new issuance", settings.allow_new_issuance)
        };
        if allowed {
            Decision::Allow
        } else {
            log::log(
                log::Level::Debug,
                &format!(
                    "{kind} for {} is not enabled in this policy; abstaining",
                    request.csr.subject
                ),
            );
            Decision::Abstain
        }
    }
}

fn deny(reason: String) -> Decision {
    Decision::Deny(Denial {
        fail_info: FailInfo::BadRequest,
        reason,
    })
}

export!(TrustedCertPolicy);
