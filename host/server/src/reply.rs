//! Answering a PKIOperation: what is known of the request, and the signed CertReps
//! (RFC 8894 §3.3.2) built from it. Every refusal is recorded and audited.

use sceptic_plugins::types::FailInfo as WitFailInfo;
use sceptic_proto::{
    CertRep, FailInfo, Outcome, PkiMessage, Rejection, ReplyRecipient, SignatureDigest,
};
use sceptic_store::{AuditEvent, TransactionRecord};

use crate::App;
use crate::enforce::Delivery;
use crate::enroll::Opened;
use crate::runtime::ServiceRuntime;

/// What the HTTP layer sends back.
pub enum PkiReply {
    /// A signed CertRep (`application/x-pki-message`).
    CertRep(Vec<u8>),
    /// Not a usable SCEP message: HTTP 400 with this reason.
    BadRequest(String),
    /// The service cannot answer in kind (it is disabled): HTTP 503 with this reason.
    Unavailable(String),
}

/// The HTTP facts a policy may use.
pub struct Origin {
    pub method: &'static str,
    pub client_address: String,
    /// The POST's Content-Type header, if any (for `strict-content-types`).
    pub content_type: Option<String>,
}

/// Who answers a refusal that happened in the host, for the audit log.
pub const HOST: &str = "host";

/// A refusal and who decided it.
pub type Refusal = (Rejection, String);

pub fn host_refusal(fail_info: FailInfo, reason: impl Into<String>) -> Refusal {
    (Rejection::new(fail_info, reason.into()), HOST.to_owned())
}

/// What is known of a request, for answering and recording it.
pub struct Facts {
    pub transaction_id: String,
    pub sender_nonce: Vec<u8>,
    pub message_type: String,
    /// SHA-256 (hex) of the signer's public key, once known.
    pub signer_key: String,
    pub client_address: String,
    pub method: &'static str,
    pub digest: SignatureDigest,
}

