//! Requests held for a decision, as the client sees them: a repeated PKCSReq or a
//! CertPoll (RFC 8894 §3.3.3) gets PENDING until a person decides, then the
//! certificate or a FAILURE. The service's "max poll count" and "min poll
//! interval" bound how a client may poll.

use sceptic_proto::{FailInfo, Rejection};
use sceptic_store::{HeldRequest, RequestStatus};

use crate::App;
use crate::enroll::{Opened, store_failure};
use crate::issue::{self, IssueContext, Issued};
use crate::reply::{self, Facts, HOST, PkiReply, Refusal, host_refusal};
use crate::runtime::ServiceRuntime;

/// CertPoll: the messageData is an IssuerAndSubject; the request is found by its
/// transactionID and the signer's key, as §3.3.3 asks.
pub fn poll(
    app: &App,
    rt: &ServiceRuntime,
    facts: &Facts,
    opened: &Opened,
) -> Result<PkiReply, Refusal> {
    sceptic_proto::parse_issuer_and_subject(&opened.plaintext).map_err(|r| (r, HOST.to_owned()))?;
    let held = app
        .store
        .held_request(rt.service.id, &facts.transaction_id, &facts.signer_key)
        .map_err(|e| store_failure(rt, e))?;
    match held {
        Some(held) => answer(app, rt, held, facts, opened, true),
        None => {
            // Issued straight away but the client missed the answer: send it again.
            if let Some(certificate) = app
                .store
                .certificate_for_transaction(
                    rt.service.id,
                    &facts.transaction_id,
                    &facts.signer_key,
                    None,
                )
                .map_err(|e| store_failure(rt, e))?
            {
                return reply::success(rt, facts, certificate, opened);
            }
            Err(host_refusal(
                FailInfo::BadCertId,
                format!(
                    "no request with transactionID {:?} from this sender",
                    facts.transaction_id
                ),
            ))
        }
    }
}

/// The answer to a held request's current state. `is_poll` counts the poll
/// against the service's limits (a repeated PKCSReq is not counted).
pub fn answer(
    app: &App,
    rt: &ServiceRuntime,
    held: HeldRequest,
    facts: &Facts,
    opened: &Opened,
    is_poll: bool,
) -> Result<PkiReply, Refusal> {
    let decided = |reason: &Option<String>| {
        reason
            .clone()
            .unwrap_or_else(|| "refused by an operator".into())
    };
    match held.status {
        RequestStatus::Issued => match held.certificate {
            Some(certificate) => reply::success(rt, facts, certificate, opened),
            None => Err(host_refusal(
                FailInfo::BadRequest,
                "the issued certificate is missing from the database",
            )),
        },
        RequestStatus::Rejected | RequestStatus::Failed => Err((
            Rejection::new(FailInfo::BadRequest, decided(&held.reason)),
            held.decided_by.clone().unwrap_or_else(|| HOST.into()),
        )),
        RequestStatus::Pending | RequestStatus::Issuing => {
            if is_poll {
                check_poll_limits(app, rt, &held)?;
            }
            if held.status == RequestStatus::Issuing
                && let Some(reply) = ask_issuer(app, rt, &held, facts, opened)?
            {
                return Ok(reply);
            }
            if is_poll {
                app.store
                    .record_poll(held.id)
                    .map_err(|e| store_failure(rt, e))?;
            }
            reply::pending(rt, facts)
        }
    }
}

/// §3.3.3 leaves polling policy to the CA; certdog's "max poll count" fails the
/// request, "min poll interval" refuses this poll only (the client may poll again).
fn check_poll_limits(app: &App, rt: &ServiceRuntime, held: &HeldRequest) -> Result<(), Refusal> {
    let max = rt.service.max_poll_count;
    if max > 0 && held.poll_count >= max {
        let reason =
            format!("the request was polled more than {max} times (the service's max poll count)");
        app.store
            .decide_request(
                held.id,
                &[RequestStatus::Pending, RequestStatus::Issuing],
                RequestStatus::Failed,
                HOST,
                &reason,
                None,
            )
            .map_err(|e| store_failure(rt, e))?;
        return Err(host_refusal(FailInfo::BadRequest, reason));
    }
    let min = rt.service.min_poll_interval;
    let since = held.last_poll_at.unwrap_or(held.received_at);
    let wait = since + min - sceptic_store::now();
    if min > 0 && wait > 0 {
        let reason = format!(
            "polled too early: poll again in {wait} s (the service's min poll interval is {min} s)"
        );
        tracing::info!(service = %rt.name, request = held.id, "{reason}");
        let event = sceptic_store::AuditEvent {
            service: Some(rt.service.name.clone()),
            transaction_id: Some(held.transaction_id.clone()),
            event: "poll-too-early".into(),
            plugin: None,
            detail: reason.clone(),
        };
        if let Err(e) = app.store.audit(&event) {
            tracing::error!("auditing an early poll failed: {e}");
        }
        return Err(host_refusal(FailInfo::BadRequest, reason));
    }
    Ok(())
}

/// An approved request whose issuer answered pending: ask the issuer again.
fn ask_issuer(
    app: &App,
    rt: &ServiceRuntime,
    held: &HeldRequest,
    facts: &Facts,
    opened: &Opened,
) -> Result<Option<PkiReply>, Refusal> {
    let Some(ticket) = held.issuer_ticket.as_deref() else {
        return Ok(None);
    };
    let request = issue::request_from_held(rt, held)?;
    let decided_by = held
        .decided_by
        .clone()
        .unwrap_or_else(|| rt.issuer.identity().to_string());
    let context = IssueContext {
        transaction_id: &held.transaction_id,
        message_type: &held.message_type,
        signer_key: &held.signer_key,
        client_address: &held.client_address,
        decided_by: &decided_by,
        claim: None,
        held_request_id: Some(held.id),
    };
    match issue::poll_issuer(app, rt, ticket, &request, &context) {
        Ok(Issued::Certificate(der)) => reply::success(rt, facts, der, opened).map(Some),
        Ok(Issued::Pending(_)) => Ok(None),
        Err((rejection, by)) => {
            app.store
                .decide_request(
                    held.id,
                    &[RequestStatus::Issuing],
                    RequestStatus::Failed,
                    &by,
                    &rejection.reason,
                    None,
                )
                .map_err(|e| store_failure(rt, e))?;
            Err((rejection, by))
        }
    }
}
