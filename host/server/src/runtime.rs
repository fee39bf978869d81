//! A service ready to serve: its row, keys and loaded plugins, and the table of all
//! of them that a running server swaps when the configuration changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sceptic_keys::RsaKey;
use sceptic_plugins::{CaSigner, Issuer, PluginEngine, Policy, PolicyChain};
use sceptic_proto::ContentCipher;
use sceptic_store::{Service, Store};

/// One RA certificate with its key. Newest first in [`ServiceRuntime::ra`].
pub struct RaCredential {
    pub certificate_der: Vec<u8>,
    pub key: Arc<RsaKey>,
}

pub struct ServiceRuntime {
    pub service: Service,
    pub name: Arc<str>,
    pub ra: Vec<RaCredential>,
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
}

/// GetCACaps (RFC 8894 §3.5.2): only what this service really enforces.
pub fn capabilities(service: &Service) -> String {
    let allows = |name: &str| service.client_ciphers.iter().any(|c| c == name);
    let aes = allows("aes128") || allows("aes192") || allows("aes256");
    let mut caps = Vec::new();
    if aes {
        caps.push("AES");
    }
    if allows("des3") {
        caps.push("DES3");
    }
    caps.push("POSTPKIOperation");
    // SCEPStandard promises AES, POSTPKIOperation and SHA-256 together (§3.5.2).
    if aes {
        caps.push("SCEPStandard");
    }
    caps.extend(["SHA-1", "SHA-256", "SHA-512"]);
    let mut body = caps.join("\n");
    body.push('\n');
    body
}

/// Loads every key a service needs and its plugins (compile, link, `init`).
pub fn load_service(
    engine: &PluginEngine,
    store: &Store,
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
    let mut ra = Vec::new();
    for row in store.ra_keys(service.id)? {
        ra.push(RaCredential {
            certificate_der: row.certificate,
            key: Arc::new(RsaKey::load(&key_path(data_dir, &row.key_file))?),
        });
    }
    anyhow::ensure!(
        !ra.is_empty(),
        "service {:?} has no RA certificate; recreate it with `sceptic service add`",
        service.name
    );
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
    let issuer = Issuer::load(
        engine,
        &service.issuer.plugin,
        service.issuer.config.clone(),
        &service.name,
        Arc::new(signer),
    )?;
    let name: Arc<str> = service.name.as_str().into();
    let mut ca_certs = issuer.ca_certificates(name.clone())?;
    ca_certs.push(ra[0].certificate_der.clone());
    let ca_certs_body = sceptic_proto::certs_only(&ca_certs);
    Ok(ServiceRuntime {
        caps: capabilities(&service),
        name,
        ra,
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

fn key_path(data_dir: &Path, file: &str) -> PathBuf {
    data_dir.join(file)
}

/// What the server serves now. Swapped whole: a request holds the `Arc` it started
/// with, so in-flight requests finish on the set they began with.
#[derive(Default)]
pub struct ServiceTable {
    pub by_alias: HashMap<String, Arc<ServiceRuntime>>,
    /// Services that could not be loaded, with the reason, answered 503.
    pub broken: HashMap<String, String>,
    /// The store generation this table was built from.
    pub generation: i64,
}

impl ServiceTable {
    /// Builds the table, reusing runtimes whose service did not change.
    pub fn build(
        engine: &PluginEngine,
        store: &Store,
        data_dir: &Path,
        previous: Option<&ServiceTable>,
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
                rt.service.id == service.id && rt.service.generation == service.generation
            });
            if let Some(runtime) = reusable {
                table.by_alias.insert(alias, runtime.clone());
                continue;
            }
            let name = service.name.clone();
            match load_service(engine, store, data_dir, service, &mut ca_keys) {
                Ok(runtime) => {
                    table.by_alias.insert(alias, Arc::new(runtime));
                }
                Err(error) => {
                    // A configuration that does not load never replaces one that did.
                    let old = previous.and_then(|p| p.by_alias.get(&alias)).cloned();
                    match old {
                        Some(runtime) => {
                            tracing::error!(service = %name, "new configuration not loaded, the previous one keeps serving: {error:#}");
                            table.by_alias.insert(alias, runtime);
                        }
                        None => {
                            tracing::error!(service = %name, "service not loaded: {error:#}");
                            table.broken.insert(alias, format!("{error:#}"));
                        }
                    }
                }
            }
        }
        Ok(table)
    }
}
