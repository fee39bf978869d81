//! Requests held for a decision: manual approval, or an issuer that answered
//! pending. A held request keeps everything needed to issue it later (the CSR and
//! the signer's certificate as received), so it survives restarts, plugin swaps and
//! service edits. Its identity is (service, transactionID, signer key): a client
//! that repeats its PKCSReq, or polls, finds the same row.

use rusqlite::{OptionalExtension, Row, params};

use crate::{Result, Store, StoreError, audit, now};

/// Where a held request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for a person (approve or reject).
    Pending,
    /// Approved; the issuer answered pending and is asked again on each poll.
    Issuing,
    Issued,
    Rejected,
    /// Gave up: the client polled too often, or issuance failed.
    Failed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Issuing => "issuing",
            RequestStatus::Issued => "issued",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "issuing" => RequestStatus::Issuing,
            "issued" => RequestStatus::Issued,
            "rejected" => RequestStatus::Rejected,
            "failed" => RequestStatus::Failed,
            _ => RequestStatus::Pending,
        }
    }
}

/// A request to hold, as it arrived.
#[derive(Debug, Clone)]
pub struct NewHeldRequest {
    pub service_id: i64,
    pub service: String,
    pub transaction_id: String,
    pub signer_key: String,
    pub queue: String,
    /// The plugin that routed it here ("approval-policy@0.1.0", or the issuer).
    pub routed_by: String,
    pub message_type: String,
    pub subject: String,
    pub sans: Vec<String>,
    /// e.g. "rsa 2048".
    pub key: String,
    pub signer_subject: String,
    pub csr: Vec<u8>,
    pub signer_certificate: Vec<u8>,
    pub http_method: String,
    pub client_address: String,
    /// Set when the issuer itself answered pending.
    pub issuer_ticket: Option<String>,
    /// The secret that authorised the request (the issuer deferred it): consumed
    /// now, with the hold, as it would have been with the certificate.
    pub claim: Option<crate::SecretClaim>,
}

#[derive(Debug, Clone)]
pub struct HeldRequest {
    pub id: i64,
    pub service_id: i64,
    pub service: String,
    pub transaction_id: String,
    pub signer_key: String,
    pub status: RequestStatus,
    pub queue: String,
    pub routed_by: String,
    pub message_type: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub key: String,
    pub signer_subject: String,
    pub csr: Vec<u8>,
    pub signer_certificate: Vec<u8>,
    pub http_method: String,
    pub client_address: String,
    pub received_at: i64,
    pub poll_count: i64,
    pub last_poll_at: Option<i64>,
    pub issuer_ticket: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub reason: Option<String>,
    pub certificate: Option<Vec<u8>>,
}

const COLUMNS: &str = "r.id, r.service_id, s.name, r.transaction_id, r.signer_key, r.status, r.queue, r.routed_by,
    r.message_type, r.subject, r.sans, r.key_description, r.signer_subject, r.csr, r.signer_certificate,
    r.http_method, r.client_address, r.received_at, r.poll_count, r.last_poll_at, r.issuer_ticket,
    r.decided_by, r.decided_at, r.reason, c.der";
const FROM: &str = "requests r JOIN services s ON s.id = r.service_id LEFT JOIN certificates c ON c.id = r.certificate_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<HeldRequest> {
    let sans: String = r.get(10)?;
    let status: String = r.get(5)?;
    Ok(HeldRequest {
        id: r.get(0)?,
        service_id: r.get(1)?,
        service: r.get(2)?,
        transaction_id: r.get(3)?,
        signer_key: r.get(4)?,
        status: RequestStatus::parse(&status),
        queue: r.get(6)?,
        routed_by: r.get(7)?,
        message_type: r.get(8)?,
        subject: r.get(9)?,
        sans: sans
            .split('\n')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        key: r.get(11)?,
        signer_subject: r.get(12)?,
        csr: r.get(13)?,
        signer_certificate: r.get(14)?,
        http_method: r.get(15)?,
        client_address: r.get(16)?,
        received_at: r.get(17)?,
        poll_count: r.get(18)?,
        last_poll_at: r.get(19)?,
        issuer_ticket: r.get(20)?,
        decided_by: r.get(21)?,
        decided_at: r.get(22)?,
        reason: r.get(23)?,
        certificate: r.get(24)?,
    })
}

