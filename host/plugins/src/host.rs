//! The host side of the WIT interfaces: what a plugin may ask of sceptic.
//!
//! Each call runs in a fresh `Store` whose data is a [`PluginState`]. Secrets and
//! the CA key appear to plugins only as opaque handles: a secret is compared in
//! the host, and the CA key signs in the host. Certificates are verified in the
//! host too ([`CertificateBroker`], WIT v0.2's `sceptic:pki`; see `pki.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use der::{Decode, Encode};
use rand::Rng;
use sceptic_keys::{RsaKey, SignatureDigest};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::v0_1::issuer::sceptic::host::signing;
use crate::bindings::v0_1::policy::sceptic::host::{config, log, secrets};
use crate::limits::Limiter;

/// Who the plugin is, for logs and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginIdentity {
    /// "secret-policy", or the file name of a component loaded from a path.
    pub name: String,
    /// The plugin's version ("0.1.0" for built-ins, "file" for a path).
    pub version: String,
    /// SHA-256 of the component bytes, lower-case hex.
    pub sha256: String,
    /// The WIT version the component was built against: "0.1" or "0.2".
    pub wit: &'static str,
}

impl std::fmt::Display for PluginIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// A secret the request's challengePassword matched (the host-side view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedSecret {
    pub id: u64,
    pub kind: secrets::SecretKind,
    pub sender_matches: bool,
}

/// What the server lends a policy call for the `secrets` interface: the request's
/// challengePassword stays inside it.
pub trait SecretBroker: Send + Sync {
    fn global_mode(&self) -> bool;
    fn match_challenge(&self) -> Option<MatchedSecret>;
}

/// A signer the host verified against a service's anchors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedSigner {
    pub anchor_subject: String,
    pub issued_by_service: bool,
}

/// A certificate the calling service issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    pub serial: String,
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
    pub revoked: bool,
    pub der: Vec<u8>,
}

/// What the server lends a plugin call for the `trust` and `issued` interfaces.
pub trait CertificateBroker: Send + Sync {
    /// `anchors`: "service-ca" or "trusted"; any other name is an Err that says so.
    fn verify(&self, anchors: &str, certificate_der: &[u8]) -> Result<TrustedSigner, String>;
    fn issued_by_serial(&self, serial_hex: &str) -> Option<IssuedCertificate>;
}

/// A broker that verifies nothing and knows no certificates: for hosts (and
/// calls) without a certificate store. Every `verify` is refused, so a policy
/// that relies on it never allows through it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCertificates;

impl CertificateBroker for NoCertificates {
    fn verify(&self, _anchors: &str, _certificate_der: &[u8]) -> Result<TrustedSigner, String> {
        Err("this host provides no certificate checks".into())
    }

    fn issued_by_serial(&self, _serial_hex: &str) -> Option<IssuedCertificate> {
        None
    }
}

/// The service's CA key as an issuer plugin sees it.
pub struct CaSigner {
    certificate_der: Vec<u8>,
    subject: x509_cert::name::Name,
    key: Arc<RsaKey>,
}

impl CaSigner {
    pub fn new(certificate_der: Vec<u8>, key: Arc<RsaKey>) -> Result<Self, String> {
        let certificate = x509_cert::Certificate::from_der(&certificate_der)
            .map_err(|e| format!("the CA certificate cannot be read: {e}"))?;
        Ok(Self {
            subject: certificate.tbs_certificate().subject().clone(),
            certificate_der,
            key,
        })
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// Signs a TBSCertificate an issuer built, after checking it names this CA as
    /// its issuer and the algorithm this key signs with.
    pub fn sign_certificate(&self, tbs_der: &[u8]) -> Result<Vec<u8>, String> {
        let tbs = x509_cert::TbsCertificate::from_der(tbs_der)
            .map_err(|e| format!("not a DER TBSCertificate: {e}"))?;
        if tbs.issuer() != &self.subject {
            return Err(format!(
                "the TBSCertificate's issuer {} is not this CA ({})",
                tbs.issuer(),
                self.subject
            ));
        }
        if tbs.signature().oid != sceptic_x509::SHA256_WITH_RSA {
            return Err(format!(
                "the TBSCertificate's signature algorithm {} is not sha256WithRSAEncryption",
                tbs.signature().oid
            ));
        }
        let signature = self
            .key
            .sign(SignatureDigest::Sha256, tbs_der)
            .map_err(|e| e.to_string())?;
        sceptic_x509::assemble_certificate(tbs_der, &sceptic_x509::sha256_with_rsa(), &signature)
            .map_err(|e| e.to_string())
    }
}

/// The `ca-key` resource's host representation: which signer the handle names.
pub struct CaKeyHandle(Arc<CaSigner>);

/// Everything one plugin call can reach.
pub struct PluginState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) identity: Arc<PluginIdentity>,
    pub(crate) service: Arc<str>,
    pub(crate) config: Arc<BTreeMap<String, String>>,
    pub(crate) secrets: Option<Arc<dyn SecretBroker>>,
    /// Lent per call; None during `init` (`pki.rs` answers accordingly).
    pub(crate) certificates: Option<Arc<dyn CertificateBroker>>,
    pub(crate) signer: Option<Arc<CaSigner>>,
    /// Issuer calls only, lent after `init` (`http.rs`); None answers every
    /// request with an error.
    pub(crate) http: Option<crate::http::OutboundHttp>,
    /// The secret this call matched, and whether the plugin claimed it.
    pub(crate) matched: Option<MatchedSecret>,
    pub(crate) claimed: Option<MatchedSecret>,
}