impl Facts {
    pub fn unverified(transaction_id: String, sender_nonce: Vec<u8>, origin: &Origin) -> Self {
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

    pub fn from_message(rt: &ServiceRuntime, message: &PkiMessage, origin: &Origin) -> Self {
        Self {
            transaction_id: message.transaction_id.clone(),
            sender_nonce: message.sender_nonce.clone(),
            message_type: message.message_type.to_string(),
            signer_key: String::new(),
            client_address: origin.client_address.clone(),
            method: origin.method,
            digest: rt.reply_digest(message.digest),
        }
    }

    fn rep(&self, outcome: Outcome) -> CertRep {
        CertRep {
            transaction_id: self.transaction_id.clone(),
            recipient_nonce: self.sender_nonce.clone(),
            outcome,
            digest: self.digest,
        }
    }
}

/// Signs a CertRep with the service's current RA key.
fn sign(rt: &ServiceRuntime, rep: &CertRep) -> Result<PkiReply, String> {
    let ra = &rt.ra[0];
    sceptic_proto::build_cert_rep(rep, &ra.certificate_der, &ra.key)
        .map(PkiReply::CertRep)
        .map_err(|e| e.to_string())
}

/// Whom the content of a SUCCESS answering `opened` is encrypted to.
fn recipient(rt: &ServiceRuntime, opened: &Opened) -> Result<ReplyRecipient, Refusal> {
    match &opened.delivery {
        Ok(Delivery::Signer) => Ok(ReplyRecipient::Certificate(opened.signer.der.clone())),
        Ok(Delivery::Password(password)) => Ok(ReplyRecipient::Password {
            password: password.as_bytes().to_vec(),
            kek: rt.kek_cipher(),
        }),
        Err(rejection) => Err((rejection.clone(), HOST.to_owned())),
    }
}

/// SUCCESS carrying `certificate`, encrypted to the requester (see [`recipient`]).
pub fn success(
    rt: &ServiceRuntime,
    facts: &Facts,
    certificate: Vec<u8>,
    opened: &Opened,
) -> Result<PkiReply, Refusal> {
    let outcome = Outcome::Success {
        issued_certificate_der: certificate,
        recipient: recipient(rt, opened)?,
        cipher: rt.reply_cipher(opened.cipher),
    };
    sign(rt, &facts.rep(outcome)).map_err(|e| host_refusal(FailInfo::BadRequest, e))
}

/// SUCCESS carrying a CRL (GetCRL).
pub fn crl_success(
    rt: &ServiceRuntime,
    facts: &Facts,
    crl: Vec<u8>,
    opened: &Opened,
) -> Result<PkiReply, Refusal> {
    let outcome = Outcome::Crl {
        crl_der: crl,
        recipient: recipient(rt, opened)?,
        cipher: rt.reply_cipher(opened.cipher),
    };
    sign(rt, &facts.rep(outcome)).map_err(|e| host_refusal(FailInfo::BadRequest, e))
}

/// PENDING (§3.3.2.3): the client should poll with CertPoll.
pub fn pending(rt: &ServiceRuntime, facts: &Facts) -> Result<PkiReply, Refusal> {
    sign(rt, &facts.rep(Outcome::Pending)).map_err(|e| host_refusal(FailInfo::BadRequest, e))
}

/// Longest reason kept in a log line, the database and failInfoText. Reasons can
/// quote what a client sent; without a cap one request could write megabytes.
pub const MAX_REASON_CHARS: usize = 512;

fn capped(mut reason: String) -> String {
    if reason.chars().count() > MAX_REASON_CHARS {
        reason = reason.chars().take(MAX_REASON_CHARS).collect();
        reason.push('…');
    }
    reason
}

/// Answers a message whose signature was not verified (or did not verify) with a
/// signed FAILURE, without recording it: anyone can send such messages, so they
/// must not be able to fill the database. The log line is the record.
pub fn refuse_unverified(rt: &ServiceRuntime, facts: &Facts, mut rejection: Rejection) -> PkiReply {
    rejection.reason = capped(rejection.reason);
    tracing::info!(service = %rt.name, transaction = %capped(facts.transaction_id.clone()), client = %facts.client_address,
        "refused an unverified message ({}): {}", rejection.fail_info, rejection.reason);
    answer_failure(rt, facts, rejection)
}

/// Answers a refusal with a signed FAILURE and records it.
pub fn refuse(
    app: &App,
    rt: &ServiceRuntime,
    facts: &Facts,
    mut rejection: Rejection,
    decided_by: &str,
) -> PkiReply {
    rejection.reason = capped(rejection.reason);
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
    answer_failure(rt, facts, rejection)
}

fn answer_failure(rt: &ServiceRuntime, facts: &Facts, rejection: Rejection) -> PkiReply {
    let outcome = Outcome::Failure {
        fail_info: rejection.fail_info,
        text: Some(rejection.reason),
    };
    match sign(rt, &facts.rep(outcome)) {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(service = %rt.name, "signing a FAILURE failed: {e}");
            PkiReply::BadRequest(format!("the server could not sign its answer: {e}"))
        }
    }
}

pub fn audit_fault(
    app: &App,
    rt: &ServiceRuntime,
    transaction_id: &str,
    plugin: &str,
    fault: &sceptic_plugins::Fault,
) {
    tracing::warn!(service = %rt.name, plugin, fault = fault.kind(), "plugin fault: {fault}");
    let event = AuditEvent {
        service: Some(rt.service.name.clone()),
        transaction_id: Some(transaction_id.to_owned()),
        event: "plugin-fault".into(),
        plugin: Some(plugin.to_owned()),
        detail: format!("{}: {fault}", fault.kind()),
    };
    if let Err(e) = app.store.audit(&event) {
        tracing::error!("auditing a plugin fault failed: {e}");
    }
}

pub fn fail_info_from_wit(f: WitFailInfo) -> FailInfo {
    match f {
        WitFailInfo::BadAlg => FailInfo::BadAlg,
        WitFailInfo::BadMessageCheck => FailInfo::BadMessageCheck,
        WitFailInfo::BadRequest => FailInfo::BadRequest,
        WitFailInfo::BadTime => FailInfo::BadTime,
        WitFailInfo::BadCertId => FailInfo::BadCertId,
    }
}
