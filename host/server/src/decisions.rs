//! What an operator decides, from the CLI or the REST API alike: approve or reject
//! a held request, revoke a certificate, and the listings they decide from. Every
//! decision is audited with who made it. The `*_as` forms take the caller's
//! [`Access`]: a team-scoped token sees and decides only its team's requests and
//! certificates; the plain forms (the CLI) have full access.

use sceptic_store::{HeldRequest, RequestStatus};
use serde_json::{Value, json};

use crate::App;
use crate::issue::{self, IssueContext, Issued};
use crate::manage::Access;
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
    /// The plugin or issuer behind the decision failed or refused.
    #[error("{0}")]
    Failed(String),
    /// The caller's token may not do this (a team-scoped token, another team).
    #[error("{0}")]
    Forbidden(String),
    /// The server could not do it (database, key files): not the caller's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<sceptic_store::StoreError> for DecisionError {
    fn from(e: sceptic_store::StoreError) -> Self {
        match e {
            sceptic_store::StoreError::UnknownService(name) => {
                DecisionError::NotFound(format!("no service named {name:?}"))
            }
            sceptic_store::StoreError::Conflict(m) => DecisionError::NotFound(m),
            other => DecisionError::Internal(other.to_string()),
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

/// The service `name`, if the caller covers it.
fn service_as(app: &App, access: Access, name: &str) -> Result<sceptic_store::Service> {
    let service = app.store.service(name)?;
    access.check(&service)?;
    Ok(service)
}

/// Refuses a held request of a service the caller does not cover.
fn check_request(app: &App, access: Access, held: &HeldRequest) -> Result<()> {
    if access == Access::Full {
        return Ok(());
    }
    match app
        .store
        .services_with_deleted()?
        .into_iter()
        .find(|s| s.id == held.service_id)
    {
        Some(service) => access.check(&service),
        None => Err(DecisionError::NotFound(format!("no request {}", held.id))),
    }
}

pub fn list_requests(app: &App, service: Option<&str>, status: Option<&str>) -> Result<Value> {
    list_requests_as(app, Access::Full, service, status)
}

pub fn list_requests_as(
    app: &App,
    access: Access,
    service: Option<&str>,
    status: Option<&str>,
) -> Result<Value> {
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
    let service_id = service
        .map(|name| service_as(app, access, name).map(|s| s.id))
        .transpose()?;
    let mut rows = app.store.held_requests(service_id, status)?;
    if access != Access::Full {
        let covered: Vec<i64> = app
            .store
            .services_with_deleted()?
            .iter()
            .filter(|s| access.covers(s.team_id))
            .map(|s| s.id)
            .collect();
        rows.retain(|r| covered.contains(&r.service_id));
    }
    Ok(Value::Array(rows.iter().map(request_json).collect()))
}

pub fn show_request(app: &App, id: i64) -> Result<Value> {
    show_request_as(app, Access::Full, id)
}

pub fn show_request_as(app: &App, access: Access, id: i64) -> Result<Value> {
    let held = app.store.held_request_by_id(id)?;
    check_request(app, access, &held)?;
    Ok(request_json(&held))
}

/// [`approve`], for a caller who may only decide its team's requests.
pub fn approve_as(app: &App, access: Access, id: i64, actor: &str) -> Result<Value> {
    check_request(app, access, &app.store.held_request_by_id(id)?)?;
    approve(app, id, actor)
}

/// [`reject`], for a caller who may only decide its team's requests.
pub fn reject_as(app: &App, access: Access, id: i64, actor: &str, reason: &str) -> Result<Value> {
    check_request(app, access, &app.store.held_request_by_id(id)?)?;
    reject(app, id, actor, reason)
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
    let (team_id, user_id, info) = app.store.certificate_owner_and_info(c.id)?;
    Ok(json!({
        "serial": c.serial_hex,
        "subject": c.subject,
        "not_after": c.not_after,
        "transaction_id": c.transaction_id,
        "revoked": revoked,
        "team_id": team_id,
        "user_id": user_id,
        "certificate_info": info,
    }))
}

/// The team a certificate belongs to: the one recorded when it was issued, or
/// (issued before teams existed) its service's.
fn certificate_team(row: &Value, service: &sceptic_store::Service) -> Option<i64> {
    row["team_id"].as_i64().or(service.team_id)
}

pub fn list_certificates(app: &App, service: Option<&str>) -> Result<Value> {
    list_certificates_as(app, Access::Full, service)
}

pub fn list_certificates_as(app: &App, access: Access, service: Option<&str>) -> Result<Value> {
    let services = match service {
        Some(name) => vec![service_as(app, access, name)?],
        None => app.store.services_with_deleted()?,
    };
    let mut out = Vec::new();
    for s in services {
        for c in app.store.certificates(s.id)? {
            let mut row = certificate_json(app, &c, s.ca_id)?;
            if !access.covers(certificate_team(&row, &s)) {
                continue;
            }
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
    show_certificate_as(app, Access::Full, serial)
}

pub fn show_certificate_as(app: &App, access: Access, serial: &str) -> Result<Value> {
    let (c, s) = find_certificate(app, serial)?;
    let mut row = certificate_json(app, &c, s.ca_id)?;
    if !access.covers(certificate_team(&row, &s)) {
        return Err(DecisionError::Forbidden(format!(
            "certificate {} was issued by service {:?}, which is not one of this token's \
             team's services",
            c.serial_hex, s.name
        )));
    }
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
