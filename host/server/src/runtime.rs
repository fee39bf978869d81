//! A service ready to serve: its row, keys and loaded plugins, and the table of all
//! of them that a running server swaps when the configuration changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sceptic_keys::RsaKey;
use sceptic_plugins::{CaSigner, Issuer, PluginEngine, Policy, PolicyChain};
use sceptic_proto::{ContentCipher, DigestAlg, SignatureDigest};
use sceptic_store::{Service, Store};

/// One RA certificate with its key.
pub struct RaCredential {
    pub certificate_der: Vec<u8>,
    pub key: Arc<RsaKey>,
    pub not_before: i64,
    pub not_after: i64,
}

pub struct ServiceRuntime {
    pub service: Service,
    pub name: Arc<str>,
    /// The current RA first (it signs every reply and is the one GetCACert
    /// offers), then its successors, oldest first. A request may be encrypted to
    /// any of them (RFC 8894 §5.1 figure 9: the envelope names the key).
    pub ra: Vec<RaCredential>,
    /// The GetNextCACert answer (RFC 8894 §4.7.1) while a successor RA exists.
    pub next_ca_body: Option<Vec<u8>>,
    pub chain: PolicyChain,
    /// Consulted for requests the chain did not authorise, when the service
    /// allows unauthorised requests (manual approval).
    pub approval: Option<Policy>,
    pub issuer: Issuer,
    /// The issuing CA's certificate and key (for the CRL).
    pub ca_certificate: Vec<u8>,
    pub ca_key: Arc<RsaKey>,
    /// The GetCACert answer, built once: the issuer's CA certificates and the RA's.
    pub ca_certs: Vec<Vec<u8>>,
    pub ca_certs_body: Vec<u8>,
    pub caps: String,
}

impl ServiceRuntime {
    /// Whether clients may encrypt with `cipher` (names as in `--client-ciphers`).
    pub fn allows_cipher(&self, cipher: ContentCipher) -> bool {
        self.service
            .client_ciphers
            .iter()
            .any(|c| c == cipher.name())
    }

    /// Whether clients may sign with `digest` (names as in `--client-digests`).
    pub fn allows_digest(&self, digest: DigestAlg) -> bool {
        self.service
            .algorithms
            .client_digests
            .iter()
            .any(|d| d == digest.name())
    }

    /// The cipher of a SUCCESS answering a request encrypted with `requested`:
    /// the service's reply cipher, or the request's own, but never single DES
    /// (RFC 8894 §2.9; 3DES instead).
    pub fn reply_cipher(&self, requested: ContentCipher) -> ContentCipher {
        let chosen = cipher_named(&self.service.algorithms.reply_cipher).unwrap_or(requested);
        match chosen {
            ContentCipher::Des => ContentCipher::Des3,
            other => other,
        }
    }

    /// The digest of the RA's signature on a reply to a request signed with
    /// `requested`: the service's reply digest, or in kind where we sign with it
    /// (SHA-384/512); MD5, SHA-1 and SHA-224 requests get SHA-256 (RFC 8894
    /// §3.5.2 lets the CA choose).
    pub fn reply_digest(&self, requested: DigestAlg) -> SignatureDigest {
        match self.service.algorithms.reply_digest.as_str() {
            "sha256" => SignatureDigest::Sha256,
            "sha384" => SignatureDigest::Sha384,
            "sha512" => SignatureDigest::Sha512,
            _ => match requested {
                DigestAlg::Sha384 => SignatureDigest::Sha384,
                DigestAlg::Sha512 => SignatureDigest::Sha512,
                _ => SignatureDigest::Sha256,
            },
        }
    }

    /// The key-encryption cipher of a password-encrypted reply (RFC 3211).
    pub fn kek_cipher(&self) -> ContentCipher {
        match cipher_named(&self.service.algorithms.kek_cipher) {
            Some(ContentCipher::Des) | None => ContentCipher::Aes256,
            Some(other) => other,
        }
    }
}

