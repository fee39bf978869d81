//! A service's settings as an operator gives them (CLI flags or REST fields, still
//! text), checked and turned into a store edit. Every refusal names the field in
//! its REST spelling (`client_ciphers`); the CLI shows it as its flag.

use std::collections::BTreeMap;

use sceptic_store::{AlgorithmsEdit, EnforcementEdit, PluginSpec, RaSettingsEdit, ServiceEdit};

use super::{Manager, Result, invalid, store_error};
use crate::decisions::DecisionError;

/// Content ciphers a new service accepts: everything but single DES, which
/// RFC 8894 §2.9 calls too weak ("MUST NOT" for new deployments).
pub const DEFAULT_CLIENT_CIPHERS: &[&str] = &["aes128", "aes192", "aes256", "des3"];
pub const ALL_CLIENT_CIPHERS: &[&str] = &["aes128", "aes192", "aes256", "des3", "des"];

/// Every setting `service add` and `service edit` take; `None` leaves a setting
/// as it is (or, for a new service, at its default).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub client_ciphers: Option<Vec<String>>,
    /// Plugin SPECs in chain order: `builtin:NAME` or a `.wasm` path, then
    /// optional `,key=value` settings.
    pub policies: Option<Vec<String>>,
    pub issuer: Option<String>,
    pub allow_unauthorised: Option<bool>,
    pub approval: Option<String>,
    pub max_poll_count: Option<u32>,
    pub min_poll_interval: Option<u32>,
    /// A URL, or `system` for the system URL.
    pub base_url: Option<String>,
    pub enabled: Option<bool>,
    pub enforcement: EnforcementEdit,
    /// Checked here ([`AlgorithmsEdit::validated`]).
    pub algorithms: AlgorithmsEdit,
    /// Checked here ([`RaSettingsEdit::validated`]).
    pub ra: RaSettingsEdit,
    /// "Additional certificate information"; empty clears it.
    pub certificate_info: Option<String>,
}

/// Longest "additional certificate information": it is copied onto every
/// certificate record, so it stays a note, not a document.
pub const MAX_CERTIFICATE_INFO_CHARS: usize = 1024;

fn bad(field: &'static str, message: impl Into<String>) -> DecisionError {
    DecisionError::Invalid {
        field,
        message: message.into(),
    }
}

/// Characters that print as nothing or reorder text: zero-width spaces and
/// joiners, bidirectional controls, the soft hyphen and the byte-order mark.
/// In a name or a plugin SPEC they only serve to make two things look alike.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The most policies in one chain. Every request runs them all (until a deny),
/// so this bounds a request's cost; real chains hold two to five.
pub const MAX_CHAIN_POLICIES: usize = 32;

/// `builtin:NAME,key=value,key=value` or `PATH,key=value`.
fn plugin_spec(field: &'static str, text: &str) -> Result<PluginSpec> {
    let mut parts = text.split(',');
    let plugin = parts.next().unwrap_or_default().trim();
    if plugin.is_empty() {
        return Err(bad(
            field,
            format!("empty plugin in {text:?}; use builtin:NAME or a path to a .wasm file"),
        ));
    }
    // The plugin's name is its file's stem, and it is printed in /health, the
    // audit log and log lines: no control characters to forge lines with, and
    // no invisible ones to make one plugin look like another.
    if text.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(bad(
            field,
            format!(
                "{text:?} contains control or invisible characters; a plugin SPEC is one \
                 line of visible text"
            ),
        ));
    }
    // The CLI checks a plugin from its own working directory and the server
    // loads it from its own: only an absolute path means the same file to both.
    if !plugin.starts_with(sceptic_plugins::BUILTIN_PREFIX) && !plugin.starts_with('/') {
        return Err(bad(
            field,
            format!(
                "plugin path {plugin:?} must be absolute (or builtin:NAME): the server \
                 loads it from its own working directory"
            ),
        ));
    }
    let mut config = BTreeMap::new();
    for setting in parts {
        let Some((key, value)) = setting
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
        else {
            return Err(bad(
                field,
                format!("plugin setting {setting:?} in {text:?} must be key=value"),
            ));
        };
        // The host's own keys: the plugin's limits are the operator's to set,
        // the rest (e.g. the certificate information) the host sets itself.
        let limits = sceptic_plugins::limits::LIMIT_KEYS;
        if key.trim().starts_with(sceptic_plugins::HOST_CONFIG_PREFIX)
            && !limits.contains(&key.trim())
        {
            return Err(bad(
                field,
                format!(
                    "plugin setting {key:?}: the host's settings (starting with {:?}) \
                     are {}",
                    sceptic_plugins::HOST_CONFIG_PREFIX,
                    limits.join(", ")
                ),
            ));
        }
        // Twice would be last-wins, and one of the two the operator meant is lost.
        if config
            .insert(key.trim().to_owned(), value.trim().to_owned())
            .is_some()
        {
            return Err(bad(
                field,
                format!("plugin setting {:?} is given twice in {text:?}", key.trim()),
            ));
        }
    }
    Ok(PluginSpec {
        plugin: plugin.to_owned(),
        config,
    })
}

