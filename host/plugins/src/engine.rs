//! The one wasmtime engine of the process, its epoch ticker, and component loading.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::bindings::v0_1::{issuer::IssuerPlugin, policy::PolicyPlugin};
use crate::bindings::v0_2::{issued, trust};
use crate::bindings::{Wit, detect};
use crate::builtin::{BUILTIN_PREFIX, BUILTIN_VERSION, builtin_component};
use crate::host::{PluginIdentity, PluginState};
use crate::limits::{self, EPOCH_TICK_MS, Limiter, PluginLimits};
use crate::{Fault, LoadError};

/// The first four bytes of every WebAssembly module and component.
const WASM_MAGIC: &[u8] = b"\0asm";

/// Compiles components and runs calls into them. Clone is cheap.
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) engine: Engine,
    pub(crate) policy_linker: Arc<Linker<PluginState>>,
    pub(crate) issuer_linker: Arc<Linker<PluginState>>,
    /// Compiled components by content hash: services sharing a plugin, and reloads
    /// that keep one, compile it once.
    compiled: Arc<Mutex<HashMap<String, Component>>>,
    /// Idle warm instances of every policy on this engine (`warm.rs`), against
    /// [`limits::WARM_INSTANCES_TOTAL`].
    pub(crate) warm_idle: Arc<AtomicUsize>,
    /// Precompiled components on disk (the server's only; see `disk_cache.rs`).
    disk: Option<crate::disk_cache::DiskCache>,
}

impl PluginEngine {
    /// Builds the engine and starts the thread that advances its epoch.
    pub fn new() -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(limits::POOLED_COMPONENT_INSTANCES)
            .total_core_instances(limits::POOLED_CORE_INSTANCES)
            .total_memories(limits::POOLED_MEMORIES)
            .total_tables(limits::POOLED_TABLES)
            .max_memory_size(limits::MAX_MEMORY_CAP_BYTES)
            .table_elements(limits::TABLE_ELEMENTS_CAP);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            // Fuel bounds a policy's work (`limits::POLICY_FUEL`). It is an
            // engine setting, so issuers' code counts it too; they get no limit.
            .consume_fuel(true)
            .memory_reservation(limits::MEMORY_RESERVATION_BYTES)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;

        // One linker per world serves every WIT version: v0.1's world brings the
        // @0.1.0 interfaces v0.2 imports unchanged, and the @0.2.0 additions are
        // added one by one (adding v0.2's world too would define the @0.1.0 names
        // twice). A policy gets no signing key, an issuer no `trust`.
        let mut policy_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut policy_linker)?;
        PolicyPlugin::add_to_linker::<_, HasSelf<_>>(&mut policy_linker, |s| s)?;
        trust::add_to_linker::<_, HasSelf<_>>(&mut policy_linker, |s| s)?;
        issued::add_to_linker::<_, HasSelf<_>>(&mut policy_linker, |s| s)?;
        let mut issuer_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut issuer_linker)?;
        IssuerPlugin::add_to_linker::<_, HasSelf<_>>(&mut issuer_linker, |s| s)?;
        issued::add_to_linker::<_, HasSelf<_>>(&mut issuer_linker, |s| s)?;
        // Outbound HTTP for issuers only: never in the policy linker.
        crate::bindings::v0_2::http::add_to_linker::<_, HasSelf<_>>(&mut issuer_linker, |s| s)?;

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(Duration::from_millis(EPOCH_TICK_MS));
                }
            })?;
        Ok(Self {
            engine,
            policy_linker: Arc::new(policy_linker),
            issuer_linker: Arc::new(issuer_linker),
            compiled: Arc::default(),
            warm_idle: Arc::default(),
            disk: None,
        })
    }

    /// Keeps precompiled components in `dir` (created 0700) and loads them from
    /// there on later starts. Only the server does this: it alone writes there.
    pub fn with_disk_cache(mut self, dir: &std::path::Path) -> std::io::Result<Self> {
        self.disk = Some(crate::disk_cache::DiskCache::open(dir, &self.engine)?);
        Ok(self)
    }

    /// Reads and compiles a plugin: `builtin:NAME` or a path to a `.wasm` component,
    /// and tells which WIT version of `world` it was built against, by the first
    /// of `exports` (interface name, version) it exports.
    /// Who a policy (`issuer` false) or issuer plugin is, without running it:
    /// name, version, content hash and WIT version (`sceptic service plugins`).
    pub fn identify(&self, spec: &str, issuer: bool) -> Result<PluginIdentity, LoadError> {
        let (world, exports) = if issuer {
            ("issuer-plugin", crate::bindings::ISSUER_EXPORTS)
        } else {
            ("policy-plugin", crate::bindings::POLICY_EXPORTS)
        };
        self.compile(spec, world, exports)
            .map(|(_, identity, _)| identity)
    }

    pub(crate) fn compile(
        &self,
        spec: &str,
        world: &'static str,
        exports: &[(&str, Wit)],
    ) -> Result<(Component, PluginIdentity, Wit), LoadError> {
        let (bytes, name, version): (std::borrow::Cow<'_, [u8]>, String, String) = match spec
            .strip_prefix(BUILTIN_PREFIX)
        {
            Some(name) => {
                let bytes = builtin_component(name)
                    .ok_or_else(|| LoadError::UnknownBuiltin(name.to_owned()))?;
                (bytes.into(), name.to_owned(), BUILTIN_VERSION.to_owned())
            }
            None => {
                // The header is checked before wasmtime parses the file (its
                // error would quote the first bytes, and a plugin path can name
                // any file the server can read), and before the rest is read.
                let bytes = crate::files::read_component(std::path::Path::new(spec), WASM_MAGIC)
                    .map_err(|reason| match reason.kind() {
                        std::io::ErrorKind::InvalidData => not_wasm(spec),
                        _ => LoadError::Read {
                            path: spec.to_owned(),
                            reason,
                        },
                    })?;
                let name = std::path::Path::new(spec)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| spec.to_owned());
                (bytes.into(), name, "file".to_owned())
            }
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let component = match self.cached(&sha256) {
            Some(component) => component,
            None => {
                let precompiled = self
                    .disk
                    .as_ref()
                    .and_then(|disk| disk.load(&self.engine, &sha256));
                let component = match precompiled {
                    Some(component) => component,
                    None => {
                        let component = Component::new(&self.engine, &bytes).map_err(|e| {
                            LoadError::Invalid {
                                plugin: spec.to_owned(),
                                world: "WebAssembly",
                                detail: format!("{e:#}"),
                            }
                        })?;
                        if let Some(disk) = &self.disk {
                            disk.store(&component, &sha256);
                        }
                        component
                    }
                };
                if let Ok(mut compiled) = self.compiled.lock() {
                    compiled.insert(sha256.clone(), component.clone());
                }
                component
            }
        };
        let wit =
            detect(&self.engine, &component, exports).map_err(|detail| LoadError::Invalid {
                plugin: spec.to_owned(),
                world,
                detail,
            })?;
        let identity = PluginIdentity {
            name,
            version,
            sha256,
            wit: wit.label(),
        };
        Ok((component, identity, wit))
    }

    fn cached(&self, sha256: &str) -> Option<Component> {
        self.compiled.lock().ok()?.get(sha256).cloned()
    }

    /// A store for one call, with its deadline, memory cap and fuel armed.
    pub(crate) fn store(
        &self,
        identity: &Arc<PluginIdentity>,
        service: Arc<str>,
        config: &Arc<BTreeMap<String, String>>,
        limits: &PluginLimits,
    ) -> Store<PluginState> {
        let mut state = PluginState::new(identity.clone(), service, config.clone());
        state.limiter = Limiter::new(limits.memory_cap_bytes);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        rearm(&mut store, limits);
        store
    }
}

