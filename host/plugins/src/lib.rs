//! Runs sceptic's decisions as WebAssembly components.
//!
//! This crate owns the wasmtime engine, the bindings of each supported WIT version
//! (0.1 and 0.2, side by side: a component is run in the bindings it was built for),
//! the host interfaces plugins import, and the limits every call runs under. A
//! component is compiled once and pre-linked into an `InstancePre`; every call gets
//! a fresh `Store` and instance (tens of microseconds), so no state leaks from one
//! request into the next and a trapped instance is never re-entered. The one
//! exception is opt-in, for built-ins that parse a program at `init`
//! (`script-policy`): they keep a few warm instances, and a faulted one is dropped
//! (`warm.rs`). Any fault in a
//! policy (trap, deadline, out of memory, failing `init`) is reported as a fault and
//! turned into a deny by the chain: sceptic fails closed.

mod bindings;
mod builtin;
mod chain;
mod disk_cache;
mod engine;
mod files;
mod host;
mod http;
mod issuer;
pub mod limits;
pub use limits::PluginLimits;
mod pki;
mod policy;
mod quarantine;
mod script;
mod warm;

pub use bindings::types;
pub use bindings::v0_1::issuer::sceptic::host::signing;
pub use bindings::v0_1::policy::sceptic::host::secrets::SecretKind;
pub use builtin::{BUILTIN_PREFIX, builtin_component, builtin_names, test_component_path};
pub use chain::{ChainDecision, DEFAULT_DENY, PolicyChain, Verdict};
pub use engine::PluginEngine;
pub use files::read_regular_file;
pub use host::{
    CaSigner, CertificateBroker, IssuedCertificate, MatchedSecret, NoCertificates, PluginIdentity,
    SecretBroker, TrustedSigner,
};
pub use http::ALLOWED_HOSTS;
pub use issuer::{IssueOutcome, Issuer};
pub use pki::{ANCHOR_SETS, MAX_VERIFY_CERTIFICATE_BYTES};
pub use policy::{Evaluation, Policy};
pub use script::{MAX_SCRIPT_BYTES, SCRIPT_POLICY};

/// Configuration keys the host itself sets for a plugin (read with `config.get`,
/// never listed by `config.keys`): `sceptic.certificate-info`, the service's
/// "additional certificate information", for issuers. Operators cannot set them.
pub const HOST_CONFIG_PREFIX: &str = "sceptic.";

/// The key under which an issuer reads the service's additional certificate
/// information.
pub const CERTIFICATE_INFO_KEY: &str = "sceptic.certificate-info";

/// Why a plugin call produced no answer. Each is audited with the plugin's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("exceeded its {0} ms deadline")]
    Timeout(u64),
    #[error("exceeded its memory cap of {0} MiB")]
    OutOfMemory(usize),
    #[error("burnt all its fuel ({0}) in one call")]
    OutOfFuel(u64),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("init refused the configuration: {0}")]
    Init(String),
    #[error("returned an unusable answer: {0}")]
    BadAnswer(String),
    /// Not called: it faulted this many times in a row (see
    /// [`limits::QUARANTINE_AFTER_FAULTS`]).
    #[error(
        "is quarantined after {0} consecutive faults and was not called; fix it, then \
         edit the service (or restart the server) to try it again"
    )]
    Quarantined(u32),
}

impl Fault {
    /// A short stable word for the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Timeout(_) => "timeout",
            Fault::OutOfMemory(_) => "out-of-memory",
            Fault::OutOfFuel(_) => "out-of-fuel",
            Fault::Trap(_) => "trap",
            Fault::Init(_) => "init",
            Fault::BadAnswer(_) => "bad-answer",
            Fault::Quarantined(_) => "quarantined",
        }
    }
}

/// Why a plugin could not be loaded. Shown to the operator as is.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("unknown built-in plugin {0:?} (built-ins: {names})", names = builtin_names().join(", "))]
    UnknownBuiltin(String),
    // `reason`, not `source`: the message already carries it, and an error
    // chain printed with `{:#}` would say it twice.
    #[error("cannot read plugin {path}: {reason}")]
    Read {
        path: String,
        reason: std::io::Error,
    },
    #[error("{plugin} is not a usable {world} component: {detail}")]
    Invalid {
        plugin: String,
        world: &'static str,
        detail: String,
    },
    #[error("{plugin} refused its configuration: {detail}")]
    Init { plugin: String, detail: String },
    /// A host setting of the plugin (its limits, `allowed-hosts`) is wrong: the
    /// host refused it, before the plugin ran.
    #[error("{plugin}: {detail}")]
    HostSetting { plugin: String, detail: String },
}
