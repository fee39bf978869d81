//! One loaded issuer plugin.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bindings::issuer::{IssuerPlugin, IssuerPluginPre};
use crate::bindings::types::{FailInfo, IssueResult, Request};
use crate::engine::{PluginEngine, classify};
use crate::host::{CaSigner, PluginIdentity, PluginState};
use crate::limits::ISSUER_DEADLINE_MS;
use crate::{Fault, LoadError};

/// What the issuer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    Issued(Vec<u8>),
    Pending(String),
    Rejected { fail_info: FailInfo, reason: String },
}

fn outcome(result: IssueResult) -> IssueOutcome {
    match result {
        IssueResult::Issued(der) => IssueOutcome::Issued(der),
        IssueResult::Pending(ticket) => IssueOutcome::Pending(ticket),
        IssueResult::Rejected(denial) => IssueOutcome::Rejected {
            fail_info: denial.fail_info,
            reason: denial.reason,
        },
    }
}

pub struct Issuer {
    engine: PluginEngine,
    pre: IssuerPluginPre<PluginState>,
    identity: Arc<PluginIdentity>,
    config: Arc<BTreeMap<String, String>>,
    signer: Arc<CaSigner>,
}

impl Issuer {
    pub fn load(
        engine: &PluginEngine,
        spec: &str,
        config: BTreeMap<String, String>,
        service: &str,
        signer: Arc<CaSigner>,
    ) -> Result<Self, LoadError> {
        let (component, identity) = engine.compile(spec)?;
        let invalid = |detail: String| LoadError::Invalid {
            plugin: spec.to_owned(),
            world: "issuer-plugin",
            detail,
        };
        let instance_pre = engine
            .issuer_linker
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let pre = IssuerPluginPre::new(instance_pre).map_err(|e| invalid(format!("{e:#}")))?;
        let issuer = Self {
            engine: engine.clone(),
            pre,
            identity: Arc::new(identity),
            config: Arc::new(config),
            signer,
        };
        issuer
            .run(service.into(), |_, _| Ok(()))
            .map_err(|fault| LoadError::Init {
                plugin: spec.to_owned(),
                detail: match fault {
                    Fault::Init(refusal) => refusal,
                    other => format!("its init {other}"),
                },
            })?;
        Ok(issuer)
    }

    pub fn identity(&self) -> &PluginIdentity {
        &self.identity
    }

    pub fn issue(&self, service: Arc<str>, request: &Request) -> Result<IssueOutcome, Fault> {
        let result = self.run(service, |store, plugin| {
            plugin.sceptic_plugin_issuer().call_issue(store, request)
        })?;
        Ok(outcome(result))
    }

    /// Asks again about a request `issue` answered pending.
    pub fn poll(&self, service: Arc<str>, ticket: &str) -> Result<IssueOutcome, Fault> {
        let result = self.run(service, |store, plugin| {
            plugin.sceptic_plugin_issuer().call_poll(store, ticket)
        })?;
        Ok(outcome(result))
    }

    /// The issuing CA's certificates, issuing CA first.
    pub fn ca_certificates(&self, service: Arc<str>) -> Result<Vec<Vec<u8>>, Fault> {
        let certificates = self.run(service, |store, plugin| {
            plugin.sceptic_plugin_issuer().call_ca_certificates(store)
        })?;
        if certificates.is_empty() {
            return Err(Fault::BadAnswer("no CA certificate".into()));
        }
        Ok(certificates)
    }

    fn run<R>(
        &self,
        service: Arc<str>,
        then: impl FnOnce(&mut wasmtime::Store<PluginState>, &IssuerPlugin) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        let mut store =
            self.engine
                .store(&self.identity, service, &self.config, ISSUER_DEADLINE_MS);
        store.data_mut().signer = Some(self.signer.clone());
        let result = (|| {
            let plugin = self.pre.instantiate(&mut store)?;
            if let Err(refusal) = plugin.sceptic_plugin_issuer().call_init(&mut store)? {
                return Ok(Err(Fault::Init(refusal)));
            }
            Ok(Ok(then(&mut store, &plugin)?))
        })();
        match result {
            Ok(outcome) => outcome,
            Err(error) => Err(classify(error, &store, ISSUER_DEADLINE_MS)),
        }
    }
}
