//! Revocation of issued certificates and the CRL number each CA's CRL carries.

use rusqlite::{OptionalExtension, params};

use crate::{IssuedCertificate, Result, Store, StoreError, audit, now};

/// A revoked certificate, as a CRL lists it.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub serial_hex: String,
    pub revoked_at: i64,
    pub reason: String,
}

/// A CA's current CRL, kept so every request for it is not a signature.
#[derive(Debug, Clone)]
pub struct StoredCrl {
    pub number: i64,
    pub der: Vec<u8>,
    pub next_update: i64,
    /// The revocation count the CRL was made from.
    pub revocations: i64,
}

impl Store {
    /// Revokes a certificate issued by `ca_id`. False when it was already revoked.
    pub fn revoke(&self, ca_id: i64, serial_hex: &str, reason: &str, actor: &str) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let found: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT c.id, s.name, c.subject FROM certificates c JOIN services s ON s.id = c.service_id
                 WHERE c.ca_id = ?1 AND c.serial = ?2",
                params![ca_id, serial_hex],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((certificate_id, service, subject)) = found else {
            return Err(StoreError::Conflict(format!(
                "no certificate with serial {serial_hex} (see `sceptic cert list`)"
            )));
        };
        let inserted = tx.execute(
            "INSERT INTO revocations (certificate_id, revoked_at, reason, revoked_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (certificate_id) DO NOTHING",
            params![certificate_id, now(), reason, actor],
        )?;
        if inserted == 1 {
            audit::insert(
                &tx,
                &audit::AuditEvent {
                    service: Some(service),
                    event: "revoked".into(),
                    plugin: Some(actor.to_owned()),
                    detail: format!("serial {serial_hex} ({subject:?}): {reason}"),
                    ..Default::default()
                },
            )?;
        }
        tx.commit()?;
        Ok(inserted == 1)
    }

    /// Every certificate of the CA that is revoked.
    pub fn revoked(&self, ca_id: i64) -> Result<Vec<Revoked>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT c.serial, v.revoked_at, v.reason FROM revocations v JOIN certificates c ON c.id = v.certificate_id
             WHERE c.ca_id = ?1 ORDER BY v.revoked_at",
        )?;
        let rows = stmt.query_map([ca_id], |r| {
            Ok(Revoked {
                serial_hex: r.get(0)?,
                revoked_at: r.get(1)?,
                reason: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether the certificate with this serial (of this CA) is revoked.
    pub fn is_revoked(&self, ca_id: i64, serial_hex: &str) -> Result<bool> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT 1 FROM revocations v JOIN certificates c ON c.id = v.certificate_id WHERE c.ca_id = ?1 AND c.serial = ?2",
                params![ca_id, serial_hex],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// A certificate the CA issued, by serial.
    pub fn certificate_by_serial(
        &self,
        ca_id: i64,
        serial_hex: &str,
    ) -> Result<Option<IssuedCertificate>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT id, service_id, serial, subject, not_after, der, transaction_id FROM certificates
                 WHERE ca_id = ?1 AND serial = ?2",
                params![ca_id, serial_hex],
                |r| {
                    Ok(IssuedCertificate {
                        id: r.get(0)?,
                        service_id: r.get(1)?,
                        serial_hex: r.get(2)?,
                        subject: r.get(3)?,
                        not_after: r.get(4)?,
                        der: r.get(5)?,
                        transaction_id: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn revocation_count(&self, ca_id: i64) -> Result<i64> {
        let conn = self.conn()?;
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM revocations v JOIN certificates c ON c.id = v.certificate_id WHERE c.ca_id = ?1",
            [ca_id],
            |r| r.get(0),
        )?)
    }

    pub fn current_crl(&self, ca_id: i64) -> Result<Option<StoredCrl>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT number, der, next_update, revocations FROM crls WHERE ca_id = ?1",
                [ca_id],
                |r| {
                    Ok(StoredCrl {
                        number: r.get(0)?,
                        der: r.get(1)?,
                        next_update: r.get(2)?,
                        revocations: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The next CRL number for the CA: one above the last, never reused.
    pub fn next_crl_number(&self, ca_id: i64) -> Result<i64> {
        let conn = self.conn()?;
        Ok(conn.query_row(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM crls WHERE ca_id = ?1",
            [ca_id],
            |r| r.get(0),
        )?)
    }

    /// Stores a newly signed CRL; refused if a concurrent writer stored a higher number.
    pub fn store_crl(&self, ca_id: i64, crl: &StoredCrl) -> Result<()> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO crls (ca_id, number, der, next_update, revocations) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (ca_id) DO UPDATE SET number = excluded.number, der = excluded.der,
                 next_update = excluded.next_update, revocations = excluded.revocations
             WHERE excluded.number > crls.number",
            params![ca_id, crl.number, crl.der, crl.next_update, crl.revocations],
        )?;
        Ok(())
    }
}