impl PluginState {
    pub(crate) fn new(
        identity: Arc<PluginIdentity>,
        service: Arc<str>,
        config: Arc<BTreeMap<String, String>>,
    ) -> Self {
        Self {
            // No environment, arguments, files or sockets: a plugin's only way out
            // is the sceptic interfaces. std guests still import WASI (clocks,
            // random, stderr for panics), so it is linked, empty.
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: Limiter::new(crate::limits::MEMORY_CAP_BYTES),
            identity,
            service,
            config,
            secrets: None,
            certificates: None,
            signer: None,
            http: None,
            matched: None,
            claimed: None,
        }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::types::Host for PluginState {}

impl log::Host for PluginState {
    fn log(&mut self, level: log::Level, message: String) {
        let (plugin, service) = (&*self.identity, &*self.service);
        match level {
            log::Level::Debug => tracing::debug!(%plugin, service, "{message}"),
            log::Level::Info => tracing::info!(%plugin, service, "{message}"),
            log::Level::Warn => tracing::warn!(%plugin, service, "{message}"),
            log::Level::Error => tracing::error!(%plugin, service, "{message}"),
        }
    }
}

impl config::Host for PluginState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    /// Keys under [`crate::HOST_CONFIG_PREFIX`] are the host's, lent to the plugin
    /// (`get` answers them) but not the operator's settings, so they are not
    /// listed: a plugin that refuses unknown keys in `init` still loads.
    fn keys(&mut self) -> Vec<String> {
        self.config
            .keys()
            .filter(|k| !k.starts_with(crate::HOST_CONFIG_PREFIX))
            .cloned()
            .collect()
    }
}

impl secrets::Host for PluginState {
    fn global_mode(&mut self) -> bool {
        self.secrets.as_ref().is_some_and(|s| s.global_mode())
    }

    fn match_challenge(&mut self) -> Option<secrets::SecretMatch> {
        let found = self.secrets.as_ref()?.match_challenge()?;
        self.matched = Some(found);
        Some(secrets::SecretMatch {
            id: found.id,
            kind: found.kind,
            sender_matches: found.sender_matches,
        })
    }

    fn claim(&mut self, id: u64) -> bool {
        match self.matched {
            // Only the secret this very request matched can be claimed.
            Some(found) if found.id == id && found.sender_matches => {
                self.claimed = Some(found);
                true
            }
            _ => false,
        }
    }
}

impl signing::Host for PluginState {
    fn issuing_key(&mut self) -> wasmtime::Result<Resource<CaKeyHandle>> {
        let signer = self.signer.clone().ok_or_else(|| {
            wasmtime::Error::msg("no CA key is configured for this service's issuer")
        })?;
        Ok(self.table.push(CaKeyHandle(signer))?)
    }

    fn random_serial(&mut self) -> wasmtime::Result<Vec<u8>> {
        let mut random = [0u8; sceptic_x509::SERIAL_RANDOM_BYTES];
        rand::rng().fill_bytes(&mut random);
        Ok(sceptic_x509::serial_from_random(random))
    }
}

impl signing::HostCaKey for PluginState {
    fn certificate(&mut self, key: Resource<CaKeyHandle>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.table.get(&key)?.0.certificate_der.clone())
    }

    fn signature_algorithm(&mut self, _key: Resource<CaKeyHandle>) -> wasmtime::Result<Vec<u8>> {
        sceptic_x509::sha256_with_rsa()
            .to_der()
            .map_err(|e| wasmtime::Error::msg(e.to_string()))
    }

    fn sign_certificate(
        &mut self,
        key: Resource<CaKeyHandle>,
        tbs_certificate: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        Ok(self.table.get(&key)?.0.sign_certificate(&tbs_certificate))
    }

    fn drop(&mut self, key: Resource<CaKeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(key)?;
        Ok(())
    }
}
