//! The built-in plugins, compiled from `plugins/` by this crate's build script and
//! embedded, so the sceptic binary is one file to deploy.

/// Prefix that names a built-in in a service's configuration.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// Version reported for built-ins: they are built from this very source tree.
pub const BUILTIN_VERSION: &str = env!("CARGO_PKG_VERSION");

const SECRET_POLICY: &[u8] =
    include_bytes!(concat!(env!("SCEPTIC_PLUGIN_DIR"), "/secret_policy.wasm"));
const LOCAL_CA_ISSUER: &[u8] =
    include_bytes!(concat!(env!("SCEPTIC_PLUGIN_DIR"), "/local_ca_issuer.wasm"));

const APPROVAL_POLICY: &[u8] =
    include_bytes!(concat!(env!("SCEPTIC_PLUGIN_DIR"), "/approval_policy.wasm"));
const TRUSTED_CERT_POLICY: &[u8] = include_bytes!(concat!(
    env!("SCEPTIC_PLUGIN_DIR"),
    "/trusted_cert_policy.wasm"
));
const SCRIPT_POLICY: &[u8] =
    include_bytes!(concat!(env!("SCEPTIC_PLUGIN_DIR"), "/script_policy.wasm"));

const BUILTINS: &[(&str, &[u8])] = &[
    ("secret-policy", SECRET_POLICY),
    ("local-ca-issuer", LOCAL_CA_ISSUER),
    ("approval-policy", APPROVAL_POLICY),
    ("trusted-cert-policy", TRUSTED_CERT_POLICY),
    ("script-policy", SCRIPT_POLICY),
];

/// Built-ins whose calls reuse warm instances (`warm.rs`) instead of a fresh one
/// per call. Each is reviewed to keep nothing between calls but what its `init`
/// made from its configuration: `script-policy` keeps its parsed program.
const REUSES_INSTANCES: &[&str] = &["script-policy"];

/// Whether a plugin spec names a built-in that reuses warm instances.
pub(crate) fn reuses_instances(spec: &str) -> bool {
    spec.strip_prefix(BUILTIN_PREFIX)
        .is_some_and(|name| REUSES_INSTANCES.contains(&name))
}

/// The component bytes of a built-in, by name without the prefix.
pub fn builtin_component(name: &str) -> Option<&'static [u8]> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}

pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// Path of a component built beside the built-ins but not embedded (the fault
/// injection plugin, the deferring issuer, the WIT v0.1 `legacy-policy`). For
/// tests on the machine that built this crate.
pub fn test_component_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("SCEPTIC_PLUGIN_DIR"))
        .join(format!("{}.wasm", name.replace('-', "_")))
}
