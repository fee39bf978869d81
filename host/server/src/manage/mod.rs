//! Service management shared by the CLI and the admin REST API: creating a service
//! (with its RA key and its owner team), listing, showing, editing, enabling,
//! disabling and deleting it, and its secrets and trusted certificates. Both
//! surfaces call these functions, so they check, refuse and audit alike; each only
//! turns its own input (flags, JSON) into [`Settings`] and formats the result.
//! Changes land in the store; a running server picks them up through its reload
//! (the services generation).

mod secrets;
mod services;
mod settings;
mod trust;
mod view;

use std::cell::OnceCell;
use std::path::Path;

use sceptic_plugins::PluginEngine;
use sceptic_store::{SecretDigester, Service, Store, StoreError};

pub use secrets::{NewSecret, add_secret, delete_secret, list_secrets};
pub use services::{
    CreateService, Deleted, create_service, delete_service, edit_service, list_services, service,
    service_url, set_enabled,
};
pub use settings::{
    ALL_CLIENT_CIPHERS, DEFAULT_CLIENT_CIPHERS, Settings, default_approval, default_issuer,
    default_policies, describe_plugin, validate_alias, validate_base_url,
};
pub use trust::{add_trusted, delete_trusted, list_trusted, read_certificates};
pub use view::{deleted_json, owner_json, secret_json, service_json, trusted_json};

use crate::decisions::DecisionError;

/// The name of the data directory's own CA in the store.
pub const LOCAL_CA: &str = "local";

/// Where clients reach a service when neither it nor the server names a URL: the
/// address `sceptic serve` listens on by default.
pub const FALLBACK_SYSTEM_URL: &str = "http://127.0.0.1:8080";

pub type Result<T> = std::result::Result<T, DecisionError>;

/// What the caller may manage: everything (the CLI, full admin tokens), or only
/// the services of one team (a team-scoped API token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Full,
    Team(i64),
}

impl Access {
    /// Whether this caller may manage the service (its secrets, trusted
    /// certificates and held requests) and read what it issued.
    pub fn covers(&self, team_id: Option<i64>) -> bool {
        match self {
            Access::Full => true,
            Access::Team(team) => team_id == Some(*team),
        }
    }

    /// Refuses a service of another team (or of no team).
    pub fn check(&self, service: &Service) -> Result<()> {
        match self {
            Access::Team(team) if !self.covers(service.team_id) => {
                Err(DecisionError::Forbidden(format!(
                    "this API token is scoped to team {team}; service {:?} is not one of that \
                     team's services (use a token of its team, or a full admin token from \
                     `sceptic admin-token`)",
                    service.name
                )))
            }
            _ => Ok(()),
        }
    }

    /// Refuses a team-scoped caller: `what` needs a full admin token.
    pub fn require_full(&self, what: &str) -> Result<()> {
        match self {
            Access::Full => Ok(()),
            Access::Team(team) => Err(DecisionError::Forbidden(format!(
                "{what} needs a full admin token (`sceptic admin-token`); this token is \
                 scoped to team {team} and manages only the secrets, trusted certificates and \
                 held requests of that team's services"
            ))),
        }
    }
}

/// The context every management operation runs in.
pub struct Manager<'a> {
    pub store: &'a Store,
    pub digester: &'a SecretDigester,
    pub data_dir: &'a Path,
    /// Who the audit trail names: `cli:USER`, `api:admin`, `api:team:N`.
    pub actor: String,
    pub access: Access,
    engine: Option<&'a PluginEngine>,
    own_engine: OnceCell<PluginEngine>,
}

impl<'a> Manager<'a> {
    /// For the CLI: full access; a plugin engine is made only if a setting names a
    /// plugin to check.
    pub fn new(
        store: &'a Store,
        digester: &'a SecretDigester,
        data_dir: &'a Path,
        actor: impl Into<String>,
    ) -> Self {
        Self {
            store,
            digester,
            data_dir,
            actor: actor.into(),
            access: Access::Full,
            engine: None,
            own_engine: OnceCell::new(),
        }
    }

    /// For the running server: its engine, and the caller's access.
    pub fn for_app(app: &'a crate::App, actor: impl Into<String>, access: Access) -> Self {
        Self {
            engine: Some(&app.engine),
            access,
            ..Self::new(&app.store, &app.digester, &app.data_dir, actor)
        }
    }

    fn engine(&self) -> Result<&PluginEngine> {
        if let Some(engine) = self.engine {
            return Ok(engine);
        }
        if let Some(engine) = self.own_engine.get() {
            return Ok(engine);
        }
        let engine = PluginEngine::new()
            .map_err(|e| DecisionError::Internal(format!("starting the plugin engine: {e:#}")))?;
        Ok(self.own_engine.get_or_init(|| engine))
    }

    /// The service `name`, if this caller may manage it.
    fn managed(&self, name: &str) -> Result<Service> {
        let service = self.store.service(name).map_err(store_error)?;
        self.access.check(&service)?;
        Ok(service)
    }
}

/// Settings the store names in its refusals (`reply-digest: …`), as the field.
const STORE_FIELDS: &[&str] = &[
    "client_digests",
    "reply_digest",
    "reply_cipher",
    "kek_cipher",
    "ra_key_bits",
    "ra_subject",
    "ra_renew_at_percent",
    "ra_issuer",
    "skip_issuer_check",
    "team_id",
    "user_id",
];

/// A refusal text `setting: why` as an invalid field (kebab or snake case).
pub(crate) fn invalid(text: &str) -> DecisionError {
    let (setting, message) = text.split_once(": ").unwrap_or(("", text));
    let setting = setting.replace('-', "_");
    match STORE_FIELDS.iter().find(|f| **f == setting) {
        Some(field) => DecisionError::Invalid {
            field,
            message: message.to_owned(),
        },
        None => DecisionError::Invalid {
            field: "settings",
            message: text.to_owned(),
        },
    }
}

/// Store errors as management errors: a clash is a conflict, a bad value names
/// its field, anything else is the server's fault.
pub(crate) fn store_error(e: StoreError) -> DecisionError {
    match e {
        StoreError::UnknownService(name) => DecisionError::NotFound(format!(
            "no service named {name:?} (GET /api/v1/services or `sceptic service list` shows them)"
        )),
        StoreError::Conflict(m) => DecisionError::Conflict(m),
        StoreError::Invalid(m) => invalid(&m),
        other => DecisionError::Internal(other.to_string()),
    }
}
