//! A service's life: create it (its RA key and certificate, its owner team),
//! list and show it, edit, enable, disable and delete it.

use sceptic_keys::RsaKey;
use sceptic_store::{
    DeletedService, NewService, Owner, Ownership, RaSettings, Service, ServiceEdit, Store,
};

use super::settings::{self, Settings, validate_alias};
use super::{FALLBACK_SYSTEM_URL, LOCAL_CA, Manager, Result, store_error};
use crate::decisions::DecisionError;

/// What `service add` and `POST /api/v1/services` take.
#[derive(Debug, Clone)]
pub struct CreateService {
    pub name: String,
    /// Default: the name.
    pub alias: Option<String>,
    pub settings: Settings,
    pub ownership: Ownership,
}

/// What deleting a service removed and kept, with the RA key files that could not
/// be removed (the operator removes those by hand).
#[derive(Debug, Clone)]
pub struct Deleted {
    pub deleted: DeletedService,
    pub warnings: Vec<String>,
}

fn internal(context: &str, e: impl std::fmt::Display) -> DecisionError {
    DecisionError::Internal(format!("{context}: {e:#}"))
}

/// The URL a service answers at, and where its base came from.
pub fn service_url(store: &Store, service: &Service) -> Result<(String, &'static str)> {
    let (base, source) = match &service.base_url {
        Some(url) => (url.clone(), "the service's base URL"),
        None => match store.system_url().map_err(store_error)? {
            Some(url) => (url, "the system URL"),
            None => (
                FALLBACK_SYSTEM_URL.to_owned(),
                "default; set the system URL with `sceptic system-url URL`",
            ),
        },
    };
    Ok((format!("{base}/scep/{}", service.alias), source))
}

/// The services this caller may see.
pub fn list_services(m: &Manager<'_>) -> Result<Vec<Service>> {
    let mut services = m.store.services().map_err(store_error)?;
    services.retain(|s| m.access.covers(s.team_id));
    Ok(services)
}

/// One service, if this caller may see it.
pub fn service(m: &Manager<'_>, name: &str) -> Result<Service> {
    m.managed(name)
}

/// The longest service name: it is printed in every log line, audit record
/// and /health answer about the service, and in its default RA subject.
pub const MAX_SERVICE_NAME_CHARS: usize = 128;

/// Creates a service with its own RA key and certificate from the local CA, owned
/// by a new team and user named after it (with a token for that team) or by the
/// given team and user. Settings not given take their defaults.
pub fn create_service(m: &Manager<'_>, create: &CreateService) -> Result<(Service, Owner)> {
    m.access.require_full("creating a service")?;
    let name = create.name.as_str();
    if name.trim().is_empty()
        || name.trim() != name
        || name
            .chars()
            .any(|c| c.is_control() || settings::is_invisible(c))
        || name.chars().count() > MAX_SERVICE_NAME_CHARS
    {
        return Err(DecisionError::Invalid {
            field: "name",
            message: format!(
                "a service needs a name: free text of at most {MAX_SERVICE_NAME_CHARS} \
                 characters, without control or invisible characters or spaces at either end"
            ),
        });
    }
    let alias = create.alias.clone().unwrap_or_else(|| name.to_owned());
    validate_alias(&alias)?;
    let edit = create.settings.edit(name, false)?;
    if let Ownership::Existing { team_id, user_id } = create.ownership {
        check_owner(m, team_id, user_id)?;
    }
    settings::check_plugins(m, name, &edit)?;
    let ca = m
        .store
        .ca_by_name(LOCAL_CA)
        .map_err(store_error)?
        .ok_or_else(|| DecisionError::Internal("the data directory has no local CA".into()))?;
    let ca_key = RsaKey::load(&m.data_dir.join(&ca.key_file))
        .map_err(|e| internal("loading the CA key", e))?;
    let mut ra = RaSettings::default();
    edit.ra.apply(&mut ra);
    // The RA first, then the service with it in one transaction: a running
    // server never sees the service without its RA. The key file is named after
    // the alias (unique among live services; make_ra picks an unused number).
    let (certificate, key_file, not_after) =
        crate::ra::make_ra(m.data_dir, &alias, name, &ra, &ca_key, &ca.certificate)
            .map_err(|e| internal("making the RA key and certificate", e))?;
    let mut rest = ServiceEdit {
        enabled: edit.enabled,
        max_poll_count: edit.max_poll_count,
        min_poll_interval: edit.min_poll_interval,
        base_url: edit.base_url.clone(),
        enforcement: edit.enforcement,
        algorithms: edit.algorithms.clone(),
        ra: edit.ra.clone(),
        certificate_info: edit.certificate_info.clone(),
        ..Default::default()
    };
    // With settings beyond the basics, the service is created disabled and
    // enabled by the edit that applies them: it never serves under the defaults.
    let staged = !settings::is_empty(&rest);
    if staged {
        rest.enabled = Some(edit.enabled.unwrap_or(true));
    }
    let new = NewService {
        name: name.to_owned(),
        alias,
        ca_id: ca.id,
        client_ciphers: edit.client_ciphers.clone().unwrap_or_else(|| {
            settings::DEFAULT_CLIENT_CIPHERS
                .iter()
                .map(|c| c.to_string())
                .collect()
        }),
        policies: edit
            .policies
            .clone()
            .unwrap_or_else(settings::default_policies),
        issuer: edit.issuer.clone().unwrap_or_else(settings::default_issuer),
        approval: edit.approval.clone().flatten(),
        ra: Some((certificate, key_file.clone(), not_after)),
        enabled: !staged,
    };
    let added = m
        .store
        .add_owned_service(m.digester, &new, create.ownership);
    let (_, owner) = match added {
        Ok(added) => added,
        Err(e) => {
            // Nothing was recorded: the key file has no service.
            let _ = std::fs::remove_file(m.data_dir.join(&key_file));
            return Err(store_error(e));
        }
    };
    let service = if settings::is_empty(&rest) {
        m.store.service(name).map_err(store_error)?
    } else {
        m.store.edit_service(name, &rest).map_err(store_error)?
    };
    Ok((service, owner))
}

