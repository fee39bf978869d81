//! Deleting a service, and the server-wide settings that outlive any one service.
//!
//! A deleted service stops serving at once and loses what only made sense while it
//! served (its RA keys, its secrets, its open approvals). Its row stays as a
//! tombstone because the certificates it issued must stay listable, revocable and on
//! the CA's CRL until they expire: deleting a service is not revoking its devices.

use rusqlite::{OptionalExtension, params};

use crate::{Result, Store, StoreError, audit, now};

/// What deleting a service removed and kept, for the operator's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedService {
    pub name: String,
    pub alias: String,
    /// RA key files the database no longer refers to; the caller removes them
    /// after the commit (a leftover file is harmless, a row naming a missing
    /// file would not be).
    pub ra_key_files: Vec<String>,
    pub secrets_deleted: usize,
    /// Held requests closed as rejected, so a polling client gets an answer.
    pub requests_closed: usize,
    pub certificates_kept: usize,
}

/// The settings key of the system URL: the base URL of every service that sets
/// none of its own.
const SYSTEM_URL: &str = "system-url";

impl Store {
    /// Deletes the service `name` (see the module comment for what is kept).
    /// `by` is recorded in the audit trail.
    pub fn delete_service(&self, name: &str, by: &str) -> Result<DeletedService> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (id, alias): (i64, String) = tx
            .query_row(
                "SELECT id, alias FROM services WHERE name = ?1 AND deleted_at IS NULL",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownService(name.to_owned()))?;
        let ra_key_files = {
            let mut stmt = tx.prepare("SELECT key_file FROM ra_keys WHERE service_id = ?1")?;
            let files = stmt.query_map([id], |r| r.get(0))?;
            files.collect::<Result<Vec<String>, _>>()?
        };
        tx.execute("DELETE FROM ra_keys WHERE service_id = ?1", [id])?;
        let secrets_deleted = tx.execute("DELETE FROM secrets WHERE service_id = ?1", [id])?;
        tx.execute(
            "DELETE FROM trusted_certificates WHERE service_id = ?1",
            [id],
        )?;
        let at = now();
        let requests_closed = tx.execute(
            "UPDATE requests SET status = 'rejected', decided_by = ?2, decided_at = ?3,
                    reason = 'the SCEP service was deleted'
             WHERE service_id = ?1 AND status IN ('pending', 'issuing')",
            params![id, by, at],
        )?;
        let certificates_kept: i64 = tx.query_row(
            "SELECT COUNT(*) FROM certificates WHERE service_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        // The tombstone frees the name and alias for a new service; '~' cannot
        // appear in an alias, so the old one can never be reached again.
        tx.execute(
            "UPDATE services SET name = name || ' [deleted ' || id || ']', alias = '~deleted-' || id,
                    enabled = 0, deleted_at = ?2, generation = generation + 1, updated_at = ?2
             WHERE id = ?1",
            params![id, at],
        )?;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(name.to_owned()),
                event: "service-deleted".into(),
                detail: format!(
                    "by {by}; alias {alias:?}; {secrets_deleted} secrets and {} RA keys deleted, \
                     {requests_closed} held requests closed, {certificates_kept} certificates kept",
                    ra_key_files.len()
                ),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(DeletedService {
            name: name.to_owned(),
            alias,
            ra_key_files,
            secrets_deleted,
            requests_closed,
            certificates_kept: certificates_kept as usize,
        })
    }

    /// The system URL, when an operator has set one.
    pub fn system_url(&self) -> Result<Option<String>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [SYSTEM_URL],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Sets (or with `None` clears) the system URL. Nothing a running server
    /// answers depends on it; it is what operators are shown.
    pub fn set_system_url(&self, url: Option<&str>) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        match url {
            Some(url) => tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![SYSTEM_URL, url],
            )?,
            None => tx.execute("DELETE FROM settings WHERE key = ?1", [SYSTEM_URL])?,
        };
        audit::insert(
            &tx,
            &audit::AuditEvent {
                event: "system-url-set".into(),
                detail: url.unwrap_or("(unset)").to_owned(),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(())
    }
}
