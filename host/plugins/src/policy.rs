//! One loaded policy plugin, of any supported WIT version: a fresh instance per
//! call, or warm instances for the built-ins that opt in (`warm.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::Store;

use crate::bindings::types::{Decision, Request};
use crate::bindings::{POLICY_EXPORTS, Wit, v0_1, v0_2};
use crate::builtin::reuses_instances;
use crate::engine::{PluginEngine, classify, fuel_used, rearm};
use crate::host::{CertificateBroker, MatchedSecret, PluginIdentity, PluginState, SecretBroker};
use crate::limits::PluginLimits;
use crate::quarantine::FaultStreak;
use crate::warm::{WarmInstance, WarmPool};
use crate::{Fault, LoadError};

const WORLD: &str = "policy-plugin";

/// The pre-linked component, in the bindings of the version it was built against.
enum Pre {
    V0_1(v0_1::policy::PolicyPluginPre<PluginState>),
    V0_2(v0_2::policy::PolicyPluginPre<PluginState>),
}

/// One instance. Both versions take and give the same `Request` and `Decision`
/// types (v0.2 maps them onto v0.1's), so dispatch is a plain match.
pub(crate) enum Instance {
    V0_1(v0_1::policy::PolicyPlugin),
    V0_2(v0_2::policy::PolicyPlugin),
}

impl Pre {
    fn instantiate(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::V0_1(pre) => Instance::V0_1(pre.instantiate(store)?),
            Pre::V0_2(pre) => Instance::V0_2(pre.instantiate(store)?),
        })
    }
}

impl Instance {
    fn init(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Result<(), String>> {
        match self {
            Instance::V0_1(p) => p.sceptic_plugin_policy().call_init(store),
            Instance::V0_2(p) => p.sceptic_plugin_policy().call_init(store),
        }
    }

    fn evaluate(
        &self,
        store: &mut Store<PluginState>,
        request: &Request,
    ) -> wasmtime::Result<Decision> {
        match self {
            Instance::V0_1(p) => p.sceptic_plugin_policy().call_evaluate(store, request),
            Instance::V0_2(p) => p.sceptic_plugin_policy().call_evaluate(store, request),
        }
    }
}

/// A compiled, linked and configuration-checked policy.
pub struct Policy {
    engine: PluginEngine,
    pre: Pre,
    identity: Arc<PluginIdentity>,
    config: Arc<BTreeMap<String, String>>,
    /// Its deadline, memory cap and fuel per call.
    limits: PluginLimits,
    /// Some when calls reuse warm instances instead of a fresh one each.
    warm: Option<WarmPool>,
    /// Faults in a row; a quarantined policy is not called.
    faults: FaultStreak,
}

/// What one evaluation produced.
pub struct Evaluation {
    pub decision: Decision,
    /// The secret the policy claimed, consumed if the request is issued.
    pub claimed: Option<MatchedSecret>,
    /// Fuel the call burnt: `init` included for a fresh instance, `evaluate`
    /// alone for a warm one. It tells an operator what `sceptic.fuel` to set.
    pub fuel_used: Option<u64>,
}

impl Policy {
    /// Compiles and links the plugin, then runs its `init` once so a bad
    /// configuration is refused now, not on the first request. For a built-in
    /// that reuses instances, that instance becomes the first warm one.
    /// `builtin:script-policy` gets its `file` read here (`script.rs`).
    pub fn load(
        engine: &PluginEngine,
        spec: &str,
        mut config: BTreeMap<String, String>,
        service: &str,
    ) -> Result<Self, LoadError> {
        let limits = PluginLimits::take_from(&mut config, false).map_err(|detail| {
            LoadError::HostSetting {
                plugin: spec.to_owned(),
                detail,
            }
        })?;
        let config = crate::script::resolve(spec, config).map_err(|detail| LoadError::Init {
            plugin: spec.to_owned(),
            detail,
        })?;
        let (component, identity, wit) = engine.compile(spec, WORLD, POLICY_EXPORTS)?;
        let invalid = |e: wasmtime::Error| LoadError::Invalid {
            plugin: spec.to_owned(),
            world: WORLD,
            detail: format!("{e:#}"),
        };
        let instance_pre = engine
            .policy_linker
            .instantiate_pre(&component)
            .map_err(invalid)?;
        let pre = match wit {
            Wit::V0_1 => {
                Pre::V0_1(v0_1::policy::PolicyPluginPre::new(instance_pre).map_err(invalid)?)
            }
            Wit::V0_2 => {
                Pre::V0_2(v0_2::policy::PolicyPluginPre::new(instance_pre).map_err(invalid)?)
            }
        };
        let mut policy = Self {
            engine: engine.clone(),
            pre,
            identity: Arc::new(identity),
            config: Arc::new(config),
            limits,
            warm: None,
            faults: FaultStreak::default(),
        };
        let refused = |fault| LoadError::Init {
            plugin: spec.to_owned(),
            detail: match fault {
                Fault::Init(refusal) => refusal,
                other => format!("its init {other}"),
            },
        };
        if reuses_instances(spec) {
            let pool = WarmPool::new(engine.warm_idle.clone());
            pool.give_back(policy.warm_instance(service.into()).map_err(refused)?);
            policy.warm = Some(pool);
        } else {
            policy
                .run(service.into(), None, None, |_, _| Ok(()))
                .map_err(refused)?;
        }
        Ok(policy)
    }

    pub fn identity(&self) -> &PluginIdentity {
        &self.identity
    }

    /// What its calls run under.
    pub fn limits(&self) -> &PluginLimits {
        &self.limits
    }

