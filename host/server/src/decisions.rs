//! What an operator decides, from the CLI or the REST API alike: approve or reject
//! a held request, revoke a certificate, and the listings they decide from. Every
//! decision is audited with who made it.

use sceptic_store::{HeldRequest, RequestStatus};
use serde_json::{Value, json};

use crate::App;
use crate::issue::{self, IssueContext, Issued};
use crate::runtime::ServiceRuntime;

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Failed(String),
}

impl From<sceptic_store::StoreError> for DecisionError {
    fn from(e: sceptic_store::StoreError) -> Self {
        match e {
            sceptic_store::StoreError::UnknownService(name) => {
                DecisionError::NotFound(format!("no service named {name:?}"))
            }
            sceptic_store::StoreError::Conflict(m) => DecisionError::NotFound(m),
            other => DecisionError::Failed(other.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, DecisionError>;

pub fn request_json(r: &HeldRequest) -> Value {
    json!({
        "id": r.id,
        "service": r.service,
        "transaction_id": r.transaction_id,
        "status": r.status.as_str(),
        "queue": r.queue,
        "routed_by": r.routed_by,
        "message_type": r.message_type,
        "subject": r.subject,
        "sans": r.sans,
        "key": r.key,
        "signer": r.signer_subject,
        "client_address": r.client_address,
        "received_at": r.received_at,
        "poll_count": r.poll_count,
        "last_poll_at": r.last_poll_at,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at,
        "reason": r.reason,
        "issued": r.certificate.is_some(),
    })
}

fn service_id(app: &App, name: Option<&str>) -> Result<Option<i64>> {
    name.map(|n| app.store.service(n).map(|s| s.id))
        .transpose()
        .map_err(Into::into)
}

pub fn list_requests(app: &App, service: Option<&str>, status: Option<&str>) -> Result<Value> {
    let status = match status {
        None | Some("") | Some("all") => None,
        Some(text) => Some(match text {
            "pending" => RequestStatus::Pending,
            "issuing" => RequestStatus::Issuing,
            "issued" => RequestStatus::Issued,
            "rejected" => RequestStatus::Rejected,
            "failed" => RequestStatus::Failed,
            other => {
                return Err(DecisionError::Invalid {
                    field: "status",
                    message: format!(
                        "unknown status {other:?} (pending, issuing, issued, rejected, failed, all)"
                    ),
                });
            }
        }),
    };
    let rows = app.store.held_requests(service_id(app, service)?, status)?;
    Ok(Value::Array(rows.iter().map(request_json).collect()))
}

pub fn show_request(app: &App, id: i64) -> Result<Value> {
    Ok(request_json(&app.store.held_request_by_id(id)?))
}

fn runtime_for(app: &App, service_id: i64) -> Result<std::sync::Arc<ServiceRuntime>> {
    app.table()
        .by_alias
        .values()
        .find(|rt| rt.service.id == service_id)
        .cloned()
        .ok_or_else(|| {
            DecisionError::Failed("the request's service is not loaded (see /health)".into())
        })
}

/// Issues a held request through the service's issuer, exactly as an authorised
/// request would be. The client gets the certificate on its next poll.
pub fn approve(app: &App, id: i64, actor: &str) -> Result<Value> {
    let held = app.store.held_request_by_id(id)?;
    if held.status != RequestStatus::Pending {
        return Err(DecisionError::Conflict(format!(
            "request {id} is {}, not pending; only pending requests can be approved",
            held.status.as_str()
        )));
    }
    let rt = runtime_for(app, held.service_id)?;
    let request =
        issue::request_from_held(&rt, &held).map_err(|r| DecisionError::Failed(r.0.reason))?;
    let context = IssueContext {
        transaction_id: &held.transaction_id,
        message_type: &held.message_type,
        signer_key: &held.signer_key,
        client_address: &held.client_address,
        decided_by: actor,
        claim: None,
        held_request_id: Some(id),
    };
    match issue::issue(app, &rt, &request, &context) {
        Ok(Issued::Certificate(_)) => {}
        Ok(Issued::Pending(ticket)) => {
            app.store.decide_request(
                id,
                &[RequestStatus::Pending],
                RequestStatus::Issuing,
                actor,
                "approved; the issuer will decide later",
                Some(&ticket),
            )?;
        }
        Err((rejection, by)) => {
            app.store.decide_request(
                id,
                &[RequestStatus::Pending],
                RequestStatus::Failed,
                actor,
                &format!("approved, but {by} refused: {}", rejection.reason),
                None,
            )?;
            return Err(DecisionError::Failed(format!(
                "the issuer refused: {}",
                rejection.reason
            )));
        }
    }
    show_request(app, id)
}

pub fn reject(app: &App, id: i64, actor: &str, reason: &str) -> Result<Value> {
    if reason.trim().is_empty() {
        return Err(DecisionError::Invalid {
            field: "reason",
            message: "a rejection needs a reason".into(),
        });
    }
    let held = app.store.held_request_by_id(id)?;
    let decided = app.store.decide_request(
        id,
        &[RequestStatus::Pending, RequestStatus::Issuing],
        RequestStatus::Rejected,
        actor,
        reason,
        None,
    )?;
    if !decided {
        return Err(DecisionError::Conflict(format!(
            "request {id} is {}, not pending; it cannot be rejected",
            held.status.as_str()
        )));
    }
    show_request(app, id)
}

fn certificate_json(app: &App, c: &sceptic_store::IssuedCertificate, ca_id: i64) -> Result<Value> {
    let revoked = app.store.is_revoked(ca_id, &c.serial_hex)?;
    Ok(json!({
        "serial": c.serial_hex,
        "subject": c.subject,
        "not_after": c.not_after,
        "transaction_id": c.transaction_id,
        "revoked": revoked,
    }))
}

pub fn list_certificates(app: &App, service: Option<&str>) -> Result<Value> {
    let services = match service {
        Some(name) => vec![app.store.service(name)?],
        None => app.store.services_with_deleted()?,
    };
    let mut out = Vec::new();
    for s in services {
        for c in app.store.certificates(s.id)? {
            let mut row = certificate_json(app, &c, s.ca_id)?;
            row["service"] = json!(s.name);
            out.push(row);
        }
    }
    Ok(Value::Array(out))
}

fn find_certificate(
    app: &App,
    serial: &str,
) -> Result<(sceptic_store::IssuedCertificate, sceptic_store::Service)> {
    let serial = serial
        .trim()
        .trim_start_matches("0x")
        .to_ascii_lowercase()
        .replace(':', "");
    for s in app.store.services_with_deleted()? {
        if let Some(c) = app.store.certificate_by_serial(s.ca_id, &serial)?
            && c.service_id == s.id
        {
            return Ok((c, s));
        }
    }
    Err(DecisionError::NotFound(format!(
        "no certificate with serial {serial} (see `sceptic cert list`)"
    )))
}

pub fn show_certificate(app: &App, serial: &str) -> Result<Value> {
    let (c, s) = find_certificate(app, serial)?;
    let mut row = certificate_json(app, &c, s.ca_id)?;
    row["service"] = json!(s.name);
    row["pem"] = json!(
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &c.der)
            .unwrap_or_default()
    );
    Ok(row)
}

pub fn revoke(app: &App, serial: &str, reason: &str, actor: &str) -> Result<Value> {
    if let Err(message) = sceptic_x509::CrlReason::parse(reason) {
        return Err(DecisionError::Invalid {
            field: "reason",
            message,
        });
    }
    let (c, s) = find_certificate(app, serial)?;
    if !app.store.revoke(s.ca_id, &c.serial_hex, reason, actor)? {
        return Err(DecisionError::Conflict(format!(
            "certificate {} is already revoked",
            c.serial_hex
        )));
    }
    show_certificate(app, &c.serial_hex)
}
