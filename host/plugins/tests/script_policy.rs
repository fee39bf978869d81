//! The real `script-policy` component under the real engine: its decisions, its
//! helpers, its load-time checks with line and column, and the warm instances it
//! runs in (reused after a normal return, dropped after any fault).

mod common;

use std::sync::{Arc, OnceLock};

use common::{Secrets, config, decide, load, no_certificates, request};
use sceptic_plugins::types::{Decision, Request, SanKind, SubjectAltName};
use sceptic_plugins::{Fault, LoadError, PluginEngine, Policy, limits, test_component_path};

const SCRIPT: &str = "builtin:script-policy";

/// One engine for the tests that do not count warm instances, so the 3 MB
/// component is compiled once (each engine has its own compile cache).
fn shared() -> &'static PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE.get_or_init(|| PluginEngine::new().unwrap())
}

fn script(
    engine: &PluginEngine,
    source: &str,
    settings: &[(&str, &str)],
) -> Result<Policy, LoadError> {
    let mut pairs = vec![("source", source)];
    pairs.extend_from_slice(settings);
    load(engine, SCRIPT, &pairs)
}

fn refusal(result: Result<Policy, LoadError>) -> String {
    match result {
        Err(LoadError::Init { detail, .. }) => detail,
        Err(other) => panic!("expected an init refusal, got {other}"),
        Ok(_) => panic!("expected an init refusal, the policy loaded"),
    }
}

/// A decision as text ("allow", "abstain", "pending:QUEUE", "deny:REASON"):
/// the generated `Decision` has no `PartialEq`.
fn decision_of(policy: &Policy, request: &Request) -> String {
    show(&decide(policy, request, no_certificates()))
}

fn show(decision: &Decision) -> String {
    match decision {
        Decision::Allow => "allow".into(),
        Decision::Abstain => "abstain".into(),
        Decision::Pending(queue) => format!("pending:{queue}"),
        Decision::Deny(denial) => format!("deny:{}", denial.reason),
    }
}

fn device(subject: &str, sans: &[&str]) -> Request {
    let mut r = request(subject, subject, true);
    r.csr.sans = sans
        .iter()
        .map(|v| SubjectAltName {
            kind: SanKind::Dns,
            value: v.to_string(),
        })
        .collect();
    r
}

fn denied_with(decision: &str, text: &str) -> bool {
    decision.starts_with("deny:") && decision.contains(text)
}

#[test]
fn results_map_to_decisions() {
    let engine = shared();
    let r = device("CN=a", &[]);
    for (source, expected) in [
        ("true", "abstain"),
        ("'abstain'", "abstain"),
        ("'allow'", "allow"),
        ("'pending'", "pending:test"),
        ("'pending:vpn-queue'", "pending:vpn-queue"),
    ] {
        let policy = script(engine, source, &[]).unwrap();
        assert_eq!(decision_of(&policy, &r), expected, "{source}");
    }
    let deny = script(engine, "'deny:too weak: 1024 bits'", &[]).unwrap();
    let d = decision_of(&deny, &r);
    assert!(
        denied_with(&d, "script-policy: too weak: 1024 bits"),
        "{d:?}"
    );
    let false_ = script(engine, "request.csr.key_bits > 4096", &[]).unwrap();
    assert!(denied_with(&decision_of(&false_, &r), "does not satisfy"));
}

#[test]
fn an_error_while_evaluating_denies() {
    let engine = shared();
    // The sample request has SANs, so the policy loads; this request has none.
    let policy = script(engine, "request.csr.sans[1].value == ''", &[]).unwrap();
    let d = decision_of(&policy, &device("CN=a", &[]));
    assert!(denied_with(&d, "failed on this request"), "{d:?}");
    // A result that is no decision, on a request unlike the sample.
    let policy = script(engine, "request.csr.key_bits == 2048 ? true : 'dney'", &[]).unwrap();
    let mut weak = device("CN=a", &[]);
    weak.csr.key_bits = 1024;
    assert!(denied_with(&decision_of(&policy, &weak), "not a decision"));
}

