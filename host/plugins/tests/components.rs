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
    fault_with_limits(engine, fault, &[])
}

/// The fault policy with host limit settings beside its own.
fn fault_with_limits(
    engine: &PluginEngine,
    fault: &str,
    limits: &[(&str, &str)],
) -> (ChainDecision, std::time::Duration) {
    let path = test_component_path("fault-policy");
    let mut settings = vec![("fault", fault)];
    settings.extend_from_slice(limits);
    let chain = chain(engine, &[(path.to_str().unwrap(), &settings)]);
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
    // Under the default limits a tight loop meets its fuel or its deadline,
    // whichever comes first on this machine's load; both are faults.
    assert!(
        matches!(
            looped.faults[0].1,
            Fault::Timeout(limits::POLICY_DEADLINE_MS) | Fault::OutOfFuel(limits::POLICY_FUEL)
        ),
        "{:?}",
        looped.faults
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
    assert_eq!(
        hoarded.faults[0].1,
        Fault::OutOfMemory(limits::MEMORY_CAP_BYTES >> 20)
    );

    // The engine keeps serving: a good policy still decides afterwards.
    let good = chain(&engine, &[("builtin:secret-policy", &[])]);
    assert_eq!(decide(&good, Some("right")).verdict, Verdict::Allow);
}

#[test]
fn each_limit_set_per_plugin_is_the_one_that_stops_it() {
    let engine = PluginEngine::new().unwrap();

    // Little fuel and the most time: fuel stops the loop, long before the deadline.
    let (out_of_fuel, took) = fault_with_limits(
        &engine,
        "loop",
        &[
            ("sceptic.fuel", "5000000"),
            ("sceptic.deadline-ms", "10000"),
        ],
    );
    assert!(matches!(out_of_fuel.verdict, Verdict::Deny { .. }));
    assert_eq!(out_of_fuel.faults[0].1, Fault::OutOfFuel(5_000_000));
    assert!(took.as_millis() < 2_000, "took {took:?}");

    // The most fuel and a short deadline: the deadline stops it, at that deadline.
    let (timed_out, took) = fault_with_limits(
        &engine,
        "loop",
        &[
            ("sceptic.fuel", &limits::MAX_POLICY_FUEL.to_string()),
            ("sceptic.deadline-ms", "100"),
        ],
    );
    assert_eq!(timed_out.faults[0].1, Fault::Timeout(100));
    assert!(
        // The first epoch tick may come up to a tick early.
        ((100 - limits::EPOCH_TICK_MS) as u128..limits::POLICY_DEADLINE_MS as u128)
            .contains(&took.as_millis()),
        "took {took:?}"
    );

    // A smaller memory cap: the hoarder is stopped at 8 MiB and told so.
    let (hoarded, _) = fault_with_limits(&engine, "memory", &[("sceptic.memory-mib", "8")]);
    assert_eq!(hoarded.faults[0].1, Fault::OutOfMemory(8));
    assert!(hoarded.faults[0].1.to_string().contains("8 MiB"));
}

#[test]
fn a_policy_reports_the_fuel_it_burnt_and_runs_on_the_least_it_needs() {
    let engine = PluginEngine::new().unwrap();
    let policy = Policy::load(&engine, "builtin:secret-policy", BTreeMap::new(), "test").unwrap();
    assert_eq!(policy.limits().fuel, Some(limits::POLICY_FUEL));
    // The right secret: the policy allows and claims it.
    let evaluate = |policy: &Policy| {
        policy.evaluate(
            "test".into(),
            &request(true),
            Arc::new(OneSecret {
                challenge: Some("right"),
            }),
            Arc::new(NoCertificates),
        )
    };
    let evaluation = evaluate(&policy).unwrap();
    let used = evaluation.fuel_used.expect("policies count fuel");
    assert!(
        (1..limits::POLICY_FUEL / 1000).contains(&used),
        "secret-policy burnt {used}"
    );

    // Exactly that much fuel is enough for the same call; a tenth of it is not.
    let with_fuel = |fuel: u64| {
        let config = BTreeMap::from([("sceptic.fuel".to_owned(), fuel.to_string())]);
        Policy::load(&engine, "builtin:secret-policy", config, "test")
            .map(|policy| evaluate(&policy).map(|e| e.decision))
    };
    let enough = with_fuel(used);
    assert!(matches!(enough, Ok(Ok(_))), "{used}: {enough:?}");
    let starved = with_fuel((used / 10).max(limits::MIN_POLICY_FUEL));
    assert!(
        starved.is_err() || matches!(starved, Ok(Err(Fault::OutOfFuel(_)))),
        "a tenth of the fuel should not do: {starved:?}"
    );
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
