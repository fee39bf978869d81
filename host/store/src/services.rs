//! Services, their CA and their RA keys.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::{Result, Store, StoreError, audit, now};

/// A plugin in a service's configuration: a built-in name (`builtin:secret-policy`)
/// or a path to a `.wasm` component, with that plugin's string settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginSpec {
    pub plugin: String,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl PluginSpec {
    pub fn new(plugin: impl Into<String>) -> Self {
        Self {
            plugin: plugin.into(),
            config: BTreeMap::new(),
        }
    }
}

/// A certificate authority whose key the host holds.
#[derive(Debug, Clone)]
pub struct Ca {
    pub id: i64,
    pub name: String,
    pub certificate: Vec<u8>,
    pub key_file: String,
}

/// One RA certificate of a service. Several exist during a rollover; the newest
/// is the one GetCACert offers.
#[derive(Debug, Clone)]
pub struct RaKeyRow {
    pub id: i64,
    pub certificate: Vec<u8>,
    pub key_file: String,
    pub not_after: i64,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub alias: String,
    pub enabled: bool,
    pub ca_id: i64,
    /// Content ciphers accepted from clients: aes128, aes192, aes256, des3, des.
    pub client_ciphers: Vec<String>,
    pub policies: Vec<PluginSpec>,
    pub issuer: PluginSpec,
    /// "Allow unauthorised requests": the plugin that may hold a request the chain
    /// did not authorise for manual approval. `None`: such requests are refused.
    pub approval: Option<PluginSpec>,
    /// Polls a held request may receive before it fails; 0 for no limit.
    pub max_poll_count: i64,
    /// Seconds a client must wait between polls; 0 for no minimum.
    pub min_poll_interval: i64,
    /// The URL clients reach this service under, without `/scep/ALIAS`. `None`:
    /// the server's system URL.
    pub base_url: Option<String>,
    pub enforcement: crate::Enforcement,
    pub algorithms: crate::Algorithms,
    pub ra: crate::RaSettings,
    /// "Additional certificate information": free text stored with every
    /// certificate the service issues and lent to its issuer plugin. Empty: none.
    pub certificate_info: String,
    /// Bumped on every change, so a running server knows what to reload.
    pub generation: i64,
    /// The team that owns the service: its team-scoped API tokens manage it.
    /// `None` for services made before teams existed (only full admin tokens).
    pub team_id: Option<i64>,
    /// The user the service was made for (recorded on every certificate it issues).
    pub user_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewService {
    pub name: String,
    pub alias: String,
    pub ca_id: i64,
    pub client_ciphers: Vec<String>,
    pub policies: Vec<PluginSpec>,
    pub issuer: PluginSpec,
    pub approval: Option<PluginSpec>,
    /// The first RA (certificate, key file, notAfter), recorded in the same
    /// transaction as the service, so no server ever loads it without one.
    /// False while the creator still applies further settings (enforcement
    /// flags…), so no request is served under the defaults in between.
    pub enabled: bool,
    pub ra: Option<(Vec<u8>, String, i64)>,
}

/// A change to a service; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServiceEdit {
    pub enabled: Option<bool>,
    pub client_ciphers: Option<Vec<String>>,
    pub policies: Option<Vec<PluginSpec>>,
    pub issuer: Option<PluginSpec>,
    /// `Some(None)` turns manual approval off.
    pub approval: Option<Option<PluginSpec>>,
    pub max_poll_count: Option<i64>,
    pub min_poll_interval: Option<i64>,
    /// `Some(None)` goes back to the server's system URL.
    pub base_url: Option<Option<String>>,
    pub enforcement: crate::EnforcementEdit,
    /// Must be [`crate::AlgorithmsEdit::validated`] first.
    pub algorithms: crate::AlgorithmsEdit,
    pub ra: crate::RaSettingsEdit,
    pub certificate_info: Option<String>,
}

fn service_from_row(row: &Row<'_>) -> rusqlite::Result<Service> {
    let json_err = |i, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let ciphers: String = row.get(5)?;
    let policies: String = row.get(6)?;
    let issuer: String = row.get(7)?;
    let approval: Option<String> = row.get(9)?;
    Ok(Service {
        id: row.get(0)?,
        name: row.get(1)?,
        alias: row.get(2)?,
        enabled: row.get(3)?,
        ca_id: row.get(4)?,
        client_ciphers: ciphers
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        policies: serde_json::from_str(&policies).map_err(|e| json_err(6, e))?,
        issuer: serde_json::from_str(&issuer).map_err(|e| json_err(7, e))?,
        generation: row.get(8)?,
        approval: approval
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| json_err(9, e))?,
        max_poll_count: row.get(10)?,
        min_poll_interval: row.get(11)?,
        base_url: row.get(12)?,
        enforcement: serde_json::from_str(&row.get::<_, String>(13)?)
            .map_err(|e| json_err(13, e))?,
        algorithms: serde_json::from_str(&row.get::<_, String>(14)?)
            .map_err(|e| json_err(14, e))?,
        ra: serde_json::from_str(&row.get::<_, String>(15)?).map_err(|e| json_err(15, e))?,
        team_id: row.get(16)?,
        user_id: row.get(17)?,
        certificate_info: row.get(18)?,
    })
}

