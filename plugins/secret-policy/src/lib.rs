//! `secret-policy`: authorises a request whose challengePassword matches one of the
//! service's shared secrets (RFC 8894 §2.3).
//!
//! The value never reaches this plugin: the host compares it in constant time and
//! tells us which secret matched. On a match we claim the secret, and the host
//! consumes it (single-use) or binds it to the sender (long-life) in the same
//! transaction that records the certificate. Without a challengePassword we abstain,
//! so another policy in the chain (a trusted certificate, say) may still allow; so
//! we do when a request signed by a certificate (a renewal) carries a challenge
//! that matches nothing. A wrong challenge on a self-signed request is a deny.

wit_bindgen::generate!({
    world: "policy-plugin",
    path: "../../wit/v0.2",
    generate_all,
});

use exports::sceptic::plugin::policy::Guest;
use sceptic::host::{config, log, secrets};
use sceptic::types::types::{Decision, Denial, FailInfo, Request};

struct SecretPolicy;

impl Guest for SecretPolicy {
    fn init() -> Result<(), String> {
        match config::keys().into_iter().next() {
            Some(key) => Err(format!(
                "secret-policy takes no configuration; remove {key:?}"
            )),
            None => Ok(()),
        }
    }

    fn evaluate(request: Request) -> Decision {
        if !request.csr.challenge_present {
            return Decision::Abstain;
        }
        let Some(found) = secrets::match_challenge() else {
            // A renewal (signed by a certificate, not a self-signed one) often
            // carries the challenge of its first enrollment, long spent: certmonger's
            // `getcert rekey` does. Whether the certificate authorises it is
            // trusted-cert-policy's call, so a stale secret is no reason to deny.
            if !request.signer.self_signed {
                log::log(
                    log::Level::Debug,
                    "the challenge matches no secret; abstaining on a request signed by a certificate",
                );
                return Decision::Abstain;
            }
            let reason = if secrets::global_mode() {
                "the challenge password is not the service's global secret"
            } else {
                "the challenge password matches no unused secret of this service"
            };
            return deny(reason);
        };
        if !found.sender_matches {
            return deny("this long-life secret is bound to another sender's key");
        }
        if !secrets::claim(found.id) {
            return deny("the host refused to claim the matched secret");
        }
        log::log(
            log::Level::Debug,
            &format!("challenge matched a {:?} secret", found.kind),
        );
        Decision::Allow
    }
}

fn deny(reason: &str) -> Decision {
    Decision::Deny(Denial {
        fail_info: FailInfo::BadRequest,
        reason: reason.to_owned(),
    })
}

export!(SecretPolicy);
