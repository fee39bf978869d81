//! `deferred-issuer`: an issuer that never decides at once, like a remote CA that
//! approves later. `issue` answers pending with a ticket; `poll` issues. It lets
//! tests prove the host's issuer-side pending path (the host asks `poll` when the
//! client polls). Not embedded in the binary.
//!
//! The ticket carries the CSR itself (hex), so the plugin needs no storage.

wit_bindgen::generate!({
    world: "issuer-plugin",
    path: "../../wit/v0.2",
    generate_all,
});

use std::time::{Duration, SystemTime};

use exports::sceptic::plugin::issuer::Guest;
use sceptic::host::signing;
use sceptic::types::types::{Denial, FailInfo, IssueResult, Request};
use sceptic_x509::LeafProfile;

fn profile() -> LeafProfile {
    LeafProfile {
        validity: Duration::from_secs(30 * 86_400),
        backdate: Duration::from_secs(300),
        key_usage: sceptic_x509::key_usage_from_names(["digitalSignature"]).expect("a known usage"),
        extended_key_usage: Vec::new(),
    }
}

fn rejected(reason: String) -> IssueResult {
    IssueResult::Rejected(Denial { fail_info: FailInfo::BadCertId, reason })
}

struct Deferred;

impl Guest for Deferred {
    fn init() -> Result<(), String> {
        Ok(())
    }

    fn ca_certificates() -> Vec<Vec<u8>> {
        vec![signing::issuing_key().certificate()]
    }

    fn issue(request: Request) -> IssueResult {
        let ticket: String = request.csr.der.iter().map(|b| format!("{b:02x}")).collect();
        IssueResult::Pending(ticket)
    }

    fn poll(ticket: String) -> IssueResult {
        let bytes = ticket.as_bytes();
        if bytes.len() % 2 != 0 {
            return rejected("not a ticket of this issuer".into());
        }
        let csr: Option<Vec<u8>> = bytes
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        let Some(csr) = csr else {
            return rejected("not a ticket of this issuer".into());
        };
        let key = signing::issuing_key();
        match profile().tbs_for_csr(&csr, &key.certificate(), signing::random_serial(), SystemTime::now()) {
            Ok(tbs) => match key.sign_certificate(&tbs) {
                Ok(certificate) => IssueResult::Issued(certificate),
                Err(e) => rejected(e),
            },
            Err(e) => rejected(e),
        }
    }
}

export!(Deferred);
