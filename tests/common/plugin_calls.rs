//! Calling plugins directly, without a server: a request as the host would build
//! it, a secrets broker that knows no secret, and the cost printer the ignored
//! measurement tests share (median, p99 and fuel of many calls).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sceptic_plugins::types::{Certificate, Csr, Decision, FailInfo, MessageType, Request};
use sceptic_plugins::{MatchedSecret, NoCertificates, Policy, SecretBroker};

/// A secrets broker with no secret, for policies that never ask.
pub struct NoSecrets;

impl SecretBroker for NoSecrets {
    fn global_mode(&self) -> bool {
        false
    }
    fn match_challenge(&self) -> Option<MatchedSecret> {
        None
    }
}

/// A PKCSReq from a self-signed device with an RSA key of `key_bits`.
pub fn policy_request(subject: &str, key_bits: u32, csr_der: Vec<u8>) -> Request {
    Request {
        service: "default".into(),
        message_type: MessageType::PkcsReq,
        transaction_id: "tx".into(),
        csr: Csr {
            der: csr_der,
            subject: subject.into(),
            sans: Vec::new(),
            key_algorithm: "rsa".into(),
            key_bits,
            challenge_present: false,
        },
        signer: Certificate {
            der: Vec::new(),
            subject: subject.into(),
            issuer: subject.into(),
            serial: "01".into(),
            not_before: 0,
            not_after: 0,
            self_signed: true,
            key_usage: Vec::new(),
        },
        http_method: "POST".into(),
        client_address: "127.0.0.1".into(),
        received_at: 0,
    }
}

/// What a policy decides, as `allow`, `abstain`, `pending:QUEUE` or
/// `deny:REASON` (a deny must be badRequest), and the fuel it burnt.
pub fn decide(policy: &Policy, request: &Request) -> (String, Option<u64>) {
    let evaluation = policy
        .evaluate(
            "default".into(),
            request,
            Arc::new(NoSecrets),
            Arc::new(NoCertificates),
        )
        .expect("the policy answers");
    let decision = match evaluation.decision {
        Decision::Allow => "allow".into(),
        Decision::Abstain => "abstain".into(),
        Decision::Pending(queue) => format!("pending:{queue}"),
        Decision::Deny(denial) => {
            assert!(matches!(denial.fail_info, FailInfo::BadRequest));
            format!("deny:{}", denial.reason)
        }
    };
    (decision, evaluation.fuel_used)
}

/// Calls per cost measurement: enough for a p99 with a few samples above it.
pub const MEASURED_CALLS: usize = 300;
/// Calls before measuring, so page faults and caches settle.
const WARM_UP_CALLS: usize = 5;

/// Runs `call` (which returns the fuel it burnt, if counted) WARM_UP_CALLS then
/// MEASURED_CALLS times and prints the median, p99 and max time, and the most
/// fuel one call burnt.
pub fn print_cost(label: &str, mut call: impl FnMut() -> Option<u64>) {
    for _ in 0..WARM_UP_CALLS {
        call();
    }
    let mut fuel = None;
    let mut times: Vec<Duration> = (0..MEASURED_CALLS)
        .map(|_| {
            let started = Instant::now();
            let burnt = call();
            let took = started.elapsed();
            fuel = fuel.max(burnt);
            took
        })
        .collect();
    times.sort();
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    println!(
        "{label}: {MEASURED_CALLS} calls, median {} / p99 {} / max {}, fuel per call {}",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100]),
        ms(times[times.len() - 1]),
        fuel.map_or("not counted".into(), |f| f.to_string())
    );
}
