//! A service's shared secrets (challenge passwords): add one (generated, or a
//! value the operator chooses), list them (never their values), delete one.

use sceptic_store::{AuditEvent, SecretKind, SecretRow, Service};

use super::{Manager, Result, store_error};
use crate::decisions::DecisionError;

/// A secret just stored. `value` is set only when it was generated: it is shown
/// once and never again.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub id: i64,
    pub kind: SecretKind,
    pub service: String,
    pub value: Option<String>,
}

/// The service's secrets, if this caller manages it.
pub fn list_secrets(m: &Manager<'_>, service: &str) -> Result<(Service, Vec<SecretRow>)> {
    let s = m.managed(service)?;
    let rows = m.store.secrets(s.id).map_err(store_error)?;
    Ok((s, rows))
}

/// Stores a secret: `value`, or a random one (returned once) when `None`. A
/// global secret replaces the service's previous one.
pub fn add_secret(
    m: &Manager<'_>,
    service: &str,
    kind: SecretKind,
    value: Option<&str>,
) -> Result<NewSecret> {
    let s = m.managed(service)?;
    if value.is_some_and(str::is_empty) {
        return Err(DecisionError::Invalid {
            field: "value",
            message: "a secret cannot be empty; leave the value out to have one generated".into(),
        });
    }
    let generated = value.is_none().then(sceptic_store::generate_secret_value);
    let chosen = value.or(generated.as_deref()).unwrap_or_default();
    let id = m
        .store
        .add_secret(m.digester, s.id, kind, chosen)
        .map_err(store_error)?;
    Ok(NewSecret {
        id,
        kind,
        service: s.name,
        value: generated,
    })
}

/// Deletes one of the service's secrets, and audits who did.
pub fn delete_secret(m: &Manager<'_>, service: &str, id: i64) -> Result<()> {
    let s = m.managed(service)?;
    if !m.store.delete_secret(s.id, id).map_err(store_error)? {
        return Err(DecisionError::NotFound(format!(
            "service {:?} has no secret {id} (list them with `sceptic secret list --service {}` \
             or GET /api/v1/services/{{name}}/secrets)",
            s.name, s.name
        )));
    }
    m.store
        .audit(&AuditEvent {
            service: Some(s.name),
            event: "secret-deleted".into(),
            detail: format!("secret {id} by {}", m.actor),
            ..Default::default()
        })
        .map_err(store_error)
}
