//! RA rollover in the store: a successor RA key is recorded, and the service's
//! generation bumped, in one transaction, so every running server picks it up
//! on its next reload and no two servers record two successors.

use rusqlite::params;

use crate::{Result, Store, audit, now};

impl Store {
    /// Records a successor RA for the service unless one newer than
    /// `current_ra_id` already exists (another server made it first). Returns
    /// the new row's id, or `None` when a successor was already there.
    pub fn add_successor_ra_key(
        &self,
        service_id: i64,
        current_ra_id: i64,
        certificate: &[u8],
        key_file: &str,
        not_after: i64,
        detail: &str,
    ) -> Result<Option<i64>> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let newer: i64 = tx.query_row(
            "SELECT COUNT(*) FROM ra_keys WHERE service_id = ?1 AND id > ?2",
            params![service_id, current_ra_id],
            |r| r.get(0),
        )?;
        if newer > 0 {
            return Ok(None);
        }
        let at = now();
        tx.execute(
            "INSERT INTO ra_keys (service_id, certificate, key_file, not_after, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![service_id, certificate, key_file, not_after, at],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE services SET generation = generation + 1, updated_at = ?2 WHERE id = ?1",
            params![service_id, at],
        )?;
        let service: String = tx.query_row(
            "SELECT name FROM services WHERE id = ?1",
            [service_id],
            |r| r.get(0),
        )?;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(service),
                event: "ra-successor".into(),
                detail: detail.to_owned(),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(Some(id))
    }
}
