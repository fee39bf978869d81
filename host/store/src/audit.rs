//! The audit log: who or what decided, about which request, and why.

use crate::{Result, Store, now};

/// One audit line. `detail` is for people; it never holds a secret value.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    pub service: Option<String>,
    pub transaction_id: Option<String>,
    /// A short stable word: "issued", "refused", "plugin-fault", "secret-added", …
    pub event: String,
    /// The plugin that decided or failed, as "name@version".
    pub plugin: Option<String>,
    pub detail: String,
}

impl Store {
    pub fn audit(&self, event: &AuditEvent) -> Result<()> {
        let conn = self.conn()?;
        insert(&conn, event)
    }

    /// The most recent audit events, newest first.
    pub fn audit_tail(&self, limit: u32) -> Result<Vec<(i64, AuditEvent)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT at, service, transaction_id, event, plugin, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok((
                r.get(0)?,
                AuditEvent {
                    service: r.get(1)?,
                    transaction_id: r.get(2)?,
                    event: r.get(3)?,
                    plugin: r.get(4)?,
                    detail: r.get(5)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

pub(crate) fn insert(conn: &rusqlite::Connection, event: &AuditEvent) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, service, transaction_id, event, plugin, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            now(),
            event.service,
            event.transaction_id,
            event.event,
            event.plugin,
            event.detail
        ],
    )?;
    Ok(())
}