/// A content cipher by its CLI name; `None` for `as-request` and the unknown.
fn cipher_named(name: &str) -> Option<ContentCipher> {
    ContentCipher::ALL.into_iter().find(|c| c.name() == name)
}

/// GetCACaps (RFC 8894 §3.5.2): only what this service really enforces.
pub fn capabilities(service: &Service, has_next_ca: bool) -> String {
    let allows = |name: &str| service.client_ciphers.iter().any(|c| c == name);
    let aes = allows("aes128") || allows("aes192") || allows("aes256");
    let mut caps = Vec::new();
    if aes {
        caps.push("AES");
    }
    if allows("des3") {
        caps.push("DES3");
    }
    if has_next_ca {
        caps.push("GetNextCACert");
    }
    caps.push("POSTPKIOperation");
    // §3.5.2 "Renewal": only where a policy authorises renewal by the signer's
    // certificate; elsewhere a RenewalReq needs a secret like any request.
    if renews(service) {
        caps.push("Renewal");
    }
    // SCEPStandard promises AES, POSTPKIOperation and SHA-256 together (§3.5.2).
    if aes
        && service
            .algorithms
            .client_digests
            .iter()
            .any(|d| d == "sha256")
    {
        caps.push("SCEPStandard");
    }
    // Digests clients may sign with. §3.5.2 has keywords for these three only:
    // SHA-224 and SHA-384 are accepted when listed but not advertised, and MD5
    // (a legacy allowance, not an offer) never is.
    for (name, cap) in [
        ("sha1", "SHA-1"),
        ("sha256", "SHA-256"),
        ("sha512", "SHA-512"),
    ] {
        if service.algorithms.client_digests.iter().any(|d| d == name) {
            caps.push(cap);
        }
    }
    let mut body = caps.join("\n");
    body.push('\n');
    body
}

/// Whether the chain holds the built-in trusted-cert-policy with renewal on.
fn renews(service: &Service) -> bool {
    service.policies.iter().any(|p| {
        p.plugin == "builtin:trusted-cert-policy"
            && p.config.get("allow-renewal").map(String::as_str) != Some("false")
    })
}