#[test]
fn every_request_field_is_readable() {
    let engine = shared();
    let source = "[request.service, request.message_type, request.transaction_id, \
        request.csr.subject, request.csr.sans.map(s, s.kind + s.value), request.csr.key_algorithm, \
        request.csr.key_bits, request.csr.challenge_present, request.signer.subject, \
        request.signer.issuer, request.signer.serial, request.signer.not_before, \
        request.signer.not_after, request.signer.self_signed, request.signer.key_usage, \
        request.http_method, request.client_address, request.received_at].size() == 18 \
        && request.message_type == 'pkcs-req' && request.csr.sans.all(s, s.kind == 'dns')";
    let policy = script(engine, source, &[]).unwrap();
    assert_eq!(
        decision_of(&policy, &device("CN=a", &["a.example.com"])),
        "abstain"
    );
}

/// Each call builds only the fields a policy reads: partial reads, presence
/// tests, indexes, macro variables and `request` used whole all see theirs.
#[test]
fn a_policy_sees_every_field_it_reads() {
    let engine = shared();
    let mut r = device("CN=a", &["a.example.com"]);
    r.signer.key_usage = vec!["digitalSignature".into()];
    for source in [
        "request.signer.key_usage == ['digitalSignature'] && request.csr.sans[0].value == 'a.example.com'",
        "has(request.csr.subject) && has(request.signer.serial)",
        "[1].all(request, request > 0) && request.csr.key_bits == 2048",
        "size(request) == 8 && size(request.csr) == 5 && size(request.signer) == 7",
        "request.csr.sans.exists(s, s.kind == 'dns') && request.received_at == 0",
    ] {
        let policy = script(engine, source, &[]);
        let policy = policy.unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(decision_of(&policy, &r), "abstain", "{source}");
    }
}

#[test]
fn helpers() {
    let engine = shared();
    let check = |source: &str, request: &Request| {
        let policy = script(engine, source, &[]).unwrap();
        decision_of(&policy, request) == "abstain"
    };
    let r = device("CN=router\\,1+SN=x,O=Example", &[]);
    assert!(check("cn(request.csr.subject) == 'router,1'", &r));
    assert!(check(
        "request.signer.subject.cn() == 'router,1' && cn('O=x') == ''",
        &r
    ));
    let mut from = device("CN=a", &[]);
    from.client_address = "10.1.2.3".into();
    assert!(check("inCidr(request.client_address, '10.0.0.0/8')", &from));
    assert!(check(
        "!request.client_address.inCidr('192.168.0.0/16;172.16.0.0/12 2001:db8::/32')",
        &from
    ));
    assert!(check(
        "inCidr(request.client_address, ['192.0.2.1', '10.1.2.3'])",
        &from
    ));
    from.client_address = "::ffff:10.1.2.3".into();
    assert!(check(
        "inCidr(request.client_address, '10.1.0.0/16')",
        &from
    ));
    from.client_address = "2001:db8::1".into();
    assert!(check(
        "inCidr(request.client_address, '2001:db8::/32')",
        &from
    ));
    assert!(check(
        "inDomain('A.Example.com.', 'example.com') && inDomain('example.com', 'example.com') \
         && !inDomain('badexample.com', 'example.com') && !inDomain('com', 'example.com')",
        &from
    ));
    let mut at = device("CN=a", &[]);
    at.received_at = 1_768_392_000 + 5 * 3600 + 59; // Wednesday 2026-01-14, 17:00:59 UTC
    assert!(check(
        "utcHour(request.received_at) == 17 && request.received_at.utcWeekday() == 3",
        &at
    ));
    at.received_at = -1; // 1969-12-31T23:59:59Z, a Wednesday
    assert!(check(
        "utcHour(request.received_at) == 23 && utcWeekday(request.received_at) == 3",
        &at
    ));
}

