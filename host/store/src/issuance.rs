//! Issued certificates and the outcome of every transaction.

use rusqlite::{OptionalExtension, params};

use crate::secrets::{SecretClaim, apply_claim};
use crate::{Result, Store, StoreError, audit, now};

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Issued,
    Failed,
    Pending,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Failed => "failed",
            Outcome::Pending => "pending",
        }
    }
}

/// A transaction that did not issue (refused, failed or pending).
#[derive(Debug, Clone)]
pub struct TransactionRecord {
    pub service_id: i64,
    pub service: String,
    pub transaction_id: String,
    pub message_type: String,
    pub outcome: Outcome,
    pub fail_info: Option<String>,
    pub reason: String,
    /// The plugin (name@version) or component of the host that decided.
    pub decided_by: String,
    pub signer_key: String,
    pub client_address: String,
}

/// A certificate about to be delivered, with the secret use that authorised it.
#[derive(Debug, Clone)]
pub struct Issuance {
    pub service_id: i64,
    pub service: String,
    pub ca_id: i64,
    pub transaction_id: String,
    pub message_type: String,
    pub serial_hex: String,
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
    pub der: Vec<u8>,
    pub signer_key: String,
    pub client_address: String,
    pub decided_by: String,
    pub claim: Option<SecretClaim>,
    /// The held request this certificate completes (manual approval, issuer poll).
    pub held_request_id: Option<i64>,
}

/// Why an issuance was not recorded. The certificate must then not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum IssueConflict {
    #[error("the secret was used by a concurrent request")]
    SecretUsed(i64),
    #[error("request {0} was decided by someone else in the meantime")]
    RequestDecided(i64),
    #[error("serial number {0} already exists for this CA")]
    DuplicateSerial(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for IssueConflict {
    fn from(e: rusqlite::Error) -> Self {
        IssueConflict::Store(StoreError::Sql(e))
    }
}

#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub id: i64,
    pub service_id: i64,
    pub serial_hex: String,
    pub subject: String,
    pub not_after: i64,
    pub der: Vec<u8>,
    pub transaction_id: String,
}

impl Store {
    /// Records the certificate, the secret's use, the transaction and the audit
    /// event in one transaction: all of them or none.
    pub fn record_issuance(&self, issuance: &Issuance) -> Result<i64, IssueConflict> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let Some(claim) = &issuance.claim
            && !apply_claim(&tx, claim)?
        {
            return Err(IssueConflict::SecretUsed(claim.id));
        }
        let at = now();
        let inserted = tx.execute(
            "INSERT INTO certificates (service_id, ca_id, serial, subject, not_before, not_after, der,
                                       transaction_id, signer_key, secret_id, issued_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                issuance.service_id,
                issuance.ca_id,
                issuance.serial_hex,
                issuance.subject,
                issuance.not_before,
                issuance.not_after,
                issuance.der,
                issuance.transaction_id,
                issuance.signer_key,
                issuance.claim.as_ref().map(|c| c.id),
                at
            ],
        );
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(IssueConflict::DuplicateSerial(issuance.serial_hex.clone()));
            }
            other => {
                other?;
            }
        }
        let certificate_id = tx.last_insert_rowid();
        crate::teams::record_owner(&tx, certificate_id, issuance.service_id)?;
        if let Some(request_id) = issuance.held_request_id {
            let completed = tx.execute(
                "UPDATE requests SET status = 'issued', certificate_id = ?2,
                        decided_by = COALESCE(decided_by, ?3), decided_at = COALESCE(decided_at, ?4)
                 WHERE id = ?1 AND status IN ('pending', 'issuing')",
                params![request_id, certificate_id, issuance.decided_by, at],
            )?;
            if completed != 1 {
                return Err(IssueConflict::RequestDecided(request_id));
            }
        }
        tx.execute(
            "INSERT INTO transactions (service_id, transaction_id, message_type, status, decided_by,
                                       signer_key, client_address, certificate_id, reason, created_at)
             VALUES (?1, ?2, ?3, 'issued', ?4, ?5, ?6, ?7, '', ?8)",
            params![
                issuance.service_id,
                issuance.transaction_id,
                issuance.message_type,
                issuance.decided_by,
                issuance.signer_key,
                issuance.client_address,
                certificate_id,
                at
            ],
        )?;
        let secret = issuance
            .claim
            .as_ref()
            .map(|c| format!(", {} secret {}", c.kind.as_str(), c.id))
            .unwrap_or_default();
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(issuance.service.clone()),
                transaction_id: Some(issuance.transaction_id.clone()),
                event: "issued".into(),
                plugin: Some(issuance.decided_by.clone()),
                detail: format!(
                    "serial {} for {:?} from {}{secret}",
                    issuance.serial_hex, issuance.subject, issuance.client_address
                ),
            },
        )?;
        tx.commit()?;
        Ok(certificate_id)
    }

    /// Records a transaction that did not issue, with its audit event.
    pub fn record_transaction(&self, record: &TransactionRecord) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO transactions (service_id, transaction_id, message_type, status, fail_info, reason,
                                       decided_by, signer_key, client_address, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                record.service_id,
                record.transaction_id,
                record.message_type,
                record.outcome.as_str(),
                record.fail_info,
                record.reason,
                record.decided_by,
                record.signer_key,
                record.client_address,
                now()
            ],
        )?;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(record.service.clone()),
                transaction_id: Some(record.transaction_id.clone()),
                event: match record.outcome {
                    Outcome::Failed => "refused".into(),
                    other => other.as_str().into(),
                },
                plugin: Some(record.decided_by.clone()),
                detail: match &record.fail_info {
                    Some(fail) => format!("{fail}: {}", record.reason),
                    None => record.reason.clone(),
                },
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The certificate already issued for this transaction and sender, so a client
    /// that repeats its request after a lost answer gets the same certificate.
    pub fn certificate_for_transaction(
        &self,
        service_id: i64,
        transaction_id: &str,
        signer_key: &str,
        message_type: Option<&str>,
    ) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT c.der FROM certificates c JOIN transactions t ON t.certificate_id = c.id
                 WHERE c.service_id = ?1 AND c.transaction_id = ?2 AND c.signer_key = ?3
                   AND (?4 IS NULL OR t.message_type = ?4)
                 ORDER BY c.id DESC LIMIT 1",
                params![service_id, transaction_id, signer_key, message_type],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Certificates the service issued, newest first.
    pub fn certificates(&self, service_id: i64) -> Result<Vec<IssuedCertificate>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, service_id, serial, subject, not_after, der, transaction_id
             FROM certificates WHERE service_id = ?1 ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([service_id], |r| {
            Ok(IssuedCertificate {
                id: r.get(0)?,
                service_id: r.get(1)?,
                serial_hex: r.get(2)?,
                subject: r.get(3)?,
                not_after: r.get(4)?,
                der: r.get(5)?,
                transaction_id: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
