//! Host bindings for WIT v0.1 (`wit/v0.1`). A released WIT version is frozen, so
//! these bindings stay as they are when a newer version arrives beside them.

/// The `policy-plugin` world. Its generated modules for the shared types and host
/// interfaces are reused by the issuer world, so the host implements each
/// interface once.
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
        // The signing interface can fail in the host (a missing CA key, a resource
        // table error); trappable imports turn that into a trap, i.e. a fault.
        imports: { default: trappable },
        with: {
            "sceptic:types/types": crate::bindings::policy::sceptic::types::types,
            "sceptic:host/log": crate::bindings::policy::sceptic::host::log,
            "sceptic:host/config": crate::bindings::policy::sceptic::host::config,
            "sceptic:host/signing.ca-key": crate::host::CaKeyHandle,
        },
    });
}

pub use policy::sceptic::types::types;