#[test]
fn a_misspelled_field_is_refused_with_line_and_column() {
    let engine = shared();
    let dir = std::env::temp_dir().join(format!("sceptic-script-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("policy.cel");
    std::fs::write(
        &file,
        "// a comment\nrequest.csr.key_bits >= 2048 &&\n  request.csr.subjet != ''\n",
    )
    .unwrap();
    let path = file.to_str().unwrap().to_owned();
    let detail = refusal(load(engine, SCRIPT, &[("file", &path)]));
    assert!(
        detail.starts_with(&format!(
            "{path}:3:15: request.csr has no field \"subjet\" (fields: subject, sans,"
        )),
        "{detail}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_time_checks() {
    let engine = shared();
    // (policy, its settings, what the refusal must say)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "request.csr.sans.all(s, s.valeu != '')",
            &[],
            "source:1:27: a SAN (request.csr.sans[]) has no field \"valeu\"",
        ),
        (
            "request.csr.key_bits.x == 1",
            &[],
            "source:1:22: request.csr.key_bits is an int, which has no field \"x\"",
        ),
        (
            "requests.csr == 1",
            &[],
            "source:1:1: unknown variable \"requests\"",
        ),
        (
            "request.csr.subject.endswith('x')",
            &[],
            "source:1:21: unknown function \"endswith\"",
        ),
        (
            "inDomain(request.csr.subject, config.domian)",
            &[("domain", "x")],
            "config has no key \"domian\"",
        ),
        (
            "true",
            &[("domain", "x")],
            "source: the setting \"domain\" is never read",
        ),
        (
            "inCidr(request.client_address, '10.0.0.0/33')",
            &[],
            "source:1:32: inCidr: \"10.0.0.0/33\": the prefix length must be 0 to 32",
        ),
        (
            "inCidr(request.client_address, config.nets)",
            &[("nets", "10.0.0.0/8;nope")],
            "inCidr: \"nope\" is not a network",
        ),
        (
            "request.csr.key_bits >= '2048'",
            &[],
            "fails on a sample request",
        ),
        ("request.csr.key_bits", &[], "not a decision"),
        ("request.csr.key_bits >=", &[], "source:1:24: Syntax error"),
    ];
    for (source, settings, expected) in cases {
        let detail = refusal(script(engine, source, settings));
        assert!(detail.contains(expected), "{source}: {detail}");
    }
    // Presence tests, optional settings and computed keys are fine.
    let policy = script(
        engine,
        "has(config.queue) ? 'pending:' + config.queue : config['mode'] == 'x'",
        &[("mode", "x")],
    );
    assert!(policy.is_ok(), "{:?}", policy.err().map(|e| e.to_string()));
    let whole = script(engine, "size(config) == 2", &[("a", "1"), ("b", "2")]);
    assert!(whole.is_ok(), "{:?}", whole.err().map(|e| e.to_string()));
    let missing = refusal(load(engine, SCRIPT, &[]));
    assert!(
        missing.contains("file=/absolute/path/policy.cel"),
        "{missing}"
    );
}

#[test]
fn calls_reuse_a_warm_instance_and_agree_with_fresh_ones() {
    let engine = PluginEngine::new().unwrap();
    let source =
        "request.csr.sans.all(s, inDomain(s.value, config.domain)) ? true : 'pending:review'";
    let warm = script(&engine, source, &[("domain", "example.com")]).unwrap();
    assert_eq!(
        warm.warm_instances(),
        1,
        "the load-time instance stays warm"
    );
    let fresh = script(&engine, source, &[("domain", "example.com")])
        .unwrap()
        .with_instance_reuse(false);
    let inside = device("CN=a", &["a.example.com"]);
    let outside = device("CN=a", &["a.example.org"]);
    for _ in 0..50 {
        for r in [&inside, &outside] {
            assert_eq!(decision_of(&warm, r), decision_of(&fresh, r));
        }
    }
    assert_eq!(decision_of(&warm, &outside), "pending:review");
    assert_eq!((warm.warm_instances(), fresh.warm_instances()), (1, 0));
    // Other plugins keep a fresh instance per call.
    let secret = load(&engine, "builtin:secret-policy", &[]).unwrap();
    assert_eq!(secret.warm_instances(), 0);
}

#[test]
fn a_warm_instance_past_half_its_memory_cap_is_retired() {
    let engine = PluginEngine::new().unwrap();
    let source = "request.csr.key_bits >= 2048";
    let roomy = script(&engine, source, &[]).unwrap();
    // A Rust guest reserves a 1 MiB stack: under a 2 MiB cap, more than half.
    const MIB: &str = "2";
    let tight = script(&engine, source, &[("sceptic.memory-mib", MIB)]).unwrap();
    assert_eq!(tight.limits().memory_cap_bytes, 2 << 20);
    for _ in 0..3 {
        let request = request("CN=a", "CN=a", true);
        assert_eq!(decision_of(&roomy, &request), "abstain");
        assert_eq!(decision_of(&tight, &request), "abstain");
    }
    assert_eq!(roomy.warm_instances(), 1);
    assert_eq!(
        tight.warm_instances(),
        0,
        "an instance past half of its {MIB} MiB cap must not be kept"
    );
}

#[test]
fn a_faulted_instance_is_never_reused() {
    let engine = PluginEngine::new().unwrap();
    let path = test_component_path("fault-policy");
    let path = path.to_str().unwrap();
    let most_fuel = limits::MAX_POLICY_FUEL.to_string();
    let settings: [(&[(&str, &str)], &str); 4] = [
        (&[("fault", "trap")], "trap"),
        (&[("fault", "memory")], "out-of-memory"),
        (
            &[
                ("fault", "loop"),
                ("sceptic.deadline-ms", "200"),
                ("sceptic.fuel", &most_fuel),
            ],
            "timeout",
        ),
        (
            &[("fault", "loop"), ("sceptic.fuel", "5000000")],
            "out-of-fuel",
        ),
    ];
    for (settings, expected) in settings {
        let fault = settings[0].1;
        let policy = load(&engine, path, settings)
            .unwrap()
            .with_instance_reuse(true);
        for _ in 0..2 {
            let got = policy
                .evaluate(
                    "test".into(),
                    &request("CN=a", "CN=a", true),
                    Arc::new(Secrets { matches: false }),
                    no_certificates(),
                )
                .err()
                .map(|f: Fault| f.kind());
            assert_eq!(got, Some(expected), "{fault}");
            assert_eq!(
                policy.warm_instances(),
                0,
                "{fault}: the faulted instance was kept"
            );
        }
    }
    let healthy = load(&engine, path, &[("fault", "none")])
        .unwrap()
        .with_instance_reuse(true);
    for _ in 0..3 {
        assert_eq!(
            decision_of(&healthy, &request("CN=a", "CN=a", true)),
            "abstain"
        );
        assert_eq!(healthy.warm_instances(), 1);
    }
}

#[test]
fn a_warm_instance_forgets_the_previous_calls_secret() {
    let engine = PluginEngine::new().unwrap();
    let policy = Policy::load(&engine, "builtin:secret-policy", config(&[]), "test")
        .unwrap()
        .with_instance_reuse(true);
    let mut r = request("CN=a", "CN=a", true);
    r.csr.challenge_present = true;
    let first = policy
        .evaluate(
            "test".into(),
            &r,
            Arc::new(Secrets { matches: true }),
            no_certificates(),
        )
        .unwrap();
    assert_eq!(
        (show(&first.decision), first.claimed.map(|c| c.id)),
        ("allow".into(), Some(7))
    );
    let second = policy
        .evaluate(
            "test".into(),
            &r,
            Arc::new(Secrets { matches: false }),
            no_certificates(),
        )
        .unwrap();
    assert!(
        matches!(second.decision, Decision::Deny(_)),
        "{:?}",
        second.decision
    );
    assert_eq!(
        second.claimed, None,
        "the claim of the previous request leaked"
    );
}
