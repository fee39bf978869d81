//! Helpers shared by the component tests: requests, loaders and test doubles for
//! the brokers the server lends a call.

#![allow(dead_code)] // Each test file uses its own part.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sceptic_plugins::types::{Certificate, Csr, Decision, MessageType, Request};
use sceptic_plugins::{
    CertificateBroker, IssuedCertificate, LoadError, MatchedSecret, NoCertificates, PluginEngine,
    Policy, SecretBroker, SecretKind, TrustedSigner,
};

/// A request for `csr_subject`, signed by a certificate of `signer_subject`.
pub fn request(csr_subject: &str, signer_subject: &str, self_signed: bool) -> Request {
    Request {
        service: "test".into(),
        message_type: if self_signed {
            MessageType::PkcsReq
        } else {
            MessageType::RenewalReq
        },
        transaction_id: "tx".into(),
        csr: Csr {
            der: vec![],
            subject: csr_subject.into(),
            sans: vec![],
            key_algorithm: "rsa".into(),
            key_bits: 2048,
            challenge_present: false,
        },
        signer: Certificate {
            // The test brokers never parse it.
            der: b"signer certificate".to_vec(),
            subject: signer_subject.into(),
            issuer: if self_signed {
                signer_subject.into()
            } else {
                "CN=Test CA".into()
            },
            serial: "0a1b".into(),
            not_before: 0,
            not_after: 0,
            self_signed,
            key_usage: vec![],
        },
        http_method: "POST".into(),
        client_address: "127.0.0.1".into(),
        received_at: 0,
    }
}

pub fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn load(
    engine: &PluginEngine,
    spec: &str,
    pairs: &[(&str, &str)],
) -> Result<Policy, LoadError> {
    Policy::load(engine, spec, config(pairs), "test")
}

/// A secrets broker for which the challenge matches only when `matches`.
pub struct Secrets {
    pub matches: bool,
}

impl SecretBroker for Secrets {
    fn global_mode(&self) -> bool {
        false
    }
    fn match_challenge(&self) -> Option<MatchedSecret> {
        self.matches.then_some(MatchedSecret {
            id: 7,
            kind: SecretKind::SingleUse,
            sender_matches: true,
        })
    }
}

/// A certificate broker with a fixed answer per anchor set, recording each
/// `verify` it was asked: a test double for the server's store-backed one.
#[derive(Default)]
pub struct Anchors {
    pub answers: BTreeMap<&'static str, Result<TrustedSigner, String>>,
    pub asked: Mutex<Vec<String>>,
}

impl Anchors {
    /// Verifies in `set` only, with the CA "CN=Test CA".
    pub fn verifying(set: &'static str) -> Self {
        let mut anchors = Self::refusing("not issued by an anchor of this set");
        anchors.answers.insert(
            set,
            Ok(TrustedSigner {
                anchor_subject: "CN=Test CA".into(),
                issued_by_service: set == "service-ca",
            }),
        );
        anchors
    }

    /// Verifies nothing, giving `why` for every set.
    pub fn refusing(why: &str) -> Self {
        Self {
            answers: ["service-ca", "trusted"]
                .into_iter()
                .map(|set| (set, Err(format!("{why} ({set})"))))
                .collect(),
            asked: Mutex::default(),
        }
    }

    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl CertificateBroker for Anchors {
    fn verify(&self, anchors: &str, _certificate_der: &[u8]) -> Result<TrustedSigner, String> {
        self.asked.lock().unwrap().push(anchors.to_owned());
        self.answers
            .get(anchors)
            .cloned()
            .unwrap_or_else(|| Err(format!("no anchor set {anchors:?}")))
    }

    fn issued_by_serial(&self, _serial_hex: &str) -> Option<IssuedCertificate> {
        None
    }
}

/// Evaluates one policy alone and returns its own decision (not the chain's).
pub fn decide(
    policy: &Policy,
    request: &Request,
    certificates: Arc<dyn CertificateBroker>,
) -> Decision {
    policy
        .evaluate(
            "test".into(),
            request,
            Arc::new(Secrets { matches: false }),
            certificates,
        )
        .expect("the policy answers")
        .decision
}

pub fn no_certificates() -> Arc<dyn CertificateBroker> {
    Arc::new(NoCertificates)
}
