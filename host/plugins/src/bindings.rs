//! Host bindings for every supported WIT version, side by side (wit/README.md,
//! rule 3). A released version is frozen, so its bindings stay as they are when a
//! newer version arrives beside them.
//!
//! v0.2 imports the very same `sceptic:types@0.1.0` and `sceptic:host@0.1.0`
//! packages as v0.1 (byte-identical copies). Its bindings map them onto v0.1's
//! generated modules with `with:`, so `Request`, `Decision` and the rest are one
//! Rust type for both versions, the host implements each interface once, and one
//! linker serves both: it holds the @0.1.0 names once, plus the @0.2.0 `pki` ones.

/// WIT v0.1 (`wit/v0.1`).
pub mod v0_1 {
    /// The `policy-plugin` world. Its generated modules for the shared types and
    /// host interfaces are reused by the issuer world and by v0.2.
    pub mod policy {
        wasmtime::component::bindgen!({
            world: "policy-plugin",
            path: "../../wit/v0.1",
        });
    }

    pub mod issuer {
        wasmtime::component::bindgen!({
            world: "issuer-plugin",
            path: "../../wit/v0.1",
            // The signing interface can fail in the host (a missing CA key, a
            // resource table error); trappable imports turn that into a trap, i.e.
            // a fault.
            imports: { default: trappable },
            with: {
                "sceptic:types/types": crate::bindings::v0_1::policy::sceptic::types::types,
                "sceptic:host/log": crate::bindings::v0_1::policy::sceptic::host::log,
                "sceptic:host/config": crate::bindings::v0_1::policy::sceptic::host::config,
                "sceptic:host/signing.ca-key": crate::host::CaKeyHandle,
            },
        });
    }
}

/// WIT v0.2 (`wit/v0.2`): v0.1 plus `sceptic:pki@0.2.0` (`trust`, `issued`) and,
/// for issuers only, `sceptic:net@0.2.0` (`http`).
pub mod v0_2 {
    /// The `policy-plugin` world. Its `sceptic:pki` modules are generated here and
    /// reused by the issuer world.
    pub mod policy {
        wasmtime::component::bindgen!({
            world: "policy-plugin",
            path: "../../wit/v0.2",
            with: {
                "sceptic:types/types": crate::bindings::v0_1::policy::sceptic::types::types,
                "sceptic:host/log": crate::bindings::v0_1::policy::sceptic::host::log,
                "sceptic:host/config": crate::bindings::v0_1::policy::sceptic::host::config,
                "sceptic:host/secrets": crate::bindings::v0_1::policy::sceptic::host::secrets,
            },
        });
    }

    pub mod issuer {
        wasmtime::component::bindgen!({
            world: "issuer-plugin",
            path: "../../wit/v0.2",
            with: {
                "sceptic:types/types": crate::bindings::v0_1::policy::sceptic::types::types,
                "sceptic:host/log": crate::bindings::v0_1::policy::sceptic::host::log,
                "sceptic:host/config": crate::bindings::v0_1::policy::sceptic::host::config,
                "sceptic:host/signing": crate::bindings::v0_1::issuer::sceptic::host::signing,
                "sceptic:pki/issued": crate::bindings::v0_2::policy::sceptic::pki::issued,
            },
        });
    }

    pub use issuer::sceptic::net::http;
    pub use policy::sceptic::pki::{issued, trust};
}

pub use v0_1::policy::sceptic::types::types;

/// The plugin interface names each version exports, newest first; the host picks
/// a component's bindings by the one it finds (`sceptic:plugin/policy@0.2.0`...).
pub const POLICY_EXPORTS: &[(&str, Wit)] = &[
    ("sceptic:plugin/policy@0.2.0", Wit::V0_2),
    ("sceptic:plugin/policy@0.1.0", Wit::V0_1),
];
pub const ISSUER_EXPORTS: &[(&str, Wit)] = &[
    ("sceptic:plugin/issuer@0.2.0", Wit::V0_2),
    ("sceptic:plugin/issuer@0.1.0", Wit::V0_1),
];

/// A supported WIT version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wit {
    V0_1,
    V0_2,
}

impl Wit {
    /// "0.1", "0.2": what `PluginIdentity::wit` shows.
    pub fn label(self) -> &'static str {
        match self {
            Wit::V0_1 => "0.1",
            Wit::V0_2 => "0.2",
        }
    }
}

/// Which version a component was built against, from the plugin interface it
/// exports. Err lists the versions this host supports.
pub fn detect(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
    exports: &[(&str, Wit)],
) -> Result<Wit, String> {
    let ty = component.component_type();
    exports
        .iter()
        .find(|(name, _)| ty.get_export(engine, name).is_some())
        .map(|(_, wit)| *wit)
        .ok_or_else(|| {
            let names: Vec<&str> = exports.iter().map(|(name, _)| *name).collect();
            format!(
                "it exports none of {} (supported WIT versions: {})",
                names.join(", "),
                exports
                    .iter()
                    .rev()
                    .map(|(_, wit)| wit.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}