/// The user must exist and belong to the team (the store checks again, inside
/// the transaction that creates the service).
fn check_owner(m: &Manager<'_>, team_id: i64, user_id: i64) -> Result<()> {
    if m.store.team(team_id).map_err(store_error)?.is_none() {
        return Err(DecisionError::Invalid {
            field: "team_id",
            message: format!(
                "there is no team {team_id} (`sceptic service show` names each service's team)"
            ),
        });
    }
    match m.store.user(user_id).map_err(store_error)? {
        None => Err(DecisionError::Invalid {
            field: "user_id",
            message: format!("there is no user {user_id}"),
        }),
        Some(user) if user.team_id != team_id => Err(DecisionError::Invalid {
            field: "user_id",
            message: format!(
                "user {user_id} belongs to team {}, not to team {team_id}",
                user.team_id
            ),
        }),
        Some(_) => Ok(()),
    }
}

/// Changes the settings given; the others stay.
pub fn edit_service(m: &Manager<'_>, name: &str, settings: &Settings) -> Result<Service> {
    m.access.require_full("editing a service")?;
    let current = m.managed(name)?;
    let edit = settings.edit(name, current.approval.is_some())?;
    if settings::is_empty(&edit) {
        return Err(DecisionError::Invalid {
            field: "settings",
            message: "nothing to change: name at least one setting".into(),
        });
    }
    settings::check_plugins(m, name, &edit)?;
    m.store.edit_service(name, &edit).map_err(store_error)
}

pub fn set_enabled(m: &Manager<'_>, name: &str, enabled: bool) -> Result<Service> {
    m.access.require_full(if enabled {
        "enabling a service"
    } else {
        "disabling a service"
    })?;
    let edit = ServiceEdit {
        enabled: Some(enabled),
        ..Default::default()
    };
    m.store.edit_service(name, &edit).map_err(store_error)
}

/// Deletes a service (its secrets, RA keys, trusted certificates and held
/// requests go; the certificates it issued stay) and removes its RA key files.
pub fn delete_service(m: &Manager<'_>, name: &str) -> Result<Deleted> {
    m.access.require_full("deleting a service")?;
    let deleted = m
        .store
        .delete_service(name, &m.actor)
        .map_err(store_error)?;
    let mut warnings = Vec::new();
    for file in &deleted.ra_key_files {
        let path = m.data_dir.join(file);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warnings.push(format!(
                "could not remove the RA key {}: {e}; remove it by hand",
                path.display()
            ));
        }
    }
    Ok(Deleted { deleted, warnings })
}