/// Loads every key a service needs and its plugins (compile, link, `init`).
pub fn load_service(
    engine: &PluginEngine,
    store: &Arc<Store>,
    data_dir: &Path,
    service: Service,
    ca_keys: &mut HashMap<i64, Arc<RsaKey>>,
) -> anyhow::Result<ServiceRuntime> {
    let ca = store.ca(service.ca_id)?;
    let ca_key = match ca_keys.get(&ca.id) {
        Some(key) => key.clone(),
        None => {
            let key = Arc::new(RsaKey::load(&key_path(data_dir, &ca.key_file))?);
            ca_keys.insert(ca.id, key.clone());
            key
        }
    };
    let mut rows = Vec::new();
    for row in store.ra_keys(service.id)? {
        let described = sceptic_proto::describe_certificate(&row.certificate).map_err(|r| {
            anyhow::anyhow!("RA certificate {} is unreadable: {}", row.id, r.reason)
        })?;
        rows.push(RaCredential {
            certificate_der: row.certificate,
            key: Arc::new(RsaKey::load(&key_path(data_dir, &row.key_file))?),
            not_before: described.not_before,
            not_after: described.not_after,
        });
    }
    anyhow::ensure!(
        !rows.is_empty(),
        "service {:?} has no RA certificate; recreate it with `sceptic service add`",
        service.name
    );
    let ra = arrange_ra(rows, sceptic_store::now());
    let policies = service
        .policies
        .iter()
        .map(|spec| Policy::load(engine, &spec.plugin, spec.config.clone(), &service.name))
        .collect::<Result<Vec<_>, _>>()?;
    let approval = service
        .approval
        .as_ref()
        .map(|spec| Policy::load(engine, &spec.plugin, spec.config.clone(), &service.name))
        .transpose()?;
    let signer =
        CaSigner::new(ca.certificate.clone(), ca_key.clone()).map_err(anyhow::Error::msg)?;
    let mut issuer_config = service.issuer.config.clone();
    if !service.certificate_info.is_empty() {
        issuer_config.insert(
            sceptic_plugins::CERTIFICATE_INFO_KEY.to_owned(),
            service.certificate_info.clone(),
        );
    }
    let issuer = Issuer::load(
        engine,
        &service.issuer.plugin,
        issuer_config,
        &service.name,
        Arc::new(signer),
    )?
    .with_certificates(Arc::new(crate::broker::StoreCertificates {
        store: store.clone(),
        service_id: service.id,
        ca_id: service.ca_id,
        ca_certificate: ca.certificate.clone(),
    }));
    let name: Arc<str> = service.name.as_str().into();
    let mut ca_certs = issuer.ca_certificates(name.clone()).map_err(|fault| match fault {
        // ca-certificates has no error in the WIT: a plugin that cannot reach its
        // CA answers with no certificate and logs why.
        sceptic_plugins::Fault::BadAnswer(_) => anyhow::anyhow!(
            "issuer {} named no CA certificate; its log lines in the server log say why (a CA it cannot reach, for one)",
            issuer.identity()
        ),
        fault => anyhow::anyhow!("issuer {} {fault} when asked for its CA certificates", issuer.identity()),
    })?;
    if !service.ra.skip_issuer_check {
        crate::ra::check_issuer_chain(&service.name, &ra[0].certificate_der, &ca_certs)
            .map_err(anyhow::Error::msg)?;
    }
    let next_ca_body = match ra.last().filter(|_| ra.len() > 1) {
        Some(successor) => {
            let mut next = ca_certs.clone();
            next.push(successor.certificate_der.clone());
            Some(sceptic_proto::build_next_ca_cert(
                &next,
                &ra[0].certificate_der,
                &ra[0].key,
                SignatureDigest::Sha256,
            )?)
        }
        None => None,
    };
    ca_certs.push(ra[0].certificate_der.clone());
    let ca_certs_body = sceptic_proto::certs_only(&ca_certs);
    Ok(ServiceRuntime {
        caps: capabilities(&service, next_ca_body.is_some()),
        name,
        ra,
        next_ca_body,
        chain: PolicyChain::new(policies),
        approval,
        issuer,
        ca_certificate: ca.certificate,
        ca_key,
        ca_certs,
        ca_certs_body,
        service,
    })
}

/// Orders a service's RA credentials (any order) for [`ServiceRuntime::ra`]: the
/// current one is the oldest still valid, so clients keep the RA they know until
/// it expires; newer ones are its successors. With none valid the newest serves,
/// and clients see why in their certificate checks.
pub fn arrange_ra(mut rows: Vec<RaCredential>, now: i64) -> Vec<RaCredential> {
    rows.sort_by_key(|r| (r.not_before, r.not_after));
    let current = rows
        .iter()
        .position(|r| r.not_after > now)
        .unwrap_or(rows.len().saturating_sub(1));
    if rows.iter().all(|r| r.not_after <= now) {
        tracing::error!(
            "every RA certificate has expired; clients will refuse replies until the RA is renewed"
        );
    }
    // RAs older than the current one have expired: they decrypt nothing more.
    let successors = rows.split_off(current + 1);
    let mut ordered = rows.split_off(current);
    ordered.extend(successors);
    ordered
}

fn key_path(data_dir: &Path, file: &str) -> PathBuf {
    data_dir.join(file)
}

/// The first wait before a service that did not load is tried again. What stops
/// a service loading is most often outside sceptic: an issuer's CA restarting or
/// not yet up when sceptic starts, which is usually back within seconds.
pub const LOAD_RETRY_FIRST: Duration = Duration::from_secs(2);

/// The longest wait between tries. Each failed try doubles the wait up to this,
/// which bounds what a long outage costs the CA and the log (one try and one
/// error line a minute) while recovery is still noticed within a minute.
pub const LOAD_RETRY_MAX: Duration = Duration::from_secs(60);

/// When the services that did not load are tried again.
#[derive(Clone, Copy, Debug)]
pub struct LoadRetry {
    pub at: Instant,
    pub wait: Duration,
}

