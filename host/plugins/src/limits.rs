//! The limits every plugin call runs under. Each is a named constant with the reason
//! for its value; a plugin that hits one is a fault, and a faulting policy denies.
//!
//! Three of them an operator may set per plugin, as host settings in the plugin's
//! SPEC (`sceptic.deadline-ms`, `sceptic.memory-mib`, `sceptic.fuel`; see
//! [`PluginLimits`]). The defaults below are what a plugin gets without them, and
//! each setting has a floor and a ceiling, so no configuration lifts a limit.

use std::collections::BTreeMap;

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

/// The longest deadline an operator may give a policy. A policy decides from the
/// request; one that needs seconds is doing an issuer's work, and the client
/// and a worker thread wait meanwhile.
pub const MAX_POLICY_DEADLINE_MS: u64 = 10_000;

/// The longest deadline an operator may give an issuer. A worker thread is held
/// for the whole call, and SCEP has a better answer for a slow CA: the adapter
/// answers PENDING and the client polls (RFC 8894 §3.3.2). Thirty seconds is
/// also what the server gives a client to send its request.
pub const MAX_ISSUER_DEADLINE_MS: u64 = 30_000;

/// The shortest deadline: below a few epoch ticks a deadline is mostly the
/// tick's jitter, and a plugin would fault at random.
pub const MIN_DEADLINE_MS: u64 = 5 * EPOCH_TICK_MS;

/// Linear memory one plugin instance may use by default. The built-ins need well
/// under 2 MiB; a scripting runtime compiled to WebAssembly needs a few MiB (the
/// JavaScript example, StarlingMonkey, about 20). Past this a grow fails and the
/// call traps (out of memory is a fault, not an abort of the host).
pub const MEMORY_CAP_BYTES: usize = 64 << 20;

/// The largest memory cap an operator may set. It is the address space the
/// pooling allocator reserves per memory ([`MEMORY_RESERVATION_BYTES`]); a
/// plugin that needs more than a quarter of a GiB to decide on one request is
/// not one to run beside the server's other work.
pub const MAX_MEMORY_CAP_BYTES: usize = MEMORY_RESERVATION_BYTES as usize;

/// The smallest memory cap an operator may set: one MiB, the stack a Rust or C
/// guest reserves at instantiation. Below it nothing instantiates.
pub const MIN_MEMORY_CAP_BYTES: usize = 1 << 20;

/// Fuel (about one unit per WebAssembly instruction) one policy call may burn by
/// default, `init` included. The deadline bounds wall-clock time, which on a
/// loaded machine includes waiting for a CPU; fuel bounds the work itself, the
/// same on every machine, so a policy that is merely slow under load is not
/// faulted and one that computes without end is, however idle the machine.
/// The heaviest shipped policy, the JavaScript example (a whole JS engine
/// started per call), burns about 10 million per call; a CEL policy 30,000 to
/// 140,000; the other built-ins and the C example 5,000 to 12,000 (`sceptic
/// policy test` prints each case's). A billion is a hundred times the
/// JavaScript figure, and under a second of CPU.
pub const POLICY_FUEL: u64 = 1_000_000_000;

/// The most fuel an operator may give a policy: ten times the default, about
/// ten seconds of CPU, matching [`MAX_POLICY_DEADLINE_MS`].
pub const MAX_POLICY_FUEL: u64 = 10 * POLICY_FUEL;

/// The least fuel an operator may give a policy. The smallest built-in burns
/// about 5,000 per call, start-up included; below a thousand no guest gets
/// through its start-up, so a smaller number is a typo, not a limit.
pub const MIN_POLICY_FUEL: u64 = 1_000;

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

/// A warm instance whose memory grew past this share of its plugin's memory cap
/// (one half) is retired rather than kept, so a guest that creeps towards its
/// cap is replaced before a request would fault on it.
pub const WARM_RETIRE_MEMORY_DIVISOR: usize = 2;

/// Enforces a plugin's memory cap and remembers that it did, so the audit log can
/// say "out of memory" rather than a generic trap.
#[derive(Debug)]
pub struct Limiter {
    /// The plugin's cap ([`PluginLimits::memory_cap_bytes`]).
    pub cap_bytes: usize,
    pub memory_exceeded: bool,
    /// The largest size a memory of this store asked to grow to (warm instances
    /// are retired past [`WARM_RETIRE_MEMORY_BYTES`]).
    pub peak_memory_bytes: usize,
}

