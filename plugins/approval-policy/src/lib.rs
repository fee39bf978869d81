//! `approval-policy`: routes a request that the service's policy chain did not
//! authorise to a queue for manual approval, instead of refusing it. The host asks
//! this plugin only about such requests, and only when the service allows
//! unauthorised requests; answering `abstain` keeps the refusal.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `queue` | `default` | the approval queue a held request joins |
//! | `subject-suffix` | (any) | hold only requests whose subject ends with this, e.g. `,O=Example`; refuse the rest |
//!
//! Replace it with your own component to route by subject, SAN or source network.

wit_bindgen::generate!({
    world: "policy-plugin",
    path: "../../wit/v0.2",
    generate_all,
});

use exports::sceptic::plugin::policy::Guest;
use sceptic::host::config;
use sceptic::types::types::{Decision, Request};

const KNOWN_KEYS: &[&str] = &["queue", "subject-suffix"];

struct ApprovalPolicy;

impl Guest for ApprovalPolicy {
    fn init() -> Result<(), String> {
        if let Some(key) = config::keys().into_iter().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            return Err(format!("approval-policy has no setting {key:?} (known: {})", KNOWN_KEYS.join(", ")));
        }
        match config::get("queue") {
            Some(queue) if queue.trim().is_empty() => Err("queue must not be empty".into()),
            _ => Ok(()),
        }
    }

    fn evaluate(request: Request) -> Decision {
        if let Some(suffix) = config::get("subject-suffix") {
            if !request.csr.subject.ends_with(&suffix) {
                return Decision::Abstain;
            }
        }
        Decision::Pending(config::get("queue").unwrap_or_else(|| "default".into()))
    }
}

export!(ApprovalPolicy);
