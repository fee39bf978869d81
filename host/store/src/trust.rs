//! A service's trusted certificates: the operator's anchors for
//! `trusted-cert-policy` (a signer that equals, or is issued by, one of them may
//! renew). The host parses and checks them; this module only keeps them.

use rusqlite::params;

use crate::{Result, Store, StoreError, audit, now};

/// A certificate as the operator uploaded it, with the fields `trust list` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCertificate {
    pub id: i64,
    pub service_id: i64,
    /// RFC 4514.
    pub subject: String,
    pub issuer: String,
    /// Lower-case hex.
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the DER, lower-case hex: the certificate's fingerprint.
    pub sha256: String,
    pub der: Vec<u8>,
    pub added_at: i64,
    pub added_by: String,
}

const COLUMNS: &str = "id, service_id, subject, issuer, serial, not_before, not_after, sha256, der, added_at, added_by";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TrustedCertificate> {
    Ok(TrustedCertificate {
        id: r.get(0)?,
        service_id: r.get(1)?,
        subject: r.get(2)?,
        issuer: r.get(3)?,
        serial: r.get(4)?,
        not_before: r.get(5)?,
        not_after: r.get(6)?,
        sha256: r.get(7)?,
        der: r.get(8)?,
        added_at: r.get(9)?,
        added_by: r.get(10)?,
    })
}

impl Store {
    /// Adds a trusted certificate (already parsed by the caller: `id` is ignored)
    /// and audits it. The same certificate twice on one service is a conflict.
    pub fn add_trusted_certificate(&self, cert: &TrustedCertificate) -> Result<i64> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let existing: Option<i64> = rusqlite::OptionalExtension::optional(tx.query_row(
            "SELECT id FROM trusted_certificates WHERE service_id = ?1 AND sha256 = ?2",
            params![cert.service_id, cert.sha256],
            |r| r.get(0),
        ))?;
        if let Some(id) = existing {
            return Err(StoreError::Conflict(format!(
                "this certificate is already trusted by the service (trusted certificate {id})"
            )));
        }
        tx.execute(
            &format!("INSERT INTO trusted_certificates ({COLUMNS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            params![
                cert.service_id,
                cert.subject,
                cert.issuer,
                cert.serial,
                cert.not_before,
                cert.not_after,
                cert.sha256,
                cert.der,
                now(),
                cert.added_by
            ],
        )?;
        let id = tx.last_insert_rowid();
        let service: String = tx.query_row(
            "SELECT name FROM services WHERE id = ?1",
            [cert.service_id],
            |r| r.get(0),
        )?;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(service),
                event: "trust-added".into(),
                detail: format!(
                    "trusted certificate {id}: {} (issuer {}, serial {}, SHA-256 {}) by {}",
                    cert.subject, cert.issuer, cert.serial, cert.sha256, cert.added_by
                ),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The service's trusted certificates, oldest first.
    pub fn trusted_certificates(&self, service_id: i64) -> Result<Vec<TrustedCertificate>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM trusted_certificates WHERE service_id = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([service_id], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes one; false when the service has no such trusted certificate.
    pub fn delete_trusted_certificate(&self, service_id: i64, id: i64, by: &str) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let removed: Option<(String, String)> = rusqlite::OptionalExtension::optional(tx.query_row(
            "SELECT t.subject, s.name FROM trusted_certificates t JOIN services s ON s.id = t.service_id
             WHERE t.service_id = ?1 AND t.id = ?2",
            params![service_id, id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ))?;
        let Some((subject, service)) = removed else {
            return Ok(false);
        };
        tx.execute(
            "DELETE FROM trusted_certificates WHERE service_id = ?1 AND id = ?2",
            params![service_id, id],
        )?;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(service),
                event: "trust-deleted".into(),
                detail: format!("trusted certificate {id} ({subject}) by {by}"),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(true)
    }
}