/// A plugin as its SPEC text (the form `plugin_spec` reads).
pub fn describe_plugin(spec: &PluginSpec) -> String {
    let mut text = spec.plugin.clone();
    for (k, v) in &spec.config {
        text.push_str(&format!(",{k}={v}"));
    }
    text
}

fn ciphers(list: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for cipher in list
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
    {
        if !ALL_CLIENT_CIPHERS.contains(&cipher.as_str()) {
            return Err(bad(
                "client_ciphers",
                format!(
                    "unknown cipher {cipher:?}; choose from {}",
                    ALL_CLIENT_CIPHERS.join(",")
                ),
            ));
        }
        if !out.contains(&cipher) {
            out.push(cipher);
        }
    }
    if out.is_empty() {
        return Err(bad("client_ciphers", "needs at least one cipher"));
    }
    Ok(out)
}

/// An alias is a single path segment: it makes the URL `/scep/{alias}`.
pub fn validate_alias(alias: &str) -> Result<()> {
    let ok = !alias.is_empty()
        && alias.len() <= 64
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alias != "."
        && alias != "..";
    if !ok {
        return Err(bad(
            "alias",
            format!(
                "alias {alias:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.' \
                 (it becomes the URL path /scep/ALIAS)"
            ),
        ));
    }
    Ok(())
}

/// A base URL is where clients reach the server, without `/scep/ALIAS`: scheme,
/// host, optional port and path prefix (a proxy may mount sceptic under a path).
pub fn validate_base_url(url: &str) -> std::result::Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default());
    let ok = matches!(host, Some(h) if !h.is_empty())
        && !trimmed.contains(['?', '#'])
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(format!(
            "base URL {url:?} must be http:// or https:// with a host, e.g. https://pki.example.com \
             (no query, no fragment; /scep/ALIAS is added to it)"
        ));
    }
    Ok(trimmed.to_owned())
}

/// The plugins a new service starts with.
pub fn default_policies() -> Vec<PluginSpec> {
    vec![PluginSpec::new("builtin:secret-policy")]
}

pub fn default_issuer() -> PluginSpec {
    PluginSpec::new("builtin:local-ca-issuer")
}

/// The approval plugin a service gets when it allows unauthorised requests: its
/// queue is named after the service ("auto create workflow").
pub fn default_approval(service: &str) -> PluginSpec {
    let mut spec = PluginSpec::new("builtin:approval-policy");
    spec.config.insert("queue".into(), service.to_owned());
    spec
}

impl Settings {
    /// Checks every value and makes the store edit for the service `service`,
    /// which allows unauthorised requests now if `unauthorised_allowed`.
    pub fn edit(&self, service: &str, unauthorised_allowed: bool) -> Result<ServiceEdit> {
        let approval = match (self.allow_unauthorised, &self.approval) {
            (Some(false), Some(_)) => {
                return Err(bad(
                    "approval",
                    "an approval plugin needs allow-unauthorised true",
                ));
            }
            // Naming an approval plugin alone must not open the service to
            // unauthorised requests as a side effect: that is its own decision.
            (None, Some(_)) if !unauthorised_allowed => {
                return Err(bad(
                    "approval",
                    "the approval plugin is used only when unauthorised requests are \
                     allowed, and this service does not allow them: set \
                     allow-unauthorised true as well (--allow-unauthorised true)",
                ));
            }
            (Some(false), None) => Some(None),
            (_, Some(spec)) => Some(Some(plugin_spec("approval", spec)?)),
            (Some(true), None) => Some(Some(default_approval(service))),
            (None, None) => None,
        };
        let policies = match &self.policies {
            Some(list) if list.is_empty() => {
                return Err(bad(
                    "policies",
                    "the policy chain needs at least one policy",
                ));
            }
            Some(list) if list.len() > MAX_CHAIN_POLICIES => {
                return Err(bad(
                    "policies",
                    format!(
                        "{} policies; a chain holds at most {MAX_CHAIN_POLICIES}",
                        list.len()
                    ),
                ));
            }
            Some(list) => Some(
                list.iter()
                    .map(|p| plugin_spec("policies", p))
                    .collect::<Result<_>>()?,
            ),
            None => None,
        };
        Ok(ServiceEdit {
            enabled: self.enabled,
            approval,
            max_poll_count: self.max_poll_count.map(i64::from),
            min_poll_interval: self.min_poll_interval.map(i64::from),
            client_ciphers: self.client_ciphers.as_deref().map(ciphers).transpose()?,
            policies,
            issuer: self
                .issuer
                .as_deref()
                .map(|s| plugin_spec("issuer", s))
                .transpose()?,
            base_url: match self.base_url.as_deref().map(str::trim) {
                None => None,
                Some("system") => Some(None),
                Some(url) => Some(Some(
                    validate_base_url(url).map_err(|m| bad("base_url", m))?,
                )),
            },
            enforcement: self.enforcement,
            algorithms: self.algorithms.validated().map_err(|e| invalid(&e))?,
            ra: {
                let ra = self.ra.validated().map_err(|e| invalid(&e))?;
                // A bad subject would only show when the next RA is made.
                if let Some(Some(subject)) = &ra.subject {
                    sceptic_x509::name_der(subject).map_err(|e| {
                        bad(
                            "ra_subject",
                            format!("{subject:?} is not an RFC 4514 name: {e}"),
                        )
                    })?;
                }
                ra
            },
            certificate_info: match &self.certificate_info {
                Some(text) if text.chars().count() > MAX_CERTIFICATE_INFO_CHARS => {
                    return Err(bad(
                        "certificate_info",
                        format!("is longer than {MAX_CERTIFICATE_INFO_CHARS} characters"),
                    ));
                }
                Some(text) if text.chars().any(|c| c.is_control()) => {
                    return Err(bad(
                        "certificate_info",
                        "must be one line of text without control characters",
                    ));
                }
                other => other.as_ref().map(|t| t.trim().to_owned()),
            },
        })
    }
}

