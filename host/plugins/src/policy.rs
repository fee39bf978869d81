//! One loaded policy plugin.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bindings::policy::PolicyPluginPre;
use crate::bindings::types::{Decision, Request};
use crate::engine::{PluginEngine, classify};
use crate::host::{MatchedSecret, PluginIdentity, PluginState, SecretBroker};
use crate::limits::POLICY_DEADLINE_MS;
use crate::{Fault, LoadError};

/// A compiled, linked and configuration-checked policy.
pub struct Policy {
    engine: PluginEngine,
    pre: PolicyPluginPre<PluginState>,
    identity: Arc<PluginIdentity>,
    config: Arc<BTreeMap<String, String>>,
}

/// What one evaluation produced.
pub struct Evaluation {
    pub decision: Decision,
    /// The secret the policy claimed, consumed if the request is issued.
    pub claimed: Option<MatchedSecret>,
}

impl Policy {
    /// Compiles and links the plugin, then runs its `init` once so a bad
    /// configuration is refused now, not on the first request.
    pub fn load(
        engine: &PluginEngine,
        spec: &str,
        config: BTreeMap<String, String>,
        service: &str,
    ) -> Result<Self, LoadError> {
        let (component, identity) = engine.compile(spec)?;
        let invalid = |detail: String| LoadError::Invalid {
            plugin: spec.to_owned(),
            world: "policy-plugin",
            detail,
        };
        let instance_pre = engine
            .policy_linker
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let pre = PolicyPluginPre::new(instance_pre).map_err(|e| invalid(format!("{e:#}")))?;
        let policy = Self {
            engine: engine.clone(),
            pre,
            identity: Arc::new(identity),
            config: Arc::new(config),
        };
        policy
            .run(service.into(), None, |_, _| Ok(()))
            .map_err(|fault| LoadError::Init {
                plugin: spec.to_owned(),
                detail: match fault {
                    Fault::Init(refusal) => refusal,
                    other => format!("its init {other}"),
                },
            })?;
        Ok(policy)
    }

    pub fn identity(&self) -> &PluginIdentity {
        &self.identity
    }

    /// Runs `init` and then `evaluate` in a fresh instance.
    pub fn evaluate(
        &self,
        service: Arc<str>,
        request: &Request,
        secrets: Arc<dyn SecretBroker>,
    ) -> Result<Evaluation, Fault> {
        let mut claimed = None;
        let decision = self.run(service, Some(secrets), |store, plugin| {
            let decision = plugin
                .sceptic_plugin_policy()
                .call_evaluate(&mut *store, request)?;
            claimed = store.data().claimed;
            Ok(Some(decision))
        })?;
        let decision = decision.ok_or_else(|| Fault::BadAnswer("no decision".into()))?;
        Ok(Evaluation { decision, claimed })
    }

    /// Instantiates, calls `init` (every new instance gets it before anything else),
    /// then `then`. Every error becomes a [`Fault`].
    fn run<R>(
        &self,
        service: Arc<str>,
        secrets: Option<Arc<dyn SecretBroker>>,
        then: impl FnOnce(
            &mut wasmtime::Store<PluginState>,
            &crate::bindings::policy::PolicyPlugin,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        let mut store =
            self.engine
                .store(&self.identity, service, &self.config, POLICY_DEADLINE_MS);
        store.data_mut().secrets = secrets;
        let result = (|| {
            let plugin = self.pre.instantiate(&mut store)?;
            if let Err(refusal) = plugin.sceptic_plugin_policy().call_init(&mut store)? {
                return Ok(Err(Fault::Init(refusal)));
            }
            Ok(Ok(then(&mut store, &plugin)?))
        })();
        match result {
            Ok(outcome) => outcome,
            Err(error) => Err(classify(error, &store, POLICY_DEADLINE_MS)),
        }
    }
}
