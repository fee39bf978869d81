//! Issuing a certificate through the service's issuer and recording it: shared by
//! an authorised request, an approved held request, and a poll that finds the
//! issuer done. The certificate is delivered only if it was recorded.

use sceptic_plugins::IssueOutcome;
use sceptic_plugins::types as wit;
use sceptic_proto::{CertificateInfo, CsrInfo, FailInfo, MessageType, Rejection, SanKind};
use sceptic_store::{HeldRequest, Issuance, IssueConflict, SecretClaim};

use crate::App;
use crate::reply::{HOST, Refusal, fail_info_from_wit, host_refusal};
use crate::runtime::ServiceRuntime;

/// The facts an issuance is recorded with.
pub struct IssueContext<'a> {
    pub transaction_id: &'a str,
    pub message_type: &'a str,
    pub signer_key: &'a str,
    pub client_address: &'a str,
    /// The plugin or person whose decision led here.
    pub decided_by: &'a str,
    pub claim: Option<SecretClaim>,
    /// The held request this issuance completes.
    pub held_request_id: Option<i64>,
}

pub enum Issued {
    Certificate(Vec<u8>),
    /// The issuer will decide later; ask it again with this ticket.
    Pending(String),
}

/// Calls the issuer and records what it issued.
pub fn issue(
    app: &App,
    rt: &ServiceRuntime,
    request: &wit::Request,
    context: &IssueContext<'_>,
) -> Result<Issued, Refusal> {
    let outcome = rt.issuer.issue(rt.name.clone(), request);
    finish(app, rt, outcome, request, context)
}

/// Asks the issuer again about a ticket, and records the certificate if it is done.
pub fn poll_issuer(
    app: &App,
    rt: &ServiceRuntime,
    ticket: &str,
    request: &wit::Request,
    context: &IssueContext<'_>,
) -> Result<Issued, Refusal> {
    let outcome = rt.issuer.poll(rt.name.clone(), ticket);
    finish(app, rt, outcome, request, context)
}

fn finish(
    app: &App,
    rt: &ServiceRuntime,
    outcome: Result<IssueOutcome, sceptic_plugins::Fault>,
    request: &wit::Request,
    context: &IssueContext<'_>,
) -> Result<Issued, Refusal> {
    let issuer_name = rt.issuer.identity().to_string();
    let certificate_der = match outcome {
        Ok(IssueOutcome::Issued(der)) => der,
        Ok(IssueOutcome::Pending(ticket)) => return Ok(Issued::Pending(ticket)),
        Ok(IssueOutcome::Rejected { fail_info, reason }) => {
            return Err((
                Rejection::new(fail_info_from_wit(fail_info), reason),
                issuer_name,
            ));
        }
        Err(fault) => {
            crate::reply::audit_fault(app, rt, context.transaction_id, &issuer_name, &fault);
            return Err((
                Rejection::new(
                    FailInfo::BadRequest,
                    format!("issuer {issuer_name} {fault}"),
                ),
                issuer_name,
            ));
        }
    };
    let refused = |reason: String| {
        (
            Rejection::new(FailInfo::BadRequest, reason),
            issuer_name.clone(),
        )
    };
    let issued = sceptic_proto::describe_certificate(&certificate_der).map_err(|r| {
        refused(format!(
            "the issuer returned an unreadable certificate: {}",
            r.reason
        ))
    })?;
    let csr = sceptic_proto::parse_csr(&request.csr.der).map_err(|r| refused(r.reason))?;
    if issued.spki_der != csr.spki_der {
        return Err(refused(
            "the issuer returned a certificate for another public key".into(),
        ));
    }
    let issuance = Issuance {
        service_id: rt.service.id,
        service: rt.service.name.clone(),
        ca_id: rt.service.ca_id,
        transaction_id: context.transaction_id.to_owned(),
        message_type: context.message_type.to_owned(),
        serial_hex: issued.serial_hex.clone(),
        subject: issued.subject.clone(),
        not_before: issued.not_before,
        not_after: issued.not_after,
        der: certificate_der.clone(),
        signer_key: context.signer_key.to_owned(),
        client_address: context.client_address.to_owned(),
        decided_by: context.decided_by.to_owned(),
        claim: context.claim.clone(),
        held_request_id: context.held_request_id,
    };
    match app.store.record_issuance(&issuance) {
        Ok(_) => {}
        Err(IssueConflict::Store(e)) => {
            tracing::error!(service = %rt.name, "recording an issued certificate failed: {e}");
            return Err(host_refusal(
                FailInfo::BadRequest,
                "the server could not record the certificate; try again",
            ));
        }
        Err(conflict) => return Err(host_refusal(FailInfo::BadRequest, conflict.to_string())),
    }
    tracing::info!(service = %rt.name, transaction = %context.transaction_id, serial = %issued.serial_hex,
        subject = %issued.subject, decided_by = %context.decided_by, "issued");
    Ok(Issued::Certificate(certificate_der))
}