/// Gives a store its call's deadline and fuel afresh (a warm instance, before
/// each call it serves).
pub(crate) fn rearm(store: &mut Store<PluginState>, limits: &PluginLimits) {
    store.set_epoch_deadline(limits.deadline_ms.div_ceil(EPOCH_TICK_MS));
    // Only fails when the engine does not consume fuel, and it always does.
    let _ = store.set_fuel(limits.fuel.unwrap_or(u64::MAX));
}

/// Fuel a store burnt since it was armed with `limits` (None for issuers).
pub(crate) fn fuel_used(store: &Store<PluginState>, limits: &PluginLimits) -> Option<u64> {
    let armed = limits.fuel?;
    Some(armed.saturating_sub(store.get_fuel().ok()?))
}

/// A plugin path naming a file that is no WebAssembly, without quoting it.
fn not_wasm(spec: &str) -> LoadError {
    LoadError::Invalid {
        plugin: spec.to_owned(),
        world: "WebAssembly",
        detail: "the file is not a WebAssembly component (no \\0asm header)".into(),
    }
}

/// Names what went wrong in a call, from the error and the store's limiter.
pub(crate) fn classify(
    error: wasmtime::Error,
    store: &Store<PluginState>,
    limits: &PluginLimits,
) -> Fault {
    if store.data().limiter.memory_exceeded {
        return Fault::OutOfMemory(limits.memory_cap_bytes >> 20);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => return Fault::Timeout(limits.deadline_ms),
        Some(Trap::OutOfFuel) => return Fault::OutOfFuel(limits.fuel.unwrap_or(u64::MAX)),
        _ => {}
    }
    // The gist, on one line: an audit record or log line per fault. That is the
    // root cause ("wasm `unreachable` instruction executed"), not the guest
    // backtrace in front of it, which goes to the debug log for the plugin's
    // author.
    tracing::debug!("plugin fault in full: {error:?}");
    let mut text = error
        .root_cause()
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    const MAX_FAULT_TEXT: usize = 300;
    if text.len() > MAX_FAULT_TEXT {
        let cut = (0..=MAX_FAULT_TEXT)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    Fault::Trap(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::POLICY_EXPORTS;

    /// A v0.2 built-in imports the unchanged interfaces under their @0.1.0 names
    /// and the new ones under @0.2.0, and the one policy linker provides them all.
    #[test]
    fn v0_2_components_import_the_v0_1_names() {
        let engine = PluginEngine::new().unwrap();
        let (component, identity, wit) = engine
            .compile(
                "builtin:trusted-cert-policy",
                "policy-plugin",
                POLICY_EXPORTS,
            )
            .unwrap();
        assert_eq!((wit, identity.wit), (Wit::V0_2, "0.2"));
        let ty = component.component_type();
        let imports: Vec<&str> = ty
            .imports(&engine.engine)
            .map(|(name, _)| name)
            .filter(|name| name.starts_with("sceptic:"))
            .collect();
        for expected in [
            "sceptic:host/log@0.1.0",
            "sceptic:host/config@0.1.0",
            "sceptic:pki/trust@0.2.0",
        ] {
            assert!(imports.contains(&expected), "{expected} not in {imports:?}");
        }
        engine.policy_linker.instantiate_pre(&component).unwrap();
    }
}