/// The wait before the next try of services that did not load, given the last
/// one while nothing changed since (`None` after an edit: start again).
pub fn next_retry_wait(last: Option<LoadRetry>) -> Duration {
    last.map_or(LOAD_RETRY_FIRST, |r| (r.wait * 2).min(LOAD_RETRY_MAX))
}

/// What the server serves now. Swapped whole: a request holds the `Arc` it started
/// with, so in-flight requests finish on the set they began with.
#[derive(Default)]
pub struct ServiceTable {
    pub by_alias: HashMap<String, Arc<ServiceRuntime>>,
    /// Services that could not be loaded, with the reason, answered 503.
    pub broken: HashMap<String, String>,
    /// Services still serving their previous set because their newer
    /// configuration did not load, with the reason: they answer, but not as
    /// configured, so /health and a SIGHUP say so.
    pub stale: HashMap<String, String>,
    /// The store generation this table was built from.
    pub generation: i64,
    /// Set while `broken` is not empty: a service that never loaded has no old
    /// set to serve, so the server keeps trying it (with backoff) rather than
    /// leaving it down until someone edits it.
    pub retry: Option<LoadRetry>,
}

impl ServiceTable {
    /// Builds the table; with `reuse_unchanged`, runtimes whose service did not
    /// change are kept as they are (SIGHUP rebuilds them all).
    pub fn build(
        engine: &PluginEngine,
        store: &Arc<Store>,
        data_dir: &Path,
        previous: Option<&ServiceTable>,
        reuse_unchanged: bool,
    ) -> anyhow::Result<Self> {
        let generation = store.services_generation()?;
        let mut table = ServiceTable {
            generation,
            ..Default::default()
        };
        let mut ca_keys = HashMap::new();
        for service in store.services()? {
            let alias = service.alias.clone();
            let reusable = previous.and_then(|p| p.by_alias.get(&alias)).filter(|rt| {
                reuse_unchanged
                    && rt.service.id == service.id
                    && rt.service.generation == service.generation
            });
            if let Some(runtime) = reusable {
                table.by_alias.insert(alias, runtime.clone());
                continue;
            }
            let name = service.name.clone();
            match load_service(engine, store, data_dir, service, &mut ca_keys) {
                Ok(runtime) => {
                    if let Some(reason) = previous.and_then(|p| p.broken.get(&alias)) {
                        tracing::info!(service = %name, "service loaded; it had not loaded before because: {reason}");
                    }
                    table.by_alias.insert(alias, Arc::new(runtime));
                }
                Err(error) => {
                    // A configuration that does not load never replaces one that did.
                    let old = previous.and_then(|p| p.by_alias.get(&alias)).cloned();
                    match old {
                        Some(runtime) => {
                            tracing::error!(service = %name, "new configuration not loaded, the previous one keeps serving: {error:#}");
                            table.stale.insert(alias.clone(), format!("{error:#}"));
                            table.by_alias.insert(alias, runtime);
                        }
                        None => {
                            tracing::error!(service = %name, "service not loaded (tried again by itself, and on every edit): {error:#}");
                            table.broken.insert(alias, format!("{error:#}"));
                        }
                    }
                }
            }
        }
        if !table.broken.is_empty() {
            let wait = next_retry_wait(
                previous
                    .filter(|p| p.generation == generation)
                    .and_then(|p| p.retry),
            );
            table.retry = Some(LoadRetry {
                at: Instant::now() + wait,
                wait,
            });
        }
        Ok(table)
    }

    /// Whether a service that did not load is due to be tried again.
    pub fn retry_due(&self, now: Instant) -> bool {
        self.retry.is_some_and(|r| now >= r.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_retries_back_off_to_a_minute_and_restart_after_an_edit() {
        let mut last = None;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let wait = next_retry_wait(last);
            waits.push(wait.as_secs());
            last = Some(LoadRetry {
                at: Instant::now() + wait,
                wait,
            });
        }
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(next_retry_wait(None), LOAD_RETRY_FIRST);
    }
}
