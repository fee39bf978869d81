//! PKIOperation (RFC 8894 §3.3): decode → verify → decrypt → dispatch by
//! messageType. Enrollment (PKCSReq, RenewalReq) runs the policy chain, routes
//! unauthorised requests to approval when the service allows it, then issues.
//! Once the transactionID and senderNonce are known every outcome is a signed
//! CertRep; before that, an HTTP 400 with a reason.

use std::sync::Arc;

use sceptic_plugins::Verdict;
use sceptic_proto::{
    CertificateInfo, ContentCipher, CsrInfo, DecodeError, FailInfo, MessageType, PkiMessage,
    Rejection,
};
use sceptic_store::{NewHeldRequest, SecretClaim};
use sha2::{Digest, Sha256};

use crate::App;
use crate::broker::{StoreCertificates, StoreSecrets};
use crate::enforce::{self, Delivery};
use crate::issue::{self, IssueContext, Issued};
use crate::reply::{
    self, Facts, HOST, Origin, PkiReply, Refusal, fail_info_from_wit, host_refusal,
};
use crate::runtime::ServiceRuntime;
use crate::{held, retrieve};

pub fn pki_operation(app: &App, rt: &ServiceRuntime, body: &[u8], origin: &Origin) -> PkiReply {
    let disabled = (!rt.service.enabled).then(|| crate::routes::disabled_reason(rt));
    let message = match sceptic_proto::decode_pki_message(body) {
        Ok(message) => message,
        Err(DecodeError::Malformed(_)) if disabled.is_some() => {
            return PkiReply::Unavailable(disabled.unwrap_or_default());
        }
        Err(DecodeError::Malformed(reason)) => {
            tracing::info!(service = %rt.name, client = %origin.client_address, "malformed PKIOperation: {reason}");
            return PkiReply::BadRequest(format!("malformed SCEP message: {reason}"));
        }
        Err(DecodeError::Rejected {
            transaction_id,
            sender_nonce,
            rejection,
        }) => {
            let facts = Facts::unverified(transaction_id, sender_nonce, origin);
            let rejection = match disabled {
                Some(reason) => Rejection::new(FailInfo::BadRequest, reason),
                None => rejection,
            };
            return reply::refuse_unverified(rt, &facts, rejection);
        }
    };
    let mut facts = Facts::from_message(rt, &message, origin);
    // Refused before decryption and before any plugin runs: nothing is issued and
    // no secret is consumed while a service is disabled.
    if let Some(reason) = disabled {
        return reply::refuse(
            app,
            rt,
            &facts,
            Rejection::new(FailInfo::BadRequest, reason),
            HOST,
        );
    }
    // RFC 8894 §3.5.2: a digest the service does not take is badAlg.
    if !rt.allows_digest(message.digest) {
        tracing::warn!(service = %rt.name,
            "refused a request signed with {}, which this service does not accept. To accept it: \
             `sceptic service edit {} --client-digests {},{}`",
            message.digest.name(), rt.name, rt.service.algorithms.client_digests.join(","), message.digest.name());
        return reply::refuse(
            app,
            rt,
            &facts,
            Rejection::new(
                FailInfo::BadAlg,
                format!(
                    "digest {} is not allowed by this service",
                    message.digest.name()
                ),
            ),
            HOST,
        );
    }
    let outcome =
        open(rt, &message, origin, &mut facts).and_then(|opened| match message.message_type {
            MessageType::PkcsReq | MessageType::RenewalReq => {
                enroll(app, rt, &message, &facts, &opened)
            }
            MessageType::CertPoll => held::poll(app, rt, &facts, &opened),
            MessageType::GetCert => retrieve::get_cert(app, rt, &facts, &opened),
            MessageType::GetCrl => retrieve::get_crl(app, rt, &facts, &opened),
            other => Err(host_refusal(
                FailInfo::BadRequest,
                format!("messageType {other} is not a request"),
            )),
        });
    match outcome {
        Ok(reply) => reply,
        Err((rejection, decided_by)) => reply::refuse(app, rt, &facts, rejection, &decided_by),
    }
}

/// A verified request's signer and decrypted content.
pub struct Opened {
    pub signer: CertificateInfo,
    pub plaintext: Vec<u8>,
    pub cipher: ContentCipher,
    /// The PKCS#10 request inside a PKCSReq or RenewalReq.
    pub csr: Option<CsrInfo>,
    /// Whom a SUCCESS answering this message is encrypted to.
    pub delivery: Result<Delivery, Rejection>,
}

