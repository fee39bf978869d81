//! What one CEL policy call costs (instantiate + call), warm and fresh: prints the
//! median and p99 over many calls of the real `script-policy` under the real
//! engine, beside `secret-policy` (a fresh instance per call) for scale.
//!
//! Run: `cargo bench -p sceptic-plugins --bench script_policy`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sceptic_plugins::types::{Certificate, Csr, MessageType, Request, SanKind, SubjectAltName};
use sceptic_plugins::{MatchedSecret, NoCertificates, PluginEngine, Policy, SecretBroker};

/// Calls measured on the warm path: enough for a stable p99 (20 samples above it).
const WARM_CALLS: usize = 2_000;
/// Calls measured on the fresh paths, about a millisecond each.
const FRESH_CALLS: usize = 200;
/// Calls run before measuring, so page faults and caches settle.
const WARM_UP_CALLS: usize = 50;

/// The operator's kind of policy: names under a domain, a key size, a network.
const POLICY: &str = r#"
!inCidr(request.client_address, config.blocked)
  && inDomain(cn(request.csr.subject), config.domain)
  && request.csr.sans.all(s, s.kind == "dns" && inDomain(s.value, config.domain))
  && request.csr.key_bits >= 2048
    ? true
    : "deny:outside example.com, weak key or blocked network"
"#;

struct NoSecrets;

impl SecretBroker for NoSecrets {
    fn global_mode(&self) -> bool {
        false
    }
    fn match_challenge(&self) -> Option<MatchedSecret> {
        None
    }
}

fn request() -> Request {
    let subject = "CN=device-17.example.com,O=Example".to_owned();
    Request {
        service: "bench".into(),
        message_type: MessageType::PkcsReq,
        transaction_id: "5f2c1a".into(),
        csr: Csr {
            der: vec![0x30; 700],
            subject: subject.clone(),
            sans: ["device-17.example.com", "device-17.lab.example.com"]
                .iter()
                .map(|v| SubjectAltName {
                    kind: SanKind::Dns,
                    value: v.to_string(),
                })
                .collect(),
            key_algorithm: "rsa".into(),
            key_bits: 2048,
            challenge_present: true,
        },
        signer: Certificate {
            der: vec![0x30; 800],
            subject: subject.clone(),
            issuer: subject,
            serial: "01".into(),
            not_before: 1_768_392_000,
            not_after: 1_799_928_000,
            self_signed: true,
            key_usage: vec!["digitalSignature".into(), "keyEncipherment".into()],
        },
        http_method: "POST".into(),
        client_address: "192.0.2.7".into(),
        received_at: 1_768_392_000,
    }
}

fn measure(label: &str, policy: &Policy, calls: usize) {
    let request = request();
    let mut fuel = 0;
    let mut call = || {
        let started = Instant::now();
        let evaluation = policy
            .evaluate(
                "bench".into(),
                &request,
                Arc::new(NoSecrets),
                Arc::new(NoCertificates),
            )
            .unwrap_or_else(|fault| panic!("{label}: {fault}"));
        let took = started.elapsed();
        fuel = fuel.max(evaluation.fuel_used.unwrap_or(0));
        took
    };
    for _ in 0..WARM_UP_CALLS {
        call();
    }
    let mut times: Vec<Duration> = (0..calls).map(|_| call()).collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).min(times.len()) - 1];
    println!(
        "{label:<44} calls {calls:>5}  median {:>8.1} µs  p99 {:>8.1} µs  max {:>8.1} µs  fuel {fuel}",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6,
    );
}

fn main() {
    let engine = PluginEngine::new().expect("engine");
    let settings: BTreeMap<String, String> = [
        ("source", POLICY),
        ("domain", "example.com"),
        ("blocked", "198.51.100.0/24"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let started = Instant::now();
    let warm = Policy::load(&engine, "builtin:script-policy", settings.clone(), "bench")
        .expect("script-policy loads");
    println!(
        "script-policy load (compile + first instance + init): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    measure(
        "script-policy, warm instance (the default)",
        &warm,
        WARM_CALLS,
    );
    let trivial: BTreeMap<String, String> = [("source".to_owned(), "true".to_owned())].into();
    let trivial = Policy::load(&engine, "builtin:script-policy", trivial, "bench")
        .expect("script-policy loads");
    measure(
        "script-policy `true`, warm (fixed cost)",
        &trivial,
        WARM_CALLS,
    );
    let fresh = Policy::load(&engine, "builtin:script-policy", settings, "bench")
        .expect("script-policy loads")
        .with_instance_reuse(false);
    measure(
        "script-policy, fresh instance per call",
        &fresh,
        FRESH_CALLS,
    );
    let secret = Policy::load(&engine, "builtin:secret-policy", BTreeMap::new(), "bench")
        .expect("secret-policy loads");
    measure(
        "secret-policy, fresh instance per call",
        &secret,
        FRESH_CALLS,
    );
    // A tiny guest on the warm path: what the host and the call ABI cost.
    let secret = secret.with_instance_reuse(true);
    measure(
        "secret-policy, warm (host and ABI share)",
        &secret,
        WARM_CALLS,
    );
}
