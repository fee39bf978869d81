//! The host interfaces a policy call borrows, backed by the store: `secrets` (the
//! request's challengePassword is held here and compared in the store; plugins
//! only learn which secret matched) and `trust`/`issued` (signer certificates
//! checked against the service's CA and trusted certificates).

use std::sync::Arc;

use sceptic_plugins::{
    CertificateBroker, IssuedCertificate, MatchedSecret, SecretBroker, SecretKind, TrustedSigner,
};
use sceptic_proto::CertificateInfo;
use sceptic_store::{SecretDigester, Store};

pub struct StoreSecrets {
    pub store: Arc<Store>,
    pub digester: SecretDigester,
    pub service_id: i64,
    pub challenge: Option<String>,
    /// SHA-256 (hex) of the signer's public key, for long-life bindings.
    pub signer_key: String,
}

impl SecretBroker for StoreSecrets {
    fn global_mode(&self) -> bool {
        self.store.global_mode(self.service_id).unwrap_or_else(|e| {
            tracing::error!("reading the secrets failed: {e}");
            false
        })
    }

    fn match_challenge(&self) -> Option<MatchedSecret> {
        let challenge = self.challenge.as_deref()?;
        let found = self
            .store
            .match_secret(&self.digester, self.service_id, challenge, &self.signer_key)
            .unwrap_or_else(|e| {
                // Fail closed: an unreadable store matches nothing.
                tracing::error!("matching the challenge failed: {e}");
                None
            })?;
        Some(MatchedSecret {
            id: found.id as u64,
            kind: match found.kind {
                sceptic_store::SecretKind::Global => SecretKind::Global,
                sceptic_store::SecretKind::SingleUse => SecretKind::SingleUse,
                sceptic_store::SecretKind::LongLife => SecretKind::LongLife,
            },
            sender_matches: found.sender_matches,
        })
    }
}

/// The `trust` and `issued` host interfaces backed by the store: a signer is
/// checked against this service's CA and the certificates it issued, or against
/// the operator's trusted certificates for the service.
pub struct StoreCertificates {
    pub store: Arc<Store>,
    pub service_id: i64,
    pub ca_id: i64,
    pub ca_certificate: Vec<u8>,
}

impl StoreCertificates {
    pub fn new(store: Arc<Store>, rt: &crate::runtime::ServiceRuntime) -> Self {
        Self {
            store,
            service_id: rt.service.id,
            ca_id: rt.service.ca_id,
            ca_certificate: rt.ca_certificate.clone(),
        }
    }

    fn revoked(&self, serial_hex: &str) -> Result<bool, String> {
        self.store.is_revoked(self.ca_id, serial_hex).map_err(|e| {
            tracing::error!("reading revocations failed: {e}");
            "the host could not read its revocation list".to_owned()
        })
    }

    /// Issued by this service's CA, recorded as issued by this very service (a CA
    /// shared by two services does not let one renew the other's certificates),
    /// and not revoked.
    fn verify_service_ca(&self, cert: &CertificateInfo) -> Result<TrustedSigner, String> {
        sceptic_proto::issued_by(&cert.der, &self.ca_certificate).map_err(|e| {
            format!("the signer certificate was not issued by this service's CA: {e}")
        })?;
        let recorded = self
            .store
            .certificate_by_serial(self.ca_id, &cert.serial_hex)
            .map_err(|e| {
                tracing::error!("reading certificates failed: {e}");
                "the host could not read its certificates".to_owned()
            })?;
        if !recorded.is_some_and(|c| c.service_id == self.service_id && c.der == cert.der) {
            return Err(format!(
                "the signer certificate (serial {}) was not issued by this service",
                cert.serial_hex
            ));
        }
        if self.revoked(&cert.serial_hex)? {
            return Err(format!(
                "the signer certificate (serial {}) is revoked",
                cert.serial_hex
            ));
        }
        Ok(TrustedSigner {
            anchor_subject: describe_or_empty(&self.ca_certificate),
            issued_by_service: true,
        })
    }

    /// Equals, or is issued by, one of the service's trusted certificates (itself
    /// within its validity). A certificate of our own CA is also checked against
    /// our revocations; other CAs' revocation is not known here.
    fn verify_trusted(&self, cert: &CertificateInfo) -> Result<TrustedSigner, String> {
        let anchors = self
            .store
            .trusted_certificates(self.service_id)
            .map_err(|e| {
                tracing::error!("reading trusted certificates failed: {e}");
                "the host could not read its trusted certificates".to_owned()
            })?;
        if anchors.is_empty() {
            return Err("the service has no trusted certificates".into());
        }
        let now = sceptic_store::now();
        let anchor = anchors
            .iter()
            .find(|a| a.der == cert.der || sceptic_proto::issued_by(&cert.der, &a.der).is_ok())
            .ok_or_else(|| {
                format!(
                    "the signer certificate ({}, issued by {}) neither is nor was issued by a trusted certificate",
                    cert.subject, cert.issuer
                )
            })?;
        if now < anchor.not_before || now > anchor.not_after {
            return Err(format!(
                "the trusted certificate {} ({}) is not within its validity",
                anchor.id, anchor.subject
            ));
        }
        if sceptic_proto::issued_by(&cert.der, &self.ca_certificate).is_ok()
            && self.revoked(&cert.serial_hex)?
        {
            return Err(format!(
                "the signer certificate (serial {}) is revoked",
                cert.serial_hex
            ));
        }
        Ok(TrustedSigner {
            anchor_subject: anchor.subject.clone(),
            issued_by_service: false,
        })
    }
}

fn describe_or_empty(der: &[u8]) -> String {
    sceptic_proto::describe_certificate(der)
        .map(|c| c.subject)
        .unwrap_or_default()
}

impl CertificateBroker for StoreCertificates {
    fn verify(&self, anchors: &str, certificate_der: &[u8]) -> Result<TrustedSigner, String> {
        // The plugin host has already refused oversized certificates and unknown
        // anchor sets (sceptic_plugins::MAX_VERIFY_CERTIFICATE_BYTES, ANCHOR_SETS).
        let cert = sceptic_proto::describe_certificate(certificate_der).map_err(|r| r.reason)?;
        // RFC 5280 §6.1.3 (a)(2): the certificate is within its validity now.
        let now = sceptic_store::now();
        if now < cert.not_before {
            return Err(format!(
                "the signer certificate is not valid before {}",
                cert.not_before
            ));
        }
        if now > cert.not_after {
            return Err(format!(
                "the signer certificate ({}) expired at {} (Unix time)",
                cert.subject, cert.not_after
            ));
        }
        match anchors {
            "service-ca" => self.verify_service_ca(&cert),
            "trusted" => self.verify_trusted(&cert),
            other => Err(format!(
                "unknown anchor set {other:?} (service-ca or trusted)"
            )),
        }
    }

    fn issued_by_serial(&self, serial_hex: &str) -> Option<IssuedCertificate> {
        let serial = serial_hex.trim().to_ascii_lowercase();
        let found = self
            .store
            .certificate_by_serial(self.ca_id, &serial)
            .ok()
            .flatten()
            .filter(|c| c.service_id == self.service_id)?;
        let info = sceptic_proto::describe_certificate(&found.der).ok()?;
        Some(IssuedCertificate {
            revoked: self.revoked(&serial).unwrap_or(true),
            serial,
            subject: info.subject,
            not_before: info.not_before,
            not_after: info.not_after,
            der: found.der,
        })
    }
}
