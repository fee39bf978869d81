//! PKIOperation (RFC 8894 §3.3): decode → verify → decrypt → CSR → policy chain →
//! issuer → store → signed CertRep. Once the transactionID and senderNonce are known,
//! every outcome is a signed CertRep; before that, an HTTP 400 with a reason.

use std::sync::Arc;

use sceptic_plugins::types::{self as wit, FailInfo as WitFailInfo};
use sceptic_plugins::{IssueOutcome, Verdict};
use sceptic_proto::{
    CertRep, CertificateInfo, ContentCipher, CsrInfo, DecodeError, DigestAlg, FailInfo,
    MessageType, Outcome, PkiMessage, Rejection, SanKind, SignatureDigest,
};
use sceptic_store::{AuditEvent, Issuance, IssueConflict, SecretClaim, TransactionRecord};
use sha2::{Digest, Sha256};

use crate::App;
use crate::broker::StoreSecrets;
use crate::runtime::ServiceRuntime;

/// What the HTTP layer sends back.
pub enum PkiReply {
    /// A signed CertRep (`application/x-pki-message`).
    CertRep(Vec<u8>),
    /// Not a usable SCEP message: HTTP 400 with this reason.
    BadRequest(String),
}

/// The HTTP facts a policy may use.
pub struct Origin {
    pub method: &'static str,
    pub client_address: String,
}

/// Who answers a refusal that happened in the host, for the audit log.
const HOST: &str = "host";

pub fn pki_operation(app: &App, rt: &ServiceRuntime, body: &[u8], origin: &Origin) -> PkiReply {
    let message = match sceptic_proto::decode_pki_message(body) {
        Ok(message) => message,
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
            return refuse(app, rt, &facts, rejection, HOST);
        }
    };
    let mut facts = Facts::from_message(&message, origin);
    match handle(app, rt, &message, &mut facts) {
        Ok(reply) => reply,
        Err((rejection, decided_by)) => refuse(app, rt, &facts, rejection, &decided_by),
    }
}

/// What is known of a request for answering and recording it.
struct Facts {
    transaction_id: String,
    sender_nonce: Vec<u8>,
    message_type: String,
    signer_key: String,
    client_address: String,
    method: &'static str,
    digest: SignatureDigest,
}

impl Facts {
    fn unverified(transaction_id: String, sender_nonce: Vec<u8>, origin: &Origin) -> Self {
        Self {
            transaction_id,
            sender_nonce,
            message_type: "unknown".into(),
            signer_key: String::new(),
            client_address: origin.client_address.clone(),
            method: origin.method,
            digest: SignatureDigest::Sha256,
        }
    }

    fn from_message(message: &PkiMessage, origin: &Origin) -> Self {
        Self {
            transaction_id: message.transaction_id.clone(),
            sender_nonce: message.sender_nonce.clone(),
            message_type: format!("{:?}", message.message_type),
            signer_key: String::new(),
            client_address: origin.client_address.clone(),
            method: origin.method,
            // Answer in the request's digest where we can sign with it; SHA-1 and
            // SHA-224 requests get SHA-256 (RFC 8894 §3.5.2 lets the CA choose).
            digest: match message.digest {
                DigestAlg::Sha384 => SignatureDigest::Sha384,
                DigestAlg::Sha512 => SignatureDigest::Sha512,
                _ => SignatureDigest::Sha256,
            },
        }
    }
}

type Refusal = (Rejection, String);

fn host_refusal(fail_info: FailInfo, reason: impl Into<String>) -> Refusal {
    (Rejection::new(fail_info, reason.into()), HOST.to_owned())
}