/// Verifies the signer, applies the service's enforcement flags and opens the
/// envelope; for an enrollment, also reads the CSR inside.
fn open(
    rt: &ServiceRuntime,
    message: &PkiMessage,
    origin: &Origin,
    facts: &mut Facts,
) -> Result<Opened, Refusal> {
    enforce::check_transport(rt, origin)?;
    let signer = sceptic_proto::describe_certificate(&message.signer_certificate_der)
        .map_err(|r| (r, HOST.to_owned()))?;
    facts.signer_key = hex::encode(Sha256::digest(&signer.spki_der));
    enforce::check_signer(rt, &signer)?;
    let envelope = message.content.as_deref().ok_or_else(|| {
        host_refusal(
            FailInfo::BadRequest,
            "the request carries no pkcsPKIEnvelope",
        )
    })?;
    let recipients: Vec<(&[u8], &sceptic_keys::RsaKey)> = rt
        .ra
        .iter()
        .map(|ra| (ra.certificate_der.as_slice(), &*ra.key))
        .collect();
    let refused = std::cell::Cell::new(None);
    let allowed = |cipher| {
        let ok = rt.allows_cipher(cipher);
        if !ok {
            refused.set(Some(cipher));
        }
        ok
    };
    let opened = sceptic_proto::open_envelope(envelope, &recipients, &allowed).map_err(|rejection| {
        if let Some(cipher) = refused.get() {
            tracing::warn!(
                service = %rt.name,
                "refused a request encrypted with {cipher}, which this service does not accept. To accept it: \
                 `sceptic service edit {} --client-ciphers {},{cipher}`{}",
                rt.name,
                rt.service.client_ciphers.join(","),
                if cipher == ContentCipher::Des {
                    " (single DES is weak, RFC 8894 §2.9: allow it only for legacy clients; replies never use it)"
                } else {
                    ""
                }
            );
        }
        (rejection, HOST.to_owned())
    })?;
    let csr = match message.message_type {
        MessageType::PkcsReq | MessageType::RenewalReq => {
            let csr =
                sceptic_proto::parse_csr(&opened.plaintext).map_err(|r| (r, HOST.to_owned()))?;
            enforce::check_self_signed(rt, &signer, &csr)?;
            Some(csr)
        }
        _ => None,
    };
    let delivery = enforce::delivery(rt, &signer, csr.as_ref()).map_err(|(rejection, _)| rejection);
    Ok(Opened {
        signer,
        plaintext: opened.plaintext,
        cipher: opened.cipher,
        csr,
        delivery,
    })
}

fn enroll(
    app: &App,
    rt: &ServiceRuntime,
    message: &PkiMessage,
    facts: &Facts,
    opened: &Opened,
) -> Result<PkiReply, Refusal> {
    let csr = opened
        .csr
        .as_ref()
        .expect("open() reads the CSR of every enrollment");
    // Refused before any plugin runs or secret is spent: a certificate that could
    // not be delivered must not be issued.
    if let Err(rejection) = &opened.delivery {
        return Err((rejection.clone(), HOST.to_owned()));
    }
    // A repeated request gets the state of the first one (RFC 8894 §3.3.3: the
    // transactionID identifies the enrollment), never a second certificate.
    if let Some(existing) = app
        .store
        .held_request(rt.service.id, &facts.transaction_id, &facts.signer_key)
        .map_err(|e| store_failure(rt, e))?
    {
        return held::answer(app, rt, existing, facts, opened, false);
    }
    // Only a true retry: the same kind of message, from a signer that does not
    // already hold that certificate. Clients that derive the transactionID from
    // the key (micromdm scepclient) renew with the same ID as their first
    // PKCSReq, and a renewal signed by the certificate it would get back is a new
    // request, not a lost answer.
    if let Some(certificate) = app
        .store
        .certificate_for_transaction(
            rt.service.id,
            &facts.transaction_id,
            &facts.signer_key,
            Some(&facts.message_type),
        )
        .map_err(|e| store_failure(rt, e))?
        .filter(|c| *c != opened.signer.der)
    {
        return reply::success(rt, facts, certificate, opened);
    }
    let request = issue::wit_request(
        rt,
        message.message_type,
        &facts.transaction_id,
        csr,
        &opened.signer,
        facts.method,
        &facts.client_address,
    );
    let secrets = Arc::new(StoreSecrets {
        store: app.store.clone(),
        digester: app.digester.clone(),
        service_id: rt.service.id,
        challenge: csr.challenge_password.clone(),
        signer_key: facts.signer_key.clone(),
    });
    let certificates: Arc<dyn sceptic_plugins::CertificateBroker> =
        Arc::new(StoreCertificates::new(app.store.clone(), rt));
    let decision = rt.chain.evaluate(
        rt.name.clone(),
        &request,
        secrets.clone(),
        certificates.clone(),
    );
    for (plugin, fault) in &decision.faults {
        reply::audit_fault(app, rt, &facts.transaction_id, plugin, fault);
    }
    let (queue, routed_by) = match decision.verdict {
        Verdict::Allow => {
            let claim = decision.claimed.map(|m| SecretClaim {
                id: m.id as i64,
                kind: match m.kind {
                    sceptic_plugins::SecretKind::Global => sceptic_store::SecretKind::Global,
                    sceptic_plugins::SecretKind::SingleUse => sceptic_store::SecretKind::SingleUse,
                    sceptic_plugins::SecretKind::LongLife => sceptic_store::SecretKind::LongLife,
                },
                signer_key: facts.signer_key.clone(),
            });
            let context = IssueContext {
                transaction_id: &facts.transaction_id,
                message_type: &facts.message_type,
                signer_key: &facts.signer_key,
                client_address: &facts.client_address,
                decided_by: &decision.decided_by,
                claim: claim.clone(),
                held_request_id: None,
            };
            return match issue::issue(app, rt, &request, &context)? {
                Issued::Certificate(der) => {
                    tracing::info!(service = %rt.name, transaction = %facts.transaction_id, method = facts.method,
                        cipher = opened.cipher.name(), digest = message.digest.name(), "certificate delivered");
                    reply::success(rt, facts, der, opened)
                }
                Issued::Pending(ticket) => {
                    let issuer = rt.issuer.identity().to_string();
                    let routing = Routing {
                        queue: "issuer",
                        routed_by: &issuer,
                        issuer_ticket: Some(ticket),
                        claim: context.claim.clone(),
                    };
                    hold(app, rt, facts, opened, csr, routing)
                }
            };
        }
        Verdict::Pending(queue) => (queue, decision.decided_by),
        Verdict::Deny { fail_info, reason } => {
            let refusal = (
                Rejection::new(fail_info_from_wit(fail_info), reason),
                decision.decided_by,
            );
            // "Allow unauthorised requests": the service's approval policy may hold
            // what the chain did not authorise, for a person to decide.
            let Some(approval) = &rt.approval else {
                return Err(refusal);
            };
            let routed = approval.evaluate(rt.name.clone(), &request, secrets, certificates);
            match routed.map(|e| e.decision) {
                Ok(sceptic_plugins::types::Decision::Pending(queue)) => {
                    (queue, approval.identity().to_string())
                }
                Ok(_) => return Err(refusal),
                Err(fault) => {
                    reply::audit_fault(
                        app,
                        rt,
                        &facts.transaction_id,
                        &approval.identity().to_string(),
                        &fault,
                    );
                    return Err(refusal);
                }
            }
        }
    };
    let routing = Routing {
        queue: &queue,
        routed_by: &routed_by,
        issuer_ticket: None,
        claim: None,
    };
    hold(app, rt, facts, opened, csr, routing)
}