impl Limiter {
    pub fn new(cap_bytes: usize) -> Self {
        Self {
            cap_bytes,
            memory_exceeded: false,
            peak_memory_bytes: 0,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.peak_memory_bytes = self.peak_memory_bytes.max(desired);
        if desired > self.cap_bytes {
            self.memory_exceeded = true;
            wasmtime::bail!("plugin memory cap of {} MiB exceeded", self.cap_bytes >> 20);
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

/// The host settings that set a plugin's limits. They sit in the plugin's SPEC
/// beside its own settings; the host takes them out before the plugin sees its
/// configuration.
pub const DEADLINE_KEY: &str = "sceptic.deadline-ms";
pub const MEMORY_KEY: &str = "sceptic.memory-mib";
pub const FUEL_KEY: &str = "sceptic.fuel";
/// Every limit setting, for error messages and the settings check.
pub const LIMIT_KEYS: &[&str] = &[DEADLINE_KEY, MEMORY_KEY, FUEL_KEY];

/// What a plugin's calls run under: its defaults, or what the operator set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Wall-clock budget of one call, `init` included.
    pub deadline_ms: u64,
    /// Linear memory one instance may grow to.
    pub memory_cap_bytes: usize,
    /// Fuel of one call; None for issuers, which the deadline bounds (they wait
    /// on remote CAs, where fuel does not burn).
    pub fuel: Option<u64>,
}

impl PluginLimits {
    /// A policy's defaults.
    pub const POLICY: Self = Self {
        deadline_ms: POLICY_DEADLINE_MS,
        memory_cap_bytes: MEMORY_CAP_BYTES,
        fuel: Some(POLICY_FUEL),
    };

    /// An issuer's defaults.
    pub const ISSUER: Self = Self {
        deadline_ms: ISSUER_DEADLINE_MS,
        memory_cap_bytes: MEMORY_CAP_BYTES,
        fuel: None,
    };

    /// Takes the limit settings out of a plugin's configuration and checks each
    /// against its floor and ceiling; the defaults fill what is not set. Err
    /// names the setting and what it takes. Other `sceptic.` keys (the host's
    /// own, such as the issuer's certificate information) are left in place.
    pub fn take_from(config: &mut BTreeMap<String, String>, issuer: bool) -> Result<Self, String> {
        let mut limits = if issuer { Self::ISSUER } else { Self::POLICY };
        if let Some(text) = config.remove(DEADLINE_KEY) {
            let ceiling = if issuer {
                MAX_ISSUER_DEADLINE_MS
            } else {
                MAX_POLICY_DEADLINE_MS
            };
            limits.deadline_ms = number(DEADLINE_KEY, &text, MIN_DEADLINE_MS, ceiling, "ms")?;
        }
        if let Some(text) = config.remove(MEMORY_KEY) {
            let mib = number(
                MEMORY_KEY,
                &text,
                (MIN_MEMORY_CAP_BYTES >> 20) as u64,
                (MAX_MEMORY_CAP_BYTES >> 20) as u64,
                "MiB",
            )?;
            limits.memory_cap_bytes = (mib as usize) << 20;
        }
        if let Some(text) = config.remove(FUEL_KEY) {
            if issuer {
                return Err(format!(
                    "{FUEL_KEY} is for policies; an issuer is bounded by its deadline \
                     ({DEADLINE_KEY}), since it waits on its CA where fuel does not burn"
                ));
            }
            limits.fuel = Some(number(
                FUEL_KEY,
                &text,
                MIN_POLICY_FUEL,
                MAX_POLICY_FUEL,
                "",
            )?);
        }
        Ok(limits)
    }

    /// The form `sceptic service plugins` shows: `deadline=1000ms memory=64MiB
    /// fuel=1000000000`.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "deadline={}ms memory={}MiB",
            self.deadline_ms,
            self.memory_cap_bytes >> 20
        );
        if let Some(fuel) = self.fuel {
            text.push_str(&format!(" fuel={fuel}"));
        }
        text
    }
}

fn number(key: &str, text: &str, floor: u64, ceiling: u64, unit: &str) -> Result<u64, String> {
    // Digits, with `_` between them for readability (`2_000_000`); not a sign.
    let text_trimmed = text.trim();
    let plain = text_trimmed.starts_with(|c: char| c.is_ascii_digit())
        && text_trimmed.ends_with(|c: char| c.is_ascii_digit())
        && !text_trimmed.contains("__")
        && text_trimmed.chars().all(|c| c.is_ascii_digit() || c == '_');
    let digits: String = text_trimmed.chars().filter(|c| *c != '_').collect();
    match digits.parse::<u64>() {
        Ok(n) if plain && (floor..=ceiling).contains(&n) => Ok(n),
        _ => Err(format!(
            "{key}={text:?}: must be a whole number from {floor} to {ceiling}{unit}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn limits_come_out_of_the_configuration_and_defaults_fill_the_rest() {
        let mut config = settings(&[("domain", "example.com"), (FUEL_KEY, "2_000_000")]);
        let limits = PluginLimits::take_from(&mut config, false).unwrap();
        assert_eq!(limits.fuel, Some(2_000_000));
        assert_eq!(limits.deadline_ms, POLICY_DEADLINE_MS);
        assert_eq!(limits.memory_cap_bytes, MEMORY_CAP_BYTES);
        assert_eq!(config, settings(&[("domain", "example.com")]));

        let mut config = settings(&[(DEADLINE_KEY, "20000"), (MEMORY_KEY, "16")]);
        let limits = PluginLimits::take_from(&mut config, true).unwrap();
        assert_eq!(
            (limits.deadline_ms, limits.memory_cap_bytes),
            (20_000, 16 << 20)
        );
        assert_eq!(limits.fuel, None);
    }

    #[test]
    fn a_limit_outside_its_range_is_refused_by_name() {
        for (key, value, issuer) in [
            (DEADLINE_KEY, "0", false),
            (DEADLINE_KEY, "20000", false),
            (DEADLINE_KEY, "60000", true),
            (MEMORY_KEY, "4096", false),
            (MEMORY_KEY, "lots", false),
            (FUEL_KEY, "10", false),
            (FUEL_KEY, "", false),
            (FUEL_KEY, "-1", false),
            (FUEL_KEY, "+2000000", false),
            (FUEL_KEY, "_2000000", false),
            (DEADLINE_KEY, "1e3", false),
            (FUEL_KEY, "1_000_000__", false),
            (FUEL_KEY, "2000000_", false),
            (FUEL_KEY, "1000000", true),
        ] {
            let mut config = settings(&[(key, value)]);
            let err = PluginLimits::take_from(&mut config, issuer).unwrap_err();
            assert!(err.contains(key), "{key}={value}: {err}");
        }
    }
}
