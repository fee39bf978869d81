//! `fault-issuer`: an issuer that misbehaves on purpose, for tests of the host's
//! defences. Not embedded in the binary. Setting `fault`:
//! - `garbage`: `issue` answers "issued" with bytes that are no certificate;
//! - `trap`: `issue` panics (a trap);
//! - `init`: `init` refuses, so the service never loads.

wit_bindgen::generate!({
    world: "issuer-plugin",
    path: "../../wit/v0.2",
    generate_all,
});

use exports::sceptic::plugin::issuer::Guest;
use sceptic::host::{config, signing};
use sceptic::types::types::{Denial, FailInfo, IssueResult, Request};

struct FaultIssuer;

fn fault() -> String {
    config::get("fault").unwrap_or_default()
}

impl Guest for FaultIssuer {
    fn init() -> Result<(), String> {
        match fault().as_str() {
            "garbage" | "trap" => Ok(()),
            "init" => Err("fault-issuer: init refuses on purpose".into()),
            other => Err(format!("fault must be garbage, trap or init, not {other:?}")),
        }
    }

    fn ca_certificates() -> Vec<Vec<u8>> {
        vec![signing::issuing_key().certificate()]
    }

    fn issue(_request: Request) -> IssueResult {
        match fault().as_str() {
            "trap" => panic!("fault-issuer: trap on purpose"),
            _ => IssueResult::Issued(b"this is not a certificate".to_vec()),
        }
    }

    fn poll(_ticket: String) -> IssueResult {
        IssueResult::Rejected(Denial {
            fail_info: FailInfo::BadCertId,
            reason: "fault-issuer never defers".into(),
        })
    }
}

export!(FaultIssuer);