/// Whether an edit changes nothing.
pub(super) fn is_empty(edit: &ServiceEdit) -> bool {
    edit.enabled.is_none()
        && edit.client_ciphers.is_none()
        && edit.policies.is_none()
        && edit.issuer.is_none()
        && edit.approval.is_none()
        && edit.max_poll_count.is_none()
        && edit.min_poll_interval.is_none()
        && edit.base_url.is_none()
        && edit.enforcement.is_empty()
        && edit.algorithms.is_empty()
        && edit.ra.is_empty()
        && edit.certificate_info.is_none()
}

/// Loads every plugin an edit names (compile, link, `init` with its settings), so a
/// typo is refused now rather than discovered by the running server; and checks
/// that a new issuer's CA and the service's RA chain to the same root.
pub(super) fn check_plugins(m: &Manager<'_>, service: &str, edit: &ServiceEdit) -> Result<()> {
    let approval = edit.approval.iter().flatten();
    if edit.policies.is_none() && approval.clone().next().is_none() && edit.issuer.is_none() {
        return Ok(());
    }
    let engine = m.engine()?;
    let refused = |field: &'static str, e: &dyn std::fmt::Display| bad(field, format!("{e}"));
    for spec in edit.policies.iter().flatten() {
        sceptic_plugins::Policy::load(engine, &spec.plugin, spec.config.clone(), service)
            .map_err(|e| refused("policies", &e))?;
    }
    for spec in approval {
        sceptic_plugins::Policy::load(engine, &spec.plugin, spec.config.clone(), service)
            .map_err(|e| refused("approval", &e))?;
    }
    let Some(spec) = &edit.issuer else {
        return Ok(());
    };
    let internal = |e: &dyn std::fmt::Display| DecisionError::Internal(e.to_string());
    let ca = m
        .store
        .ca_by_name(super::LOCAL_CA)
        .map_err(store_error)?
        .ok_or_else(|| internal(&"the data directory has no local CA"))?;
    let key =
        sceptic_keys::RsaKey::load(&m.data_dir.join(&ca.key_file)).map_err(|e| internal(&e))?;
    let ca_certificate = ca.certificate.clone();
    let signer = sceptic_plugins::CaSigner::new(ca.certificate, std::sync::Arc::new(key))
        .map_err(|e| internal(&e))?;
    let loaded = sceptic_plugins::Issuer::load(
        engine,
        &spec.plugin,
        spec.config.clone(),
        service,
        std::sync::Arc::new(signer),
    )
    .map_err(|e| refused("issuer", &e))?;
    // The issuer check, now rather than when the server loads the service.
    let stored = m.store.service(service).ok();
    let skip = edit
        .ra
        .skip_issuer_check
        .unwrap_or_else(|| stored.as_ref().is_some_and(|s| s.ra.skip_issuer_check));
    if skip {
        return Ok(());
    }
    let cas = loaded
        .ca_certificates(service.into())
        .map_err(|e| refused("issuer", &e))?;
    let current_ra = match &stored {
        Some(s) => m.store.ra_keys(s.id).map_err(store_error)?.pop(),
        None => None,
    };
    match current_ra {
        Some(ra) => crate::ra::check_issuer_chain(service, &ra.certificate, &cas)
            .map_err(|reason| bad("issuer", reason))?,
        // A new service's RA will be issued by the local CA.
        None if cas.contains(&ca_certificate) => {}
        None => {
            return Err(bad(
                "issuer",
                format!(
                    "the issuer {}'s CA certificates do not include the local CA, which issues \
                     this service's RA: the two do not chain to the same root. Set \
                     skip-issuer-check to true if that is intended (e.g. an external CA whose \
                     clients get both from GetCACert)",
                    spec.plugin
                ),
            ));
        }
    }
    Ok(())
}