/// Why a request is held, and what it already used.
struct Routing<'a> {
    queue: &'a str,
    /// The plugin that held it.
    routed_by: &'a str,
    /// Set when the issuer deferred it.
    issuer_ticket: Option<String>,
    /// The secret that authorised it, consumed with the hold.
    claim: Option<SecretClaim>,
}

/// Holds the request and answers PENDING.
fn hold(
    app: &App,
    rt: &ServiceRuntime,
    facts: &Facts,
    opened: &Opened,
    csr: &CsrInfo,
    routing: Routing<'_>,
) -> Result<PkiReply, Refusal> {
    let held = app
        .store
        .hold_request(&NewHeldRequest {
            service_id: rt.service.id,
            service: rt.service.name.clone(),
            transaction_id: facts.transaction_id.clone(),
            signer_key: facts.signer_key.clone(),
            queue: routing.queue.to_owned(),
            routed_by: routing.routed_by.to_owned(),
            message_type: facts.message_type.clone(),
            subject: csr.subject.clone(),
            sans: csr
                .sans
                .iter()
                .map(|s| format!("{}:{}", s.kind.name(), s.value))
                .collect(),
            key: format!("{} {}", csr.key_algorithm, csr.key_bits),
            signer_subject: opened.signer.subject.clone(),
            csr: csr.der.clone(),
            signer_certificate: opened.signer.der.clone(),
            http_method: facts.method.to_owned(),
            client_address: facts.client_address.clone(),
            issuer_ticket: routing.issuer_ticket,
            claim: routing.claim,
        })
        .map_err(|e| match e {
            sceptic_store::StoreError::Conflict(reason) => {
                host_refusal(FailInfo::BadRequest, reason)
            }
            other => store_failure(rt, other),
        })?;
    tracing::info!(service = %rt.name, transaction = %facts.transaction_id, request = held.id, queue = routing.queue, routed_by = routing.routed_by,
        "held for a decision");
    reply::pending(rt, facts)
}

pub fn store_failure(rt: &ServiceRuntime, e: sceptic_store::StoreError) -> Refusal {
    tracing::error!(service = %rt.name, "database error: {e}");
    host_refusal(
        FailInfo::BadRequest,
        "the server could not read or record the request; try again",
    )
}
