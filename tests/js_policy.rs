//! A policy written in JavaScript: plugins/examples/ou-allowlist-js, built with
//! jco (componentize-js) into the target directory, in a real server's policy
//! chain with micromdm's `scepclient` enrolling through it. scripts/setup
//! installs node, npm and the pinned jco tree (~/.cache/sceptic/jco).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::{Server, assert_issued_for, scepclient};
use sceptic_plugins::types::{Certificate, Csr, Decision, FailInfo, MessageType, Request};
use sceptic_plugins::{MatchedSecret, NoCertificates, PluginEngine, Policy, SecretBroker};

/// How long the CLI's check and the server's reload may take together: both
/// compile the 12 MB component (the StarlingMonkey engine in WebAssembly).
const JS_RELOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Builds ou_allowlist.wasm once per test run into <target>/example-plugins, and
/// again only when its source, its build inputs or the WIT is newer.
fn js_policy() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        common::build_example(
            "ou-allowlist-js",
            &["policy.js", "build.sh", "package-lock.json"],
            "ou_allowlist.wasm",
            "jco",
        )
    })
}

/// `--policy` for the JavaScript policy with these settings.
fn policy_spec(settings: &str) -> String {
    format!("{},{settings}", js_policy().display())
}

/// `Server::reconfigure` with time to compile the component twice.
fn reconfigure_slowly(server: &Server, args: &[&str]) {
    let generation = || {
        let (_, _, body) = common::http(server.port, "GET", "/health", &[], &[]);
        let body = String::from_utf8_lossy(&body).into_owned();
        body.rsplit("generation ")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let before = generation();
    server.cli_ok(args);
    let deadline = Instant::now() + JS_RELOAD_TIMEOUT;
    while generation() == before {
        assert!(
            Instant::now() < deadline,
            "server did not reload after {args:?}:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (status, _, body) = common::http(server.port, "GET", "/health", &[], &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

fn edit_policies(server: &Server, js_settings: &str) {
    reconfigure_slowly(
        server,
        &[
            "service",
            "edit",
            "default",
            "--client-ciphers",
            "aes128,aes192,aes256,des3,des",
            "--policy",
            "builtin:secret-policy",
            "--policy",
            &policy_spec(js_settings),
        ],
    );
}

#[test]
fn scepclient_enrolls_with_an_allowed_ou_and_is_refused_with_another() {
    let server = Server::start("js-policy");
    edit_policies(&server, "allowed-ous=MDM");

    // scepclient sends OU=MDM (its -ou default): the secret policy and this one
    // both allow.
    let enrolled = scepclient(&server, "default", &server.secret, "js-device-1");
    let cert = enrolled.dir.join("cert.pem");
    assert!(
        cert.exists(),
        "no certificate: {}\n{}",
        enrolled.output,
        server.log_text()
    );
    assert_issued_for(&server, &cert, &enrolled.dir.join("key.pem"), "OU=MDM");
    assert_eq!(server.count("select count(*) from certificates"), 1);

    // Only OU=Lab allowed: the same client is refused, whatever its secret.
    edit_policies(&server, "allowed-ous=Lab");
    let secret = server.new_secret("default");
    let refused = scepclient(&server, "default", &secret, "js-device-2");
    assert!(
        refused.output.contains("failInfo: badRequest"),
        "{}",
        refused.output
    );
    assert!(!refused.dir.join("cert.pem").exists());
    assert_eq!(server.count("select count(*) from certificates"), 1);
    let audit = server.audit_events();
    assert!(
        audit.contains(r#"OU "MDM" of "#) && audit.contains("is not in allowed-ous (Lab)"),
        "the policy's reason reaches the audit log:\n{audit}"
    );
}

#[test]
fn an_unknown_setting_is_refused_by_name() {
    let server = Server::start("js-policy-keys");
    let refused = server.cli(&[
        "service",
        "edit",
        "default",
        "--policy",
        "builtin:secret-policy",
        "--policy",
        &policy_spec("allowed-ous=MDM,colour=blue"),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "an unknown key was accepted");
    assert!(
        stderr.contains(r#"ou-allowlist has no setting "colour""#),
        "{stderr}"
    );
    // Without allowed-ous the policy would decide nothing: refused too.
    let refused = server.cli(&[
        "service",
        "edit",
        "default",
        "--policy",
        &js_policy().display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("ou-allowlist needs allowed-ous"),
        "{stderr}"
    );
}

/// A secrets broker with no secret: this policy never asks.
struct NoSecrets;

impl SecretBroker for NoSecrets {
    fn global_mode(&self) -> bool {
        false
    }
    fn match_challenge(&self) -> Option<MatchedSecret> {
        None
    }
}

fn request(subject: &str) -> Request {
    Request {
        service: "default".into(),
        message_type: MessageType::PkcsReq,
        transaction_id: "tx".into(),
        csr: Csr {
            der: Vec::new(),
            subject: subject.into(),
            sans: Vec::new(),
            key_algorithm: "rsa".into(),
            key_bits: 2048,
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

fn load(allowed: &str) -> Policy {
    let engine = PluginEngine::new().unwrap();
    let config = BTreeMap::from([("allowed-ous".to_owned(), allowed.to_owned())]);
    Policy::load(&engine, js_policy().to_str().unwrap(), config, "default").unwrap()
}

fn decide(policy: &Policy, subject: &str) -> String {
    let evaluation = policy
        .evaluate(
            "default".into(),
            &request(subject),
            Arc::new(NoSecrets),
            Arc::new(NoCertificates),
        )
        .expect("the policy answers");
    match evaluation.decision {
        Decision::Allow => "allow".into(),
        Decision::Abstain => "abstain".into(),
        Decision::Pending(queue) => format!("pending:{queue}"),
        Decision::Deny(denial) => {
            assert!(matches!(denial.fail_info, FailInfo::BadRequest));
            format!("deny:{}", denial.reason)
        }
    }
}

#[test]
fn decides_on_the_subjects_ous() {
    let policy = load(" MDM , Lab");
    assert_eq!(policy.identity().wit, "0.2");
    assert_eq!(decide(&policy, "CN=a,OU=MDM,O=Example,C=US"), "allow");
    assert_eq!(decide(&policy, "CN=a,OU=Lab+OU=MDM"), "allow");
    assert_eq!(decide(&policy, "CN=a,O=Example"), "abstain");
    // RFC 4514 escapes and a hex (DER UTF8String "MDM") value.
    assert_eq!(decide(&policy, r"CN=a\,OU=Lab,O=Example"), "abstain");
    assert_eq!(decide(&policy, "CN=a,ou=#0c034d444d"), "allow");
    assert_eq!(
        decide(&policy, r"CN=a,OU=R\26D,O=Example"),
        r#"deny:OU "R&D" of CN=a,OU=R\26D,O=Example is not in allowed-ous (MDM, Lab)"#
    );
    // One OU outside the list is enough to deny.
    assert!(decide(&policy, "CN=a,OU=MDM,OU=mdm").starts_with(r#"deny:OU "mdm" of "#));
}

/// Calls per measurement in `js_policy_cost`.
const MEASURED_CALLS: usize = 200;

/// What one call into the JavaScript policy costs in the host: a fresh instance,
/// `init`, then `evaluate`, as for every request. Prints the numbers; asserts
/// none. Run:
/// `cargo test -p sceptic --test js_policy -- --ignored --nocapture js_policy_cost`
#[test]
#[ignore = "a measurement, not a test: run it by name"]
fn js_policy_cost() {
    let engine = PluginEngine::new().unwrap();
    let config = BTreeMap::from([("allowed-ous".to_owned(), "MDM".to_owned())]);
    let started = Instant::now();
    let policy = Policy::load(&engine, js_policy().to_str().unwrap(), config, "default").unwrap();
    println!("load (compile + link + init): {:?}", started.elapsed());
    let size = std::fs::metadata(js_policy()).unwrap().len();
    println!("component: {size} bytes");
    let subject = "CN=cost-1,OU=MDM,O=Example,C=US";
    let mut times: Vec<Duration> = Vec::with_capacity(MEASURED_CALLS);
    for i in 0..MEASURED_CALLS + 5 {
        let started = Instant::now();
        let answer = decide(&policy, subject);
        let took = started.elapsed();
        assert_eq!(answer, "allow");
        if i >= 5 {
            times.push(took);
        }
    }
    times.sort();
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    println!(
        "{MEASURED_CALLS} calls (fresh instance + init + evaluate), median / p99 / max: {} / {} / {}",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100]),
        ms(times[times.len() - 1])
    );
}
