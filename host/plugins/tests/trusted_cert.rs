//! The `trusted-cert-policy` built-in (WIT v0.2) under the real engine, with a test
//! double for the certificate broker the server lends.

mod common;

use std::sync::Arc;

use common::{Anchors, decide, load, request};
use sceptic_plugins::types::{Decision, FailInfo};
use sceptic_plugins::{MAX_VERIFY_CERTIFICATE_BYTES, PluginEngine};

const SPEC: &str = "builtin:trusted-cert-policy";

#[test]
fn self_signed_signer_abstains_without_asking_the_host() {
    let engine = PluginEngine::new().unwrap();
    let policy = load(&engine, SPEC, &[]).unwrap();
    assert_eq!(policy.identity().wit, "0.2");
    let anchors = Arc::new(Anchors::verifying("service-ca"));
    let first = request("CN=device", "CN=device", true);
    assert!(matches!(
        decide(&policy, &first, anchors.clone()),
        Decision::Abstain
    ));
    assert!(anchors.asked().is_empty());
}

#[test]
fn verified_signer_renews_its_own_subject() {
    let engine = PluginEngine::new().unwrap();
    let renewal = request("CN=device", "CN=device", false);

    let policy = load(&engine, SPEC, &[]).unwrap();
    let anchors = Arc::new(Anchors::verifying("service-ca"));
    assert!(matches!(
        decide(&policy, &renewal, anchors.clone()),
        Decision::Allow
    ));
    // The first configured set verified it: the second is not asked.
    assert_eq!(anchors.asked(), ["service-ca"]);

    // Verified by the second set after the first refused.
    let anchors = Arc::new(Anchors::verifying("trusted"));
    assert!(matches!(
        decide(&policy, &renewal, anchors.clone()),
        Decision::Allow
    ));
    assert_eq!(anchors.asked(), ["service-ca", "trusted"]);

    let no_renewal = load(&engine, SPEC, &[("allow-renewal", "false")]).unwrap();
    assert!(matches!(
        decide(
            &no_renewal,
            &renewal,
            Arc::new(Anchors::verifying("service-ca"))
        ),
        Decision::Abstain
    ));
}

#[test]
fn another_subject_needs_allow_new_issuance() {
    let engine = PluginEngine::new().unwrap();
    let other = request("CN=another-device", "CN=device", false);
    let anchors = || Arc::new(Anchors::verifying("trusted"));

    let default = load(&engine, SPEC, &[]).unwrap();
    assert!(matches!(
        decide(&default, &other, anchors()),
        Decision::Abstain
    ));

    let issuing = load(&engine, SPEC, &[("allow-new-issuance", "true")]).unwrap();
    assert!(matches!(
        decide(&issuing, &other, anchors()),
        Decision::Allow
    ));

    // Renewal off, new issuance on: each flag governs its own case.
    let only_new = load(
        &engine,
        SPEC,
        &[("allow-renewal", "false"), ("allow-new-issuance", "true")],
    )
    .unwrap();
    assert!(matches!(
        decide(&only_new, &other, anchors()),
        Decision::Allow
    ));
    let renewal = request("CN=device", "CN=device", false);
    assert!(matches!(
        decide(&only_new, &renewal, anchors()),
        Decision::Abstain
    ));
}

#[test]
fn an_unverified_signer_is_denied_with_the_hosts_reason() {
    let engine = PluginEngine::new().unwrap();
    let policy = load(&engine, SPEC, &[]).unwrap();
    let renewal = request("CN=device", "CN=device", false);
    let anchors = Arc::new(Anchors::refusing("the certificate expired"));
    match decide(&policy, &renewal, anchors.clone()) {
        Decision::Deny(denial) => {
            assert_eq!(denial.fail_info, FailInfo::BadRequest);
            assert!(
                denial
                    .reason
                    .contains("the certificate expired (service-ca)")
                    && denial.reason.contains("the certificate expired (trusted)"),
                "{}",
                denial.reason
            );
        }
        other => panic!("expected a deny, got {other:?}"),
    }
    assert_eq!(anchors.asked(), ["service-ca", "trusted"]);

    // Only the configured sets are asked.
    let trusted_only = load(&engine, SPEC, &[("anchors", "trusted")]).unwrap();
    let anchors = Arc::new(Anchors::verifying("service-ca"));
    assert!(matches!(
        decide(&trusted_only, &renewal, anchors.clone()),
        Decision::Deny(_)
    ));
    assert_eq!(anchors.asked(), ["trusted"]);
}

#[test]
fn an_oversized_signer_is_refused_before_the_broker_sees_it() {
    let engine = PluginEngine::new().unwrap();
    let policy = load(&engine, SPEC, &[]).unwrap();
    let mut renewal = request("CN=device", "CN=device", false);
    renewal.signer.der = vec![0x30; MAX_VERIFY_CERTIFICATE_BYTES + 1];
    let anchors = Arc::new(Anchors::verifying("service-ca"));
    match decide(&policy, &renewal, anchors.clone()) {
        Decision::Deny(denial) => assert!(denial.reason.contains("64 KiB"), "{}", denial.reason),
        other => panic!("expected a deny, got {other:?}"),
    }
    assert!(anchors.asked().is_empty());
}

#[test]
fn bad_configuration_is_refused_naming_the_setting() {
    let engine = PluginEngine::new().unwrap();
    for (pairs, named) in [
        (&[("colour", "blue")][..], "colour"),
        (&[("allow-renewal", "yes")][..], "allow-renewal"),
        (&[("allow-new-issuance", "1")][..], "allow-new-issuance"),
        (&[("anchors", "service-ca,everyone")][..], "everyone"),
        (&[("anchors", "")][..], "anchors"),
    ] {
        let err = load(&engine, SPEC, pairs)
            .err()
            .unwrap_or_else(|| panic!("{pairs:?} must be refused"));
        assert!(err.to_string().contains(named), "{pairs:?}: {err}");
    }
    // Both sets, spaces and a repeat are fine.
    load(&engine, SPEC, &[("anchors", "trusted, service-ca,trusted")]).unwrap();
}