fn handle(
    app: &App,
    rt: &ServiceRuntime,
    message: &PkiMessage,
    facts: &mut Facts,
) -> Result<PkiReply, Refusal> {
    if !matches!(
        message.message_type,
        MessageType::PkcsReq | MessageType::RenewalReq
    ) {
        return Err(host_refusal(
            FailInfo::BadRequest,
            format!(
                "messageType {:?} is not supported by this service",
                message.message_type
            ),
        ));
    }
    let signer = sceptic_proto::describe_certificate(&message.signer_certificate_der)
        .map_err(|r| (r, HOST.to_owned()))?;
    let signer_key = hex::encode(Sha256::digest(&signer.spki_der));
    facts.signer_key = signer_key.clone();
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
                if cipher == ContentCipher::Des { " (single DES is weak, RFC 8894 §2.9: allow it only for legacy clients; replies never use it)" } else { "" }
            );
        }
        (rejection, HOST.to_owned())
    })?;
    let csr = sceptic_proto::parse_csr(&opened.plaintext).map_err(|r| (r, HOST.to_owned()))?;
    let request = wit_request(rt, message, &csr, &signer, facts);
    let secrets = Arc::new(StoreSecrets {
        store: app.store.clone(),
        digester: app.digester.clone(),
        service_id: rt.service.id,
        challenge: csr.challenge_password.clone(),
        signer_key: signer_key.clone(),
    });
    let decision = rt.chain.evaluate(rt.name.clone(), &request, secrets);
    for (plugin, fault) in &decision.faults {
        audit_fault(app, rt, facts, plugin, fault);
    }
    match decision.verdict {
        Verdict::Allow => {}
        Verdict::Deny { fail_info, reason } => {
            return Err((
                Rejection::new(fail_info_from_wit(fail_info), reason),
                decision.decided_by,
            ));
        }
        Verdict::Pending(queue) => {
            return Err((
                Rejection::new(
                    FailInfo::BadRequest,
                    format!(
                        "policy asked for manual approval (queue {queue:?}), which this server does not offer yet"
                    ),
                ),
                decision.decided_by,
            ));
        }
    }
    let issuer_name = rt.issuer.identity().to_string();
    let certificate_der = match rt.issuer.issue(rt.name.clone(), &request) {
        Ok(IssueOutcome::Issued(der)) => der,
        Ok(IssueOutcome::Rejected { fail_info, reason }) => {
            return Err((
                Rejection::new(fail_info_from_wit(fail_info), reason),
                issuer_name,
            ));
        }
        Ok(IssueOutcome::Pending(_)) => {
            return Err((
                Rejection::new(
                    FailInfo::BadRequest,
                    "the issuer deferred the request, which this server does not offer yet",
                ),
                issuer_name,
            ));
        }
        Err(fault) => {
            audit_fault(app, rt, facts, &issuer_name, &fault);
            return Err((
                Rejection::new(
                    FailInfo::BadRequest,
                    format!("issuer {issuer_name} {fault}"),
                ),
                issuer_name,
            ));
        }
    };
    let issued = sceptic_proto::describe_certificate(&certificate_der).map_err(|r| {
        (
            Rejection::new(
                FailInfo::BadRequest,
                format!(
                    "the issuer returned an unreadable certificate: {}",
                    r.reason
                ),
            ),
            issuer_name.clone(),
        )
    })?;
    if issued.spki_der != csr.spki_der {
        return Err((
            Rejection::new(
                FailInfo::BadRequest,
                "the issuer returned a certificate for another public key",
            ),
            issuer_name,
        ));
    }
    let claim = decision.claimed.map(|m| SecretClaim {
        id: m.id as i64,
        kind: match m.kind {
            sceptic_plugins::SecretKind::Global => sceptic_store::SecretKind::Global,
            sceptic_plugins::SecretKind::SingleUse => sceptic_store::SecretKind::SingleUse,
            sceptic_plugins::SecretKind::LongLife => sceptic_store::SecretKind::LongLife,
        },
        signer_key: signer_key.clone(),
    });
    let issuance = Issuance {
        service_id: rt.service.id,
        service: rt.service.name.clone(),
        ca_id: rt.service.ca_id,
        transaction_id: facts.transaction_id.clone(),
        message_type: facts.message_type.clone(),
        serial_hex: issued.serial_hex.clone(),
        subject: issued.subject.clone(),
        not_before: issued.not_before,
        not_after: issued.not_after,
        der: certificate_der.clone(),
        signer_key: signer_key.clone(),
        client_address: facts.client_address.clone(),
        decided_by: decision.decided_by.clone(),
        claim,
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
    tracing::info!(service = %rt.name, transaction = %facts.transaction_id, serial = %issued.serial_hex,
        subject = %issued.subject, decided_by = %decision.decided_by, method = facts.method, cipher = opened.cipher.name(),
        digest = message.digest.name(), "issued");
    let rep = CertRep {
        transaction_id: facts.transaction_id.clone(),
        recipient_nonce: facts.sender_nonce.clone(),
        outcome: Outcome::Success {
            issued_certificate_der: certificate_der,
            recipient_certificate_der: message.signer_certificate_der.clone(),
            cipher: opened.cipher,
        },
        digest: facts.digest,
    };
    sign(rt, &rep).map_err(|e| host_refusal(FailInfo::BadRequest, e))
}

