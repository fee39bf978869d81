//! One loaded issuer plugin, of any supported WIT version.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::Store;

use crate::bindings::types::{FailInfo, IssueResult, Request};
use crate::bindings::{ISSUER_EXPORTS, Wit, v0_1, v0_2};
use crate::engine::{PluginEngine, classify};
use crate::host::{CaSigner, CertificateBroker, PluginIdentity, PluginState};
use crate::http::{AllowedHosts, OutboundHttp};
use crate::limits::PluginLimits;
use crate::{Fault, LoadError};

const WORLD: &str = "issuer-plugin";

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

/// The pre-linked component, in the bindings of the version it was built against.
enum Pre {
    V0_1(v0_1::issuer::IssuerPluginPre<PluginState>),
    V0_2(v0_2::issuer::IssuerPluginPre<PluginState>),
}

/// One instance. Both versions share `Request` and `IssueResult` (v0.2 maps them
/// onto v0.1's types), so each call is a plain match.
enum Instance {
    V0_1(v0_1::issuer::IssuerPlugin),
    V0_2(v0_2::issuer::IssuerPlugin),
}

/// Calls the same function of whichever version's guest interface `$instance` has.
macro_rules! call {
    ($instance:expr, $method:ident ( $($arg:expr),* )) => {
        match $instance {
            Instance::V0_1(p) => p.sceptic_plugin_issuer().$method($($arg),*),
            Instance::V0_2(p) => p.sceptic_plugin_issuer().$method($($arg),*),
        }
    };
}

pub struct Issuer {
    engine: PluginEngine,
    pre: Pre,
    identity: Arc<PluginIdentity>,
    config: Arc<BTreeMap<String, String>>,
    /// Its deadline and memory cap per call.
    limits: PluginLimits,
    signer: Arc<CaSigner>,
    certificates: Option<Arc<dyn CertificateBroker>>,
    /// The hosts `sceptic:net/http` may reach, from the operator's settings.
    allowed_hosts: AllowedHosts,
    /// Faults in a row of `issue` and `poll`; a quarantined issuer is not called.
    faults: crate::quarantine::FaultStreak,
}

impl Issuer {
    pub fn load(
        engine: &PluginEngine,
        spec: &str,
        mut config: BTreeMap<String, String>,
        service: &str,
        signer: Arc<CaSigner>,
    ) -> Result<Self, LoadError> {
        // The host's own settings first: refusing them costs no compilation.
        let refused = |detail| LoadError::HostSetting {
            plugin: spec.to_owned(),
            detail,
        };
        let limits = PluginLimits::take_from(&mut config, true).map_err(refused)?;
        let allowed_hosts = AllowedHosts::from_config(&config).map_err(refused)?;
        let (component, identity, wit) = engine.compile(spec, WORLD, ISSUER_EXPORTS)?;
        let invalid = |e: wasmtime::Error| LoadError::Invalid {
            plugin: spec.to_owned(),
            world: WORLD,
            detail: format!("{e:#}"),
        };
        let instance_pre = engine
            .issuer_linker
            .instantiate_pre(&component)
            .map_err(invalid)?;
        let pre = match wit {
            Wit::V0_1 => {
                Pre::V0_1(v0_1::issuer::IssuerPluginPre::new(instance_pre).map_err(invalid)?)
            }
            Wit::V0_2 => {
                Pre::V0_2(v0_2::issuer::IssuerPluginPre::new(instance_pre).map_err(invalid)?)
            }
        };
        let issuer = Self {
            engine: engine.clone(),
            pre,
            identity: Arc::new(identity),
            config: Arc::new(config),
            limits,
            signer,
            certificates: None,
            allowed_hosts,
            faults: Default::default(),
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

    /// What its calls run under.
    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Lends the service's certificates to every later call after `init` (WIT
    /// v0.2's `issued`; an issuer gets no `trust`). Without it, `by-serial`
    /// answers None. Issuers work per service, not per request, so the broker is
    /// the service's, set once when the issuer is loaded.
    pub fn with_certificates(mut self, certificates: Arc<dyn CertificateBroker>) -> Self {
        self.certificates = Some(certificates);
        self
    }

    pub fn issue(&self, service: Arc<str>, request: &Request) -> Result<IssueOutcome, Fault> {
        self.faults.admit()?;
        let result = self.run(service, |store, plugin| {
            call!(plugin, call_issue(store, request))
        });
        self.faults.record(&result);
        Ok(outcome(result?))
    }

    /// Whether the issuer is quarantined (it faulted too often in a row).
    pub fn quarantined(&self) -> bool {
        self.faults.quarantined()
    }

    /// Asks again about a request `issue` answered pending.
    pub fn poll(&self, service: Arc<str>, ticket: &str) -> Result<IssueOutcome, Fault> {
        self.faults.admit()?;
        let result = self.run(service, |store, plugin| {
            call!(plugin, call_poll(store, ticket))
        });
        self.faults.record(&result);
        Ok(outcome(result?))
    }

    /// The issuing CA's certificates, issuing CA first.
    pub fn ca_certificates(&self, service: Arc<str>) -> Result<Vec<Vec<u8>>, Fault> {
        let certificates = self.run(service, |store, plugin| {
            call!(plugin, call_ca_certificates(store))
        })?;
        if certificates.is_empty() {
            return Err(Fault::BadAnswer("no CA certificate".into()));
        }
        Ok(certificates)
    }

    fn run<R>(
        &self,
        service: Arc<str>,
        then: impl FnOnce(&mut Store<PluginState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        // Its time budget counts from the start of the call.
        let mut http = Some(OutboundHttp::for_call(
            self.allowed_hosts.clone(),
            self.limits.deadline_ms,
        ));
        let mut store = self
            .engine
            .store(&self.identity, service, &self.config, &self.limits);
        store.data_mut().signer = Some(self.signer.clone());
        let result = (|| {
            let plugin = match &self.pre {
                Pre::V0_1(pre) => Instance::V0_1(pre.instantiate(&mut store)?),
                Pre::V0_2(pre) => Instance::V0_2(pre.instantiate(&mut store)?),
            };
            if let Err(refusal) = call!(&plugin, call_init(&mut store))? {
                return Ok(Err(Fault::Init(refusal)));
            }
            // As for policies: `init` gets no certificates, at load time or later.
            store.data_mut().certificates = self.certificates.clone();
            store.data_mut().http = http.take();
            Ok(Ok(then(&mut store, &plugin)?))
        })();
        match result {
            Ok(outcome) => outcome,
            Err(error) => Err(classify(error, &store, &self.limits)),
        }
    }
}
