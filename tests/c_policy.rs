//! A policy written in C: plugins/examples/min-key-c, built here with Debian's
//! clang + wasi-libc, `wit-bindgen c` and `wasm-tools component new` (WASI
//! preview1 reactor adapter) against WIT v0.2's `policy-plugin` world, loaded by a
//! real server beside builtin:secret-policy and exercised with micromdm's
//! `scepclient` (a 2048-bit RSA key). scripts/setup installs the tools.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::plugin_calls::{self, policy_request, print_cost};
use common::{Server, assert_issued_for, scepclient};
use sceptic_plugins::{PluginEngine, Policy};

/// Builds min_key.wasm once per test run into <target>/example-plugins, and again
/// only when its source, its build script or the WIT is newer than the component.
fn c_policy() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        common::build_example(
            "min-key-c",
            &["min_key.c", "build.sh"],
            "min_key.wasm",
            "clang, wasi-libc, wit-bindgen, wasm-tools and the WASI adapter",
        )
    })
}

/// `--policy PATH/min_key.wasm,SETTINGS`.
fn spec(settings: &str) -> String {
    format!("{},{settings}", c_policy().display())
}

/// `service edit default` with the secret policy, then the C policy with
/// `settings`. scepclient needs single DES.
fn edit_args(spec: &str) -> Vec<&str> {
    vec![
        "service",
        "edit",
        "default",
        "--client-ciphers",
        "aes128,aes192,aes256,des3,des",
        "--policy",
        "builtin:secret-policy",
        "--policy",
        spec,
    ]
}

#[test]
fn a_c_policy_passes_a_2048_bit_key_at_2048_and_refuses_it_at_3072() {
    let server = Server::start("c-policy");
    let at_2048 = spec("min-bits=2048");
    server.reconfigure(&edit_args(&at_2048));
    let listed = server.cli_ok(&["service", "list"]);
    assert!(listed.contains("min_key.wasm"), "{listed}");

    // The C policy abstains on a key as large as min-bits; the secret allows.
    let enrolled = scepclient(&server, "default", &server.secret, "c-policy-device-1");
    let cert = enrolled.dir.join("cert.pem");
    assert!(
        cert.exists(),
        "no certificate: {}\n{}",
        enrolled.output,
        server.log_text()
    );
    assert_issued_for(
        &server,
        &cert,
        &enrolled.dir.join("key.pem"),
        "CN=c-policy-device-1",
    );
    assert_eq!(server.count("select count(*) from certificates"), 1);

    // At 3072 the same client, with a valid secret, is refused: any deny wins.
    let at_3072 = spec("min-bits=3072");
    server.reconfigure(&edit_args(&at_3072));
    let secret = server.new_secret("default");
    let refused = scepclient(&server, "default", &secret, "c-policy-device-2");
    assert!(
        refused.output.contains("failInfo: badRequest"),
        "{}\n{}",
        refused.output,
        server.log_text()
    );
    assert!(!refused.dir.join("cert.pem").exists());
    assert_eq!(server.count("select count(*) from certificates"), 1);
    let audit = server.audit_events();
    assert!(
        audit.contains("key has 2048 bits, fewer than the 3072 bits min-key-c requires"),
        "the C policy's reason reaches the audit log:\n{audit}"
    );
}

#[test]
fn a_bad_min_bits_is_refused_by_service_edit() {
    let server = Server::start("c-policy-config");
    let cases: [(&str, &[&str]); 5] = [
        ("min-bits=lots", &["min-bits", "\"lots\""]),
        ("min-bits=0", &["min-bits", "\"0\""]),
        ("min-bits=1000000", &["min-bits", "\"1000000\""]),
        (
            "min-bits=2048,max-bits=4096,colour=red",
            &[
                "no setting",
                "\"max-bits\"",
                "\"colour\"",
                "(known: min-bits)",
            ],
        ),
        ("colour=red", &["no setting \"colour\""]),
    ];
    for (settings, expected) in cases {
        let bad = spec(settings);
        let refused = server.cli(&edit_args(&bad));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{settings} was accepted");
        for part in expected {
            assert!(
                stderr.contains(part),
                "{settings}: {part:?} not in {stderr}"
            );
        }
    }
    // Without min-bits at all.
    let refused = server.cli(&edit_args(c_policy().to_str().unwrap()));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a missing min-bits was accepted");
    assert!(stderr.contains("needs the setting min-bits"), "{stderr}");
    // Nothing changed: the default service keeps its policy.
    let listed = server.cli_ok(&["service", "list"]);
    assert!(!listed.contains("min_key.wasm"), "{listed}");
}

/// The example's decision cases (plugins/examples/min-key-c/cases) through the
/// built component, as an operator runs them: `sceptic policy test --plugin`.
#[test]
fn the_c_policy_decides_as_its_cases_say() {
    let out =
        common::policy_test_plugin(c_policy(), &common::repo_path("plugins/examples/min-key-c"));
    assert!(out.contains("4 cases, 4 passed, 0 failed"), "{out}");
    assert!(
        out.contains("denied by min_key@file: the CSR's ec key has 256 bits, fewer than the 3072"),
        "{out}"
    );
}

/// What one call into the C policy costs in the host: a fresh instance, `init`,
/// then `evaluate`, as for every request. Prints the numbers; asserts none. Run:
/// `cargo test --release -p sceptic --test c_policy -- --ignored --nocapture c_policy_cost`
#[test]
#[ignore = "a measurement, not a test: run it by name"]
fn c_policy_cost() {
    let engine = PluginEngine::new().unwrap();
    let config = BTreeMap::from([("min-bits".to_owned(), "2048".to_owned())]);
    let policy = Policy::load(&engine, c_policy().to_str().unwrap(), config, "default").unwrap();
    let request = policy_request("CN=cost-1,O=Example", 2048, Vec::new());
    print_cost("C policy (fresh instance + init + evaluate)", || {
        let (answer, fuel) = plugin_calls::decide(&policy, &request);
        assert_eq!(answer, "abstain");
        fuel
    });
}
