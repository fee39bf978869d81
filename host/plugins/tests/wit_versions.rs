//! Plugins built against different WIT versions run side by side: `legacy-policy`
//! stays on v0.1 for good, the built-ins are on v0.2 (wit/README.md).

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Anchors, Secrets, decide, load, no_certificates, request};
use der::Decode;
use sceptic_keys::{RsaKey, SignatureDigest};
use sceptic_plugins::types::Decision;
use sceptic_plugins::{
    CaSigner, IssueOutcome, Issuer, PluginEngine, PolicyChain, Verdict, builtin_names,
    test_component_path,
};

fn legacy() -> String {
    test_component_path("legacy-policy")
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_v0_1_plugin_loads_and_decides() {
    let engine = PluginEngine::new().unwrap();
    let policy = load(&engine, &legacy(), &[("prefix", "CN=legacy-")]).unwrap();
    assert_eq!(policy.identity().wit, "0.1");
    let ours = request("CN=legacy-router", "CN=legacy-router", true);
    assert!(matches!(
        decide(&policy, &ours, no_certificates()),
        Decision::Allow
    ));
    let theirs = request("CN=router", "CN=router", true);
    assert!(matches!(
        decide(&policy, &theirs, no_certificates()),
        Decision::Abstain
    ));

    for (pairs, named) in [
        (&[("prefix", "CN=x"), ("colour", "blue")][..], "colour"),
        (&[][..], "prefix"),
    ] {
        let err = load(&engine, &legacy(), pairs)
            .err()
            .unwrap_or_else(|| panic!("{pairs:?} must be refused"));
        assert!(err.to_string().contains(named), "{pairs:?}: {err}");
    }
}

#[test]
fn built_ins_are_on_the_newest_version() {
    let engine = PluginEngine::new().unwrap();
    for name in builtin_names() {
        let spec = format!("builtin:{name}");
        if name.ends_with("-issuer") {
            continue; // Checked below with a CA key.
        }
        // script-policy refuses to load without a policy to run.
        let settings: &[(&str, &str)] = match name {
            "script-policy" => &[("source", "true")],
            _ => &[],
        };
        let policy = load(&engine, &spec, settings).unwrap();
        assert_eq!(policy.identity().wit, "0.2", "{spec}");
    }
}

#[test]
fn v0_1_and_v0_2_policies_share_a_chain() {
    let engine = PluginEngine::new().unwrap();
    let chain = PolicyChain::new(vec![
        load(&engine, &legacy(), &[("prefix", "CN=legacy-")]).unwrap(),
        load(&engine, "builtin:secret-policy", &[]).unwrap(),
        load(&engine, "builtin:trusted-cert-policy", &[]).unwrap(),
    ]);
    let run = |request: &_, secret: bool, anchors: Arc<Anchors>| {
        chain.evaluate(
            "test".into(),
            request,
            Arc::new(Secrets { matches: secret }),
            anchors,
        )
    };
    let refusing = || Arc::new(Anchors::refusing("not trusted"));

    // v0.1 allows; the v0.2 ones abstain (no challenge, self-signed).
    let legacy_allowed = run(
        &request("CN=legacy-router", "CN=legacy-router", true),
        false,
        refusing(),
    );
    assert_eq!(legacy_allowed.verdict, Verdict::Allow);
    assert!(legacy_allowed.decided_by.starts_with("legacy_policy@"));

    // v0.1 abstains; a v0.2 one allows on the secret.
    let mut with_secret = request("CN=router", "CN=router", true);
    with_secret.csr.challenge_present = true;
    let secret_allowed = run(&with_secret, true, refusing());
    assert_eq!(secret_allowed.verdict, Verdict::Allow);
    assert!(secret_allowed.decided_by.starts_with("secret-policy@"));

    // v0.2 renewal by a verified certificate.
    let renewal = request("CN=router", "CN=router", false);
    let renewed = run(&renewal, false, Arc::new(Anchors::verifying("service-ca")));
    assert_eq!(renewed.verdict, Verdict::Allow);
    assert!(renewed.decided_by.starts_with("trusted-cert-policy@"));

    // A v0.2 deny beats a v0.1 allow: a foreign signer fails.
    let foreign = request("CN=legacy-router", "CN=legacy-router", false);
    let denied = run(&foreign, false, refusing());
    assert!(matches!(denied.verdict, Verdict::Deny { .. }));
    assert!(denied.decided_by.starts_with("trusted-cert-policy@"));
}

#[test]
fn a_component_of_no_supported_version_is_refused_naming_the_versions() {
    let engine = PluginEngine::new().unwrap();
    // An issuer exports no policy interface of any version.
    let issuer = test_component_path("deferred-issuer");
    let err = load(&engine, issuer.to_str().unwrap(), &[])
        .err()
        .expect("an issuer is not a policy");
    let text = err.to_string();
    assert!(
        text.contains("sceptic:plugin/policy@0.1.0") && text.contains("0.1, 0.2"),
        "{text}"
    );
}

/// A throwaway self-signed CA for issuer tests.
fn ca_signer() -> Arc<CaSigner> {
    let key = RsaKey::generate(2048).unwrap();
    let name = sceptic_x509::name_der("CN=Test CA").unwrap();
    let now = SystemTime::now();
    let template = sceptic_x509::CertificateTemplate {
        serial: vec![1],
        issuer: name.clone(),
        issuer_key_id: None,
        subject: name,
        subject_public_key_info: x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(
            &key.public_key_spki_der(),
        )
        .unwrap(),
        not_before: now - Duration::from_secs(60),
        not_after: now + Duration::from_secs(3600),
        ca: Some(Some(0)),
        key_usage: sceptic_x509::key_usage_from_names(["keyCertSign"]).unwrap(),
        extended_key_usage: Vec::new(),
        extra_extensions: Vec::new(),
    };
    let tbs = sceptic_x509::tbs_certificate_der(&template).unwrap();
    let signature = key.sign(SignatureDigest::Sha256, &tbs).unwrap();
    let certificate =
        sceptic_x509::assemble_certificate(&tbs, &sceptic_x509::sha256_with_rsa(), &signature)
            .unwrap();
    Arc::new(CaSigner::new(certificate, Arc::new(key)).unwrap())
}

#[test]
fn v0_2_issuers_load_and_answer() {
    let engine = PluginEngine::new().unwrap();
    let signer = ca_signer();
    let config = common::config(&[]);
    let local = Issuer::load(
        &engine,
        "builtin:local-ca-issuer",
        config.clone(),
        "test",
        signer.clone(),
    )
    .unwrap();
    assert_eq!(local.identity().wit, "0.2");
    assert_eq!(
        local.ca_certificates("test".into()).unwrap(),
        [signer.certificate_der().to_vec()]
    );

    let deferred = test_component_path("deferred-issuer");
    let deferred = Issuer::load(&engine, deferred.to_str().unwrap(), config, "test", signer)
        .unwrap()
        .with_certificates(no_certificates());
    assert_eq!(deferred.identity().wit, "0.2");
    let mut held = request("CN=router", "CN=router", true);
    held.csr.der = vec![0x30, 0x00];
    assert_eq!(
        deferred.issue("test".into(), &held).unwrap(),
        IssueOutcome::Pending("3000".into())
    );
}