impl Store {
    /// Holds a request, or returns the one already held under the same identity
    /// (a repeated PKCSReq never creates a second request).
    pub fn hold_request(&self, new: &NewHeldRequest) -> Result<HeldRequest> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO requests (service_id, transaction_id, signer_key, status, queue, routed_by, message_type,
                 subject, sans, key_description, signer_subject, csr, signer_certificate, http_method,
                 client_address, received_at, issuer_ticket)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT (service_id, transaction_id, signer_key) DO NOTHING",
            params![
                new.service_id,
                new.transaction_id,
                new.signer_key,
                if new.issuer_ticket.is_some() { RequestStatus::Issuing.as_str() } else { RequestStatus::Pending.as_str() },
                new.queue,
                new.routed_by,
                new.message_type,
                new.subject,
                new.sans.join("\n"),
                new.key,
                new.signer_subject,
                new.csr,
                new.signer_certificate,
                new.http_method,
                new.client_address,
                now(),
                new.issuer_ticket,
            ],
        )?;
        if inserted == 1 {
            if let Some(claim) = &new.claim
                && !crate::secrets::apply_claim(&tx, claim)?
            {
                return Err(StoreError::Conflict(
                    "the secret was used by a concurrent request".into(),
                ));
            }
            audit::insert(
                &tx,
                &audit::AuditEvent {
                    service: Some(new.service.clone()),
                    transaction_id: Some(new.transaction_id.clone()),
                    event: "held".into(),
                    plugin: Some(new.routed_by.clone()),
                    detail: format!(
                        "{:?} from {} queued in {:?}",
                        new.subject, new.client_address, new.queue
                    ),
                },
            )?;
        }
        let held = tx.query_row(
            &format!("SELECT {COLUMNS} FROM {FROM} WHERE r.service_id = ?1 AND r.transaction_id = ?2 AND r.signer_key = ?3"),
            params![new.service_id, new.transaction_id, new.signer_key],
            from_row,
        )?;
        tx.commit()?;
        Ok(held)
    }

    /// The held request with this identity, if any.
    pub fn held_request(
        &self,
        service_id: i64,
        transaction_id: &str,
        signer_key: &str,
    ) -> Result<Option<HeldRequest>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM {FROM} WHERE r.service_id = ?1 AND r.transaction_id = ?2 AND r.signer_key = ?3"),
                params![service_id, transaction_id, signer_key],
                from_row,
            )
            .optional()?)
    }

    pub fn held_request_by_id(&self, id: i64) -> Result<HeldRequest> {
        let conn = self.conn()?;
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM {FROM} WHERE r.id = ?1"),
            [id],
            from_row,
        )
        .optional()?
        .ok_or_else(|| {
            StoreError::Conflict(format!("no request {id} (see `sceptic request list`)"))
        })
    }

    /// Held requests, oldest first; `status` filters.
    pub fn held_requests(
        &self,
        service_id: Option<i64>,
        status: Option<RequestStatus>,
    ) -> Result<Vec<HeldRequest>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE (?1 IS NULL OR r.service_id = ?1) AND (?2 IS NULL OR r.status = ?2) ORDER BY r.id"
        ))?;
        let rows = stmt.query_map(
            params![service_id, status.map(RequestStatus::as_str)],
            from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counts a poll that was answered PENDING.
    pub fn record_poll(&self, id: i64) -> Result<()> {
        let conn = self.conn()?;
        conn.execute(
            "UPDATE requests SET poll_count = poll_count + 1, last_poll_at = ?2 WHERE id = ?1",
            params![id, now()],
        )?;
        Ok(())
    }

    /// Moves a request from `from` to `to`, recording who decided and why, with an
    /// audit event. False when the request was no longer in `from` (someone else
    /// decided first): decisions never overwrite each other.
    pub fn decide_request(
        &self,
        id: i64,
        from: &[RequestStatus],
        to: RequestStatus,
        actor: &str,
        reason: &str,
        issuer_ticket: Option<&str>,
    ) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: Option<(String, String, String)> = tx
            .query_row(
                "SELECT r.status, s.name, r.transaction_id FROM requests r JOIN services s ON s.id = r.service_id WHERE r.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((status, service, transaction_id)) = current else {
            return Err(StoreError::Conflict(format!("no request {id}")));
        };
        if !from.contains(&RequestStatus::parse(&status)) {
            return Ok(false);
        }
        tx.execute(
            "UPDATE requests SET status = ?2, decided_by = ?3, decided_at = ?4, reason = ?5,
                    issuer_ticket = COALESCE(?6, issuer_ticket) WHERE id = ?1",
            params![id, to.as_str(), actor, now(), reason, issuer_ticket],
        )?;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(service),
                transaction_id: Some(transaction_id),
                event: format!("request-{}", to.as_str()),
                plugin: Some(actor.to_owned()),
                detail: format!("request {id}: {reason}"),
            },
        )?;
        tx.commit()?;
        Ok(true)
    }
}