fn sign(rt: &ServiceRuntime, rep: &CertRep) -> Result<PkiReply, String> {
    let ra = &rt.ra[0];
    sceptic_proto::build_cert_rep(rep, &ra.certificate_der, &ra.key)
        .map(PkiReply::CertRep)
        .map_err(|e| e.to_string())
}

/// Answers a refusal with a signed FAILURE and records it.
fn refuse(
    app: &App,
    rt: &ServiceRuntime,
    facts: &Facts,
    rejection: Rejection,
    decided_by: &str,
) -> PkiReply {
    tracing::info!(service = %rt.name, transaction = %facts.transaction_id, client = %facts.client_address,
        decided_by, "refused ({}): {}", rejection.fail_info, rejection.reason);
    let record = TransactionRecord {
        service_id: rt.service.id,
        service: rt.service.name.clone(),
        transaction_id: facts.transaction_id.clone(),
        message_type: facts.message_type.clone(),
        outcome: sceptic_store::Outcome::Failed,
        fail_info: Some(rejection.fail_info.to_string()),
        reason: rejection.reason.clone(),
        decided_by: decided_by.to_owned(),
        signer_key: facts.signer_key.clone(),
        client_address: facts.client_address.clone(),
    };
    if let Err(e) = app.store.record_transaction(&record) {
        tracing::error!("recording a refused transaction failed: {e}");
    }
    let rep = CertRep {
        transaction_id: facts.transaction_id.clone(),
        recipient_nonce: facts.sender_nonce.clone(),
        outcome: Outcome::Failure {
            fail_info: rejection.fail_info,
            text: Some(rejection.reason),
        },
        digest: facts.digest,
    };
    match sign(rt, &rep) {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(service = %rt.name, "signing a FAILURE failed: {e}");
            PkiReply::BadRequest(format!("the server could not sign its answer: {e}"))
        }
    }
}

fn audit_fault(
    app: &App,
    rt: &ServiceRuntime,
    facts: &Facts,
    plugin: &str,
    fault: &sceptic_plugins::Fault,
) {
    tracing::warn!(service = %rt.name, plugin, fault = fault.kind(), "plugin fault: {fault}");
    let event = AuditEvent {
        service: Some(rt.service.name.clone()),
        transaction_id: Some(facts.transaction_id.clone()),
        event: "plugin-fault".into(),
        plugin: Some(plugin.to_owned()),
        detail: format!("{}: {fault}", fault.kind()),
    };
    if let Err(e) = app.store.audit(&event) {
        tracing::error!("auditing a plugin fault failed: {e}");
    }
}

fn fail_info_from_wit(f: WitFailInfo) -> FailInfo {
    match f {
        WitFailInfo::BadAlg => FailInfo::BadAlg,
        WitFailInfo::BadMessageCheck => FailInfo::BadMessageCheck,
        WitFailInfo::BadRequest => FailInfo::BadRequest,
        WitFailInfo::BadTime => FailInfo::BadTime,
        WitFailInfo::BadCertId => FailInfo::BadCertId,
    }
}

fn wit_request(
    rt: &ServiceRuntime,
    message: &PkiMessage,
    csr: &CsrInfo,
    signer: &CertificateInfo,
    facts: &Facts,
) -> wit::Request {
    wit::Request {
        service: rt.service.name.clone(),
        message_type: match message.message_type {
            MessageType::RenewalReq => wit::MessageType::RenewalReq,
            MessageType::CertPoll => wit::MessageType::CertPoll,
            MessageType::GetCert => wit::MessageType::GetCert,
            MessageType::GetCrl => wit::MessageType::GetCrl,
            _ => wit::MessageType::PkcsReq,
        },
        transaction_id: message.transaction_id.clone(),
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
        http_method: facts.method.to_owned(),
        client_address: facts.client_address.clone(),
        received_at: sceptic_store::now(),
    }
}
