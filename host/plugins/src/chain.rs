//! A service's ordered policy chain and how its decisions combine.

use std::sync::Arc;

use crate::bindings::types::{Decision, FailInfo, Request};
use crate::host::{CertificateBroker, MatchedSecret, SecretBroker};
use crate::{Fault, Policy};

/// The chain's combined answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Hold for manual approval in the named queue.
    Pending(String),
    Deny {
        fail_info: FailInfo,
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct ChainDecision {
    pub verdict: Verdict,
    /// The plugin ("name@version") whose answer decided, or "default-deny".
    pub decided_by: String,
    /// The secret to consume with the certificate (only on Allow).
    pub claimed: Option<MatchedSecret>,
    /// Plugins that faulted, for the audit log.
    pub faults: Vec<(String, Fault)>,
    /// Fuel the policies that ran burnt together (`sceptic policy test` shows
    /// it, so an operator can size `sceptic.fuel`).
    pub fuel_used: u64,
}

/// Name recorded when no policy allowed a request.
pub const DEFAULT_DENY: &str = "default-deny";

pub struct PolicyChain {
    policies: Vec<Policy>,
}

impl PolicyChain {
    pub fn new(policies: Vec<Policy>) -> Self {
        Self { policies }
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Runs the chain. Any deny wins (and stops the chain), then pending, then
    /// allow; no allow is a deny. A policy that faults denies: fail closed.
    pub fn evaluate(
        &self,
        service: Arc<str>,
        request: &Request,
        secrets: Arc<dyn SecretBroker>,
        certificates: Arc<dyn CertificateBroker>,
    ) -> ChainDecision {
        let mut pending: Option<(String, String)> = None;
        let mut allowed: Option<(String, Option<MatchedSecret>)> = None;
        let mut fuel_used = 0u64;
        for policy in &self.policies {
            let name = policy.identity().to_string();
            match policy.evaluate(
                service.clone(),
                request,
                secrets.clone(),
                certificates.clone(),
            ) {
                Err(fault) => {
                    return ChainDecision {
                        verdict: Verdict::Deny {
                            fail_info: FailInfo::BadRequest,
                            reason: format!("policy {name} {fault}; the request is refused"),
                        },
                        decided_by: name.clone(),
                        claimed: None,
                        faults: vec![(name, fault)],
                        fuel_used,
                    };
                }
                Ok(evaluation) => {
                    fuel_used = fuel_used.saturating_add(evaluation.fuel_used.unwrap_or(0));
                    match evaluation.decision {
                        Decision::Deny(denial) => {
                            return ChainDecision {
                                verdict: Verdict::Deny {
                                    fail_info: denial.fail_info,
                                    reason: denial.reason,
                                },
                                decided_by: name,
                                claimed: None,
                                faults: Vec::new(),
                                fuel_used,
                            };
                        }
                        Decision::Pending(queue) => {
                            pending.get_or_insert((name, queue));
                        }
                        Decision::Allow => {
                            allowed.get_or_insert((name, evaluation.claimed));
                        }
                        Decision::Abstain => {}
                    }
                }
            }
        }
        let (verdict, decided_by, claimed) = match (pending, allowed) {
            (Some((name, queue)), _) => (Verdict::Pending(queue), name, None),
            (None, Some((name, claimed))) => (Verdict::Allow, name, claimed),
            (None, None) => (
                Verdict::Deny {
                    fail_info: FailInfo::BadRequest,
                    reason: "no policy of this service authorised the request \
                             (no valid challenge password?)"
                        .into(),
                },
                DEFAULT_DENY.to_owned(),
                None,
            ),
        };
        ChainDecision {
            verdict,
            decided_by,
            claimed,
            faults: Vec::new(),
            fuel_used,
        }
    }
}
