//! Warm instances: the pool of initialised instances a policy keeps between calls
//! when it opts in (`builtin::REUSES_INSTANCES`: built-ins that parse a program at
//! `init`, like `script-policy`).
//!
//! Every other plugin runs each call in a fresh store and instance, `init` first.
//! For a scripting guest that costs a parse and its runtime's first-call set-up
//! (about a millisecond) on every request. A warm instance pays them once.
//!
//! What keeps this fail-closed and leak-free:
//! - only an instance whose call returned normally goes back; a trap, a deadline
//!   or an out-of-memory drops it with its store, so a faulted instance is never
//!   re-entered (and the call is a fault, i.e. a deny, as before);
//! - between calls the host-side state of the call is cleared (`reset`): the
//!   secrets and certificate brokers (which hold the request's challenge
//!   password), the matched and claimed secret; the deadline is re-armed per call;
//! - an instance is retired after [`WARM_INSTANCE_MAX_CALLS`] calls or once its
//!   memory grew past half its cap ([`WARM_RETIRE_MEMORY_DIVISOR`]);
//! - idle instances are capped per policy and across the engine, so warm pools
//!   never take the slots fresh calls need.
//!
//! The trade-off: guest memory survives from one request to the next. A guest
//! that kept request data in a static could show it to a later request of the
//! same service (never another service's: a pool belongs to one loaded policy).
//! That is why reuse is for built-ins reviewed to keep nothing but their parsed
//! configuration, not for third-party components.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use wasmtime::Store;

use crate::host::PluginState;
use crate::limits::{
    WARM_INSTANCE_MAX_CALLS, WARM_INSTANCES_PER_POLICY, WARM_INSTANCES_TOTAL,
    WARM_RETIRE_MEMORY_DIVISOR,
};
use crate::policy::Instance;

/// An instance that ran `init` and is ready for `evaluate`.
pub(crate) struct WarmInstance {
    pub(crate) store: Store<PluginState>,
    pub(crate) instance: Instance,
    /// Calls it has served.
    pub(crate) calls: u32,
}

/// One policy's idle warm instances.
pub(crate) struct WarmPool {
    idle: Mutex<Vec<WarmInstance>>,
    /// Idle warm instances across the engine, shared by every pool.
    engine_idle: Arc<AtomicUsize>,
}

impl WarmPool {
    pub(crate) fn new(engine_idle: Arc<AtomicUsize>) -> Self {
        Self {
            idle: Mutex::default(),
            engine_idle,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<WarmInstance>> {
        // A panic while holding the lock leaves the list itself consistent.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An idle instance, if there is one.
    pub(crate) fn take(&self) -> Option<WarmInstance> {
        let warm = self.lock().pop()?;
        self.engine_idle.fetch_sub(1, Ordering::SeqCst);
        Some(warm)
    }

    /// Keeps an instance whose call returned normally, unless it is due for
    /// retirement or a cap is reached; otherwise it is dropped here.
    pub(crate) fn give_back(&self, mut warm: WarmInstance) {
        reset(&mut warm.store);
        let limiter = &warm.store.data().limiter;
        let retired = warm.calls >= WARM_INSTANCE_MAX_CALLS
            || limiter.peak_memory_bytes > limiter.cap_bytes / WARM_RETIRE_MEMORY_DIVISOR;
        if retired {
            return;
        }
        let mut idle = self.lock();
        if idle.len() >= WARM_INSTANCES_PER_POLICY {
            return;
        }
        let reserved = self
            .engine_idle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < WARM_INSTANCES_TOTAL).then_some(n + 1)
            });
        if reserved.is_ok() {
            idle.push(warm);
        }
    }

    /// Idle instances now.
    pub(crate) fn idle(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        let idle = self.lock().len();
        self.engine_idle.fetch_sub(idle, Ordering::SeqCst);
    }
}

/// Clears what one call lent its store, so nothing of it reaches the next call.
fn reset(store: &mut Store<PluginState>) {
    let state = store.data_mut();
    state.secrets = None;
    state.certificates = None;
    state.matched = None;
    state.claimed = None;
}