    /// Turns warm instances on or off for this policy. Built-ins that opt in
    /// (`builtin.rs`) have them on. Turning them on for another component lets
    /// whatever it keeps in memory reach the next request (`warm.rs`): only for
    /// components known to keep nothing, such as in tests; off is always safe
    /// (benchmarks compare both).
    pub fn with_instance_reuse(mut self, reuse: bool) -> Self {
        self.warm = match (reuse, self.warm.take()) {
            (false, _) => None,
            (true, Some(pool)) => Some(pool),
            (true, None) => Some(WarmPool::new(self.engine.warm_idle.clone())),
        };
        self
    }

    /// Idle warm instances this policy holds now (0 without reuse).
    pub fn warm_instances(&self) -> usize {
        self.warm.as_ref().map_or(0, WarmPool::idle)
    }

    /// Runs `init` and then `evaluate` in a fresh instance, or `evaluate` in a warm
    /// one when the policy reuses instances. The brokers serve the `secrets`
    /// interface and (WIT v0.2) `trust` and `issued`, for this call only.
    pub fn evaluate(
        &self,
        service: Arc<str>,
        request: &Request,
        secrets: Arc<dyn SecretBroker>,
        certificates: Arc<dyn CertificateBroker>,
    ) -> Result<Evaluation, Fault> {
        self.faults.admit()?;
        let outcome = self.evaluate_unguarded(service, request, secrets, certificates);
        self.faults.record(&outcome);
        outcome
    }

    /// Whether the policy is quarantined (it faulted too often in a row).
    pub fn quarantined(&self) -> bool {
        self.faults.quarantined()
    }

    fn evaluate_unguarded(
        &self,
        service: Arc<str>,
        request: &Request,
        secrets: Arc<dyn SecretBroker>,
        certificates: Arc<dyn CertificateBroker>,
    ) -> Result<Evaluation, Fault> {
        if let Some(pool) = &self.warm {
            return self.evaluate_warm(pool, service, request, secrets, certificates);
        }
        let limits = self.limits;
        self.run(
            service,
            Some(secrets),
            Some(certificates),
            |store, plugin| {
                let decision = plugin.evaluate(&mut *store, request)?;
                Ok(Evaluation {
                    decision,
                    claimed: store.data().claimed,
                    fuel_used: fuel_used(store, &limits),
                })
            },
        )
    }

    /// `evaluate` in a warm instance, or in a new one that then stays warm. An
    /// instance whose call fails in any way is dropped with its store: a fault is
    /// a deny, and a faulted instance is never entered again.
    fn evaluate_warm(
        &self,
        pool: &WarmPool,
        service: Arc<str>,
        request: &Request,
        secrets: Arc<dyn SecretBroker>,
        certificates: Arc<dyn CertificateBroker>,
    ) -> Result<Evaluation, Fault> {
        let mut warm = match pool.take() {
            Some(mut warm) => {
                rearm(&mut warm.store, &self.limits);
                warm
            }
            // The deadline and fuel armed for its `init` cover this first call
            // too, as for a fresh instance.
            None => self.warm_instance(service.clone())?,
        };
        let state = warm.store.data_mut();
        state.service = service;
        state.secrets = Some(secrets);
        state.certificates = Some(certificates);
        let WarmInstance {
            store, instance, ..
        } = &mut warm;
        match instance.evaluate(store, request) {
            Ok(decision) => {
                let claimed = warm.store.data().claimed;
                let fuel_used = fuel_used(&warm.store, &self.limits);
                warm.calls += 1;
                pool.give_back(warm);
                Ok(Evaluation {
                    decision,
                    claimed,
                    fuel_used,
                })
            }
            Err(error) => Err(classify(error, &warm.store, &self.limits)),
        }
    }

    /// A new instance that ran `init`, its deadline armed. Unlike a fresh call,
    /// `init` runs without the brokers: they are lent per `evaluate`.
    fn warm_instance(&self, service: Arc<str>) -> Result<WarmInstance, Fault> {
        let mut store = self
            .engine
            .store(&self.identity, service, &self.config, &self.limits);
        let result = (|| {
            let instance = self.pre.instantiate(&mut store)?;
            Ok(instance.init(&mut store)?.map(|()| instance))
        })();
        match result {
            Ok(Ok(instance)) => Ok(WarmInstance {
                store,
                instance,
                calls: 0,
            }),
            Ok(Err(refusal)) => Err(Fault::Init(refusal)),
            Err(error) => Err(classify(error, &store, &self.limits)),
        }
    }

    /// Instantiates, calls `init` (every new instance gets it before anything else),
    /// then `then`. Every error becomes a [`Fault`]. The certificate broker is lent
    /// only after `init`, so `init` sees the same `trust`/`issued` answers per call
    /// as at load time, where there is no request (pki.wit says so). `secrets`
    /// stays lent from the start, as v0.1 always did.
    fn run<R>(
        &self,
        service: Arc<str>,
        secrets: Option<Arc<dyn SecretBroker>>,
        certificates: Option<Arc<dyn CertificateBroker>>,
        then: impl FnOnce(&mut Store<PluginState>, &Instance) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        let mut store = self
            .engine
            .store(&self.identity, service, &self.config, &self.limits);
        store.data_mut().secrets = secrets;
        let result = (|| {
            let plugin = self.pre.instantiate(&mut store)?;
            if let Err(refusal) = plugin.init(&mut store)? {
                return Ok(Err(Fault::Init(refusal)));
            }
            store.data_mut().certificates = certificates;
            Ok(Ok(then(&mut store, &plugin)?))
        })();
        match result {
            Ok(outcome) => outcome,
            Err(error) => Err(classify(error, &store, &self.limits)),
        }
    }
}
