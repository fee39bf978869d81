//! The real built-in and fault components, run through the real engine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use sceptic_plugins::types::{Certificate, Csr, FailInfo, MessageType, Request};
use sceptic_plugins::{
    ChainDecision, Fault, MatchedSecret, NoCertificates, PluginEngine, Policy, PolicyChain,
    SecretBroker, SecretKind, Verdict, limits, test_component_path,
};

/// A broker that knows one secret value: a test double for the store-backed one.
struct OneSecret {
    challenge: Option<&'static str>,
}

impl SecretBroker for OneSecret {
    fn global_mode(&self) -> bool {
        false
    }
    fn match_challenge(&self) -> Option<MatchedSecret> {
        (self.challenge == Some("right")).then_some(MatchedSecret {
            id: 7,
            kind: SecretKind::SingleUse,
            sender_matches: true,
        })
    }
}

fn request(challenge: bool) -> Request {
    Request {
        service: "test".into(),
        message_type: MessageType::PkcsReq,
        transaction_id: "tx".into(),
        csr: Csr {
            der: vec![],
            subject: "CN=device".into(),
            sans: vec![],
            key_algorithm: "rsa".into(),
            key_bits: 2048,
            challenge_present: challenge,
        },
        signer: Certificate {
            der: vec![],
            subject: "CN=device".into(),
            issuer: "CN=device".into(),
            serial: "01".into(),
            not_before: 0,
            not_after: 0,
            self_signed: true,
            key_usage: vec![],
        },
        http_method: "POST".into(),
        client_address: "127.0.0.1".into(),
        received_at: 0,
    }
}

fn chain(engine: &PluginEngine, specs: &[(&str, &[(&str, &str)])]) -> PolicyChain {
    PolicyChain::new(
        specs
            .iter()
            .map(|(spec, config)| {
                let config: BTreeMap<_, _> = config
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                Policy::load(engine, spec, config, "test").unwrap()
            })
            .collect(),
    )
}

fn decide(chain: &PolicyChain, challenge: Option<&'static str>) -> ChainDecision {
    chain.evaluate(
        "test".into(),
        &request(challenge.is_some()),
        Arc::new(OneSecret { challenge }),
        Arc::new(NoCertificates),
    )
}

#[test]
fn secret_policy_allows_the_right_secret_and_claims_it() {
    let engine = PluginEngine::new().unwrap();
    let chain = chain(&engine, &[("builtin:secret-policy", &[])]);
    let allowed = decide(&chain, Some("right"));
    assert_eq!(allowed.verdict, Verdict::Allow);
    assert_eq!(allowed.claimed.map(|c| c.id), Some(7));
    assert_eq!(allowed.decided_by, "secret-policy@0.1.0");

    let wrong = decide(&chain, Some("wrong"));
    assert!(matches!(
        wrong.verdict,
        Verdict::Deny {
            fail_info: FailInfo::BadRequest,
            ..
        }
    ));
    assert!(wrong.claimed.is_none());

    // No challenge at all: the policy abstains and the chain denies by default.
    let none = decide(&chain, None);
    assert!(matches!(none.verdict, Verdict::Deny { .. }));
    assert_eq!(none.decided_by, "default-deny");
}

#[test]
fn unknown_configuration_key_refuses_the_plugin() {
    let engine = PluginEngine::new().unwrap();
    let mut config = BTreeMap::new();
    config.insert("colour".to_string(), "blue".to_string());
    let err = Policy::load(&engine, "builtin:secret-policy", config, "test")
        .err()
        .expect("an unknown key must be refused");
    assert!(err.to_string().contains("colour"), "{err}");
}

fn fault_of(engine: &PluginEngine, fault: &str) -> (ChainDecision, std::time::Duration) {
    let path = test_component_path("fault-policy");
    let chain = chain(engine, &[(path.to_str().unwrap(), &[("fault", fault)])]);
    let started = Instant::now();
    let decision = decide(&chain, Some("right"));
    (decision, started.elapsed())
}

#[test]
fn looping_trapping_and_hoarding_policies_deny_within_their_limits() {
    let engine = PluginEngine::new().unwrap();

    let (looped, took) = fault_of(&engine, "loop");
    assert!(matches!(
        looped.verdict,
        Verdict::Deny {
            fail_info: FailInfo::BadRequest,
            ..
        }
    ));
    assert_eq!(
        looped.faults[0].1,
        Fault::Timeout(limits::POLICY_DEADLINE_MS)
    );
    assert!(
        took.as_millis() < (limits::POLICY_DEADLINE_MS * 3).into(),
        "took {took:?}"
    );

    let (trapped, _) = fault_of(&engine, "trap");
    assert!(matches!(trapped.verdict, Verdict::Deny { .. }));
    assert!(
        matches!(trapped.faults[0].1, Fault::Trap(_)),
        "{:?}",
        trapped.faults
    );

    let (hoarded, _) = fault_of(&engine, "memory");
    assert!(matches!(hoarded.verdict, Verdict::Deny { .. }));
    assert_eq!(hoarded.faults[0].1, Fault::OutOfMemory);

    // The engine keeps serving: a good policy still decides afterwards.
    let good = chain(&engine, &[("builtin:secret-policy", &[])]);
    assert_eq!(decide(&good, Some("right")).verdict, Verdict::Allow);
}

#[test]
fn a_deny_anywhere_beats_an_allow() {
    let engine = PluginEngine::new().unwrap();
    let path = test_component_path("fault-policy");
    let both = chain(
        &engine,
        &[
            ("builtin:secret-policy", &[]),
            (path.to_str().unwrap(), &[("fault", "trap")]),
        ],
    );
    assert!(matches!(
        decide(&both, Some("right")).verdict,
        Verdict::Deny { .. }
    ));
    let abstaining = chain(
        &engine,
        &[
            (path.to_str().unwrap(), &[("fault", "none")]),
            ("builtin:secret-policy", &[]),
        ],
    );
    assert_eq!(decide(&abstaining, Some("right")).verdict, Verdict::Allow);
}
