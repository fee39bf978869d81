//! The limits every plugin call runs under. Each is a named constant with the reason
//! for its value; a plugin that hits one is a fault, and a faulting policy denies.

use wasmtime::ResourceLimiter;

/// How often the engine's epoch advances. Deadlines are counted in these ticks, so
/// this is the resolution of every deadline.
pub const EPOCH_TICK_MS: u64 = 10;

/// Wall-clock budget of one policy call (`init` + `evaluate`). A real policy decides
/// in microseconds; one second tolerates a loaded two-core machine where a thread
/// can wait its turn, and caps what a looping plugin costs at one second of one
/// worker thread.
pub const POLICY_DEADLINE_MS: u64 = 1_000;

/// Wall-clock budget of one issuer call. Issuer adapters may talk to a remote CA
/// over HTTP, so they get longer than policies; past this the client gets FAILURE
/// instead of hanging. The host's HTTP requests cannot be interrupted by the
/// deadline, so they bound themselves: all of one call's end 2 s before it
/// (`http.rs`, checked at compile time).
pub const ISSUER_DEADLINE_MS: u64 = 10_000;

/// Consecutive faults after which a plugin is quarantined: no longer called (its
/// calls deny, or fail for an issuer, at once) and named by `/health`, until its
/// service is edited or the server restarts. A plugin that faults five times in a
/// row is broken, not unlucky; stopping it keeps a looping plugin from costing a
/// deadline of worker time on every request.
pub const QUARANTINE_AFTER_FAULTS: u32 = 5;

/// Linear memory one plugin instance may use. The built-ins need well under 2 MiB;
/// a scripting runtime compiled to WebAssembly needs a few MiB. Past this a grow
/// fails and the call traps (out of memory is a fault, not an abort of the host).
pub const MEMORY_CAP_BYTES: usize = 64 << 20;

/// Table elements one instance may use (function tables of large guests).
pub const TABLE_ELEMENTS_CAP: usize = 100_000;

/// Instances the pooling allocator keeps slots for. Requests run on a bounded
/// worker pool and each call's store is dropped when the call returns, so this is
/// far above the number alive at once.
pub const POOLED_COMPONENT_INSTANCES: u32 = 128;

/// Core instances per pooled component: a std wasm32-wasip2 guest is its module
/// plus the WASI adapter and a few shims.
pub const POOLED_CORE_INSTANCES: u32 = POOLED_COMPONENT_INSTANCES * 8;

/// Memories per pooled component (the guest's and the adapter's).
pub const POOLED_MEMORIES: u32 = POOLED_COMPONENT_INSTANCES * 4;

pub const POOLED_TABLES: u32 = POOLED_COMPONENT_INSTANCES * 8;

/// Virtual address space reserved per pooled memory. Above the cap, so the cap and
/// not the reservation decides when growth fails.
pub const MEMORY_RESERVATION_BYTES: u64 = 256 << 20;

/// Idle warm instances one policy keeps (`warm.rs`), for the built-ins that opt
/// in. Requests a policy serves at once beyond this get a fresh instance, which
/// is then dropped; two cores rarely run more than a few policy calls at once.
pub const WARM_INSTANCES_PER_POLICY: usize = 4;

/// Idle warm instances across the engine. Each holds one of the
/// [`POOLED_COMPONENT_INSTANCES`] slots, so this keeps three quarters of them for
/// fresh calls however many services use a warm built-in.
pub const WARM_INSTANCES_TOTAL: usize = POOLED_COMPONENT_INSTANCES as usize / 4;

/// Calls after which a warm instance is retired and replaced by a fresh one. It
/// bounds how long anything a guest keeps (fragmentation, a leak) can build up;
/// one re-initialisation (about a millisecond) per this many calls costs nothing.
pub const WARM_INSTANCE_MAX_CALLS: u32 = 10_000;

/// A warm instance whose memory grew past this is retired rather than kept, so a
/// guest that creeps towards [`MEMORY_CAP_BYTES`] is replaced before a request
/// would fault on it.
pub const WARM_RETIRE_MEMORY_BYTES: usize = MEMORY_CAP_BYTES / 2;

/// Enforces [`MEMORY_CAP_BYTES`] and remembers that it did, so the audit log can
/// say "out of memory" rather than a generic trap.
#[derive(Debug, Default)]
pub struct Limiter {
    pub memory_exceeded: bool,
    /// The largest size a memory of this store asked to grow to (warm instances
    /// are retired past [`WARM_RETIRE_MEMORY_BYTES`]).
    pub peak_memory_bytes: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.peak_memory_bytes = self.peak_memory_bytes.max(desired);
        if desired > MEMORY_CAP_BYTES {
            self.memory_exceeded = true;
            wasmtime::bail!(
                "plugin memory cap of {} MiB exceeded",
                MEMORY_CAP_BYTES >> 20
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_CAP)
    }
}