/// The request record plugins see, from what the host parsed.
pub fn wit_request(
    rt: &ServiceRuntime,
    message_type: MessageType,
    transaction_id: &str,
    csr: &CsrInfo,
    signer: &CertificateInfo,
    http_method: &str,
    client_address: &str,
) -> wit::Request {
    wit::Request {
        service: rt.service.name.clone(),
        message_type: match message_type {
            MessageType::RenewalReq => wit::MessageType::RenewalReq,
            MessageType::CertPoll => wit::MessageType::CertPoll,
            MessageType::GetCert => wit::MessageType::GetCert,
            MessageType::GetCrl => wit::MessageType::GetCrl,
            _ => wit::MessageType::PkcsReq,
        },
        transaction_id: transaction_id.to_owned(),
        csr: wit::Csr {
            der: csr.der.clone(),
            subject: csr.subject.clone(),
            sans: csr
                .sans
                .iter()
                .map(|san| wit::SubjectAltName {
                    kind: match san.kind {
                        SanKind::Dns => wit::SanKind::Dns,
                        SanKind::Email => wit::SanKind::Email,
                        SanKind::Uri => wit::SanKind::Uri,
                        SanKind::Ip => wit::SanKind::Ip,
                        SanKind::Other => wit::SanKind::Other,
                    },
                    value: san.value.clone(),
                })
                .collect(),
            key_algorithm: csr.key_algorithm.clone(),
            key_bits: csr.key_bits,
            challenge_present: csr.challenge_password.is_some(),
        },
        signer: wit::Certificate {
            der: signer.der.clone(),
            subject: signer.subject.clone(),
            issuer: signer.issuer.clone(),
            serial: signer.serial_hex.clone(),
            not_before: signer.not_before,
            not_after: signer.not_after,
            self_signed: signer.self_signed,
            key_usage: signer.key_usage.clone(),
        },
        http_method: http_method.to_owned(),
        client_address: client_address.to_owned(),
        received_at: sceptic_store::now(),
    }
}

/// The request record of a held request, rebuilt from what was stored.
pub fn request_from_held(rt: &ServiceRuntime, held: &HeldRequest) -> Result<wit::Request, Refusal> {
    let csr = sceptic_proto::parse_csr(&held.csr).map_err(|r| (r, HOST.to_owned()))?;
    let signer = sceptic_proto::describe_certificate(&held.signer_certificate)
        .map_err(|r| (r, HOST.to_owned()))?;
    let message_type = if held.message_type == MessageType::RenewalReq.to_string() {
        MessageType::RenewalReq
    } else {
        MessageType::PkcsReq
    };
    Ok(wit_request(
        rt,
        message_type,
        &held.transaction_id,
        &csr,
        &signer,
        &held.http_method,
        &held.client_address,
    ))
}