const CA_COLUMNS: &str = "id, name, certificate, key_file";

fn ca_from_row(r: &Row<'_>) -> rusqlite::Result<Ca> {
    Ok(Ca {
        id: r.get(0)?,
        name: r.get(1)?,
        certificate: r.get(2)?,
        key_file: r.get(3)?,
    })
}

const SERVICE_COLUMNS: &str =
    "id, name, alias, enabled, ca_id, client_ciphers, policies, issuer, generation,
    approval, max_poll_count, min_poll_interval, base_url, enforcement, algorithms, ra_settings,
    team_id, user_id, certificate_info";

impl Store {
    pub fn add_ca(&self, name: &str, certificate: &[u8], key_file: &str) -> Result<i64> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO cas (name, certificate, key_file, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, certificate, key_file, now()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    pub fn ca(&self, id: i64) -> Result<Ca> {
        let conn = self.conn()?;
        Ok(conn.query_row(
            &format!("SELECT {CA_COLUMNS} FROM cas WHERE id = ?1"),
            [id],
            ca_from_row,
        )?)
    }

    pub fn ca_by_name(&self, name: &str) -> Result<Option<Ca>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!("SELECT {CA_COLUMNS} FROM cas WHERE name = ?1"),
                [name],
                ca_from_row,
            )
            .optional()?)
    }

    pub fn add_service(&self, new: &NewService) -> Result<i64> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id = insert_service(&tx, new)?;
        tx.commit()?;
        Ok(id)
    }

    pub fn services(&self) -> Result<Vec<Service>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE deleted_at IS NULL ORDER BY name"
        ))?;
        let rows = stmt.query_map([], service_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn service(&self, name: &str) -> Result<Service> {
        let conn = self.conn()?;
        conn.query_row(
            &format!(
                "SELECT {SERVICE_COLUMNS} FROM services WHERE name = ?1 AND deleted_at IS NULL"
            ),
            [name],
            service_from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::UnknownService(name.to_owned()))
    }

    /// Every service, deleted ones included (under their tombstone names): the
    /// certificates a deleted service issued stay listable and revocable.
    pub fn services_with_deleted(&self) -> Result<Vec<Service>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {SERVICE_COLUMNS} FROM services ORDER BY name"
        ))?;
        let rows = stmt.query_map([], service_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The sum of every service's generation plus their count: changes whenever any
    /// service is added, edited or deleted. Cheap enough to poll every second.
    pub fn services_generation(&self) -> Result<i64> {
        let conn = self.conn()?;
        Ok(conn.query_row(
            "SELECT COALESCE(SUM(generation), 0) + COUNT(*) * 1000003 FROM services",
            [],
            |r| r.get(0),
        )?)
    }

    pub fn edit_service(&self, name: &str, edit: &ServiceEdit) -> Result<Service> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut service = tx
            .query_row(
                &format!(
                    "SELECT {SERVICE_COLUMNS} FROM services WHERE name = ?1 AND deleted_at IS NULL"
                ),
                [name],
                service_from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownService(name.to_owned()))?;
        let mut changes = Vec::new();
        if let Some(enabled) = edit.enabled {
            service.enabled = enabled;
            changes.push(format!("enabled={enabled}"));
        }
        if let Some(ciphers) = &edit.client_ciphers {
            service.client_ciphers = ciphers.clone();
            changes.push(format!("client-ciphers={}", ciphers.join(",")));
        }
        if let Some(policies) = &edit.policies {
            service.policies = policies.clone();
            let names: Vec<_> = policies.iter().map(|p| p.plugin.as_str()).collect();
            changes.push(format!("policies={}", names.join(",")));
        }
        if let Some(issuer) = &edit.issuer {
            service.issuer = issuer.clone();
            changes.push(format!("issuer={}", issuer.plugin));
        }
        if let Some(approval) = &edit.approval {
            service.approval = approval.clone();
            changes.push(match approval {
                Some(spec) => format!("approval={}", spec.plugin),
                None => "approval=off".into(),
            });
        }
        if let Some(max) = edit.max_poll_count {
            service.max_poll_count = max;
            changes.push(format!("max-poll-count={max}"));
        }
        if let Some(min) = edit.min_poll_interval {
            service.min_poll_interval = min;
            changes.push(format!("min-poll-interval={min}"));
        }
        if let Some(base_url) = &edit.base_url {
            service.base_url = base_url.clone();
            changes.push(format!(
                "base-url={}",
                base_url.as_deref().unwrap_or("(system URL)")
            ));
        }
        changes.extend(edit.enforcement.apply(&mut service.enforcement));
        let algorithms = edit.algorithms.validated().map_err(StoreError::Invalid)?;
        changes.extend(algorithms.apply(&mut service.algorithms));
        let ra = edit.ra.validated().map_err(StoreError::Invalid)?;
        changes.extend(ra.apply(&mut service.ra));
        if let Some(info) = &edit.certificate_info {
            service.certificate_info = info.clone();
            changes.push(format!("certificate-info={info:?}"));
        }
        tx.execute(
            "UPDATE services SET enabled = ?2, client_ciphers = ?3, policies = ?4, issuer = ?5,
                    approval = ?6, max_poll_count = ?7, min_poll_interval = ?8, base_url = ?10,
                    enforcement = ?11, algorithms = ?12, ra_settings = ?13,
                    certificate_info = ?14, generation = generation + 1, updated_at = ?9 WHERE id = ?1",
            params![
                service.id,
                service.enabled,
                service.client_ciphers.join(","),
                serde_json::to_string(&service.policies)?,
                serde_json::to_string(&service.issuer)?,
                service
                    .approval
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                service.max_poll_count,
                service.min_poll_interval,
                now(),
                service.base_url,
                serde_json::to_string(&service.enforcement)?,
                serde_json::to_string(&service.algorithms)?,
                serde_json::to_string(&service.ra)?,
                service.certificate_info
            ],
        )?;
        service.generation += 1;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(service.name.clone()),
                event: "service-edited".into(),
                detail: changes.join("; "),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(service)
    }

    pub fn add_ra_key(
        &self,
        service_id: i64,
        certificate: &[u8],
        key_file: &str,
        not_after: i64,
    ) -> Result<i64> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO ra_keys (service_id, certificate, key_file, not_after, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![service_id, certificate, key_file, not_after, now()],
        )?;
        let id = tx.last_insert_rowid();
        // A running server may have loaded the new service before its RA existed
        // (and found it broken): the bump makes it load the service again.
        tx.execute(
            "UPDATE services SET generation = generation + 1 WHERE id = ?1",
            [service_id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The service's RA keys, newest first.
    pub fn ra_keys(&self, service_id: i64) -> Result<Vec<RaKeyRow>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, certificate, key_file, not_after FROM ra_keys WHERE service_id = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([service_id], |r| {
            Ok(RaKeyRow {
                id: r.get(0)?,
                certificate: r.get(1)?,
                key_file: r.get(2)?,
                not_after: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Inserts a service (refusing a name or alias in use) and audits it, inside the
/// caller's transaction; [`Store::add_service`] and the team-owned creation share it.
pub(crate) fn insert_service(tx: &rusqlite::Transaction<'_>, new: &NewService) -> Result<i64> {
    let taken: Option<String> = tx
        .query_row(
            "SELECT name FROM services WHERE name = ?1 OR alias = ?2",
            params![new.name, new.alias],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(existing) = taken {
        return Err(StoreError::Conflict(format!(
            "service {existing:?} already uses the name {:?} or the alias {:?}",
            new.name, new.alias
        )));
    }
    let at = now();
    tx.execute(
        "INSERT INTO services (name, alias, enabled, ca_id, client_ciphers, policies, issuer, approval,
                               created_at, updated_at)
         VALUES (?1, ?2, ?9, ?3, ?4, ?5, ?6, ?8, ?7, ?7)",
        params![
            new.name,
            new.alias,
            new.ca_id,
            new.client_ciphers.join(","),
            serde_json::to_string(&new.policies)?,
            serde_json::to_string(&new.issuer)?,
            at,
            new.approval.as_ref().map(serde_json::to_string).transpose()?,
            new.enabled
        ],
    )?;
    let id = tx.last_insert_rowid();
    audit::insert(
        tx,
        &audit::AuditEvent {
            service: Some(new.name.clone()),
            event: "service-added".into(),
            detail: format!("alias {:?}", new.alias),
            ..Default::default()
        },
    )?;
    Ok(id)
}
