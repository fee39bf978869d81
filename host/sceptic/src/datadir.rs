//! The data directory: the database, the secret pepper and the key files.
//!
//! ```text
//! sceptic-data/
//!   sceptic.db        services, secrets (digests), certificates, audit
//!   secret-pepper     0600, keys the secret digests; without it the DB alone is useless
//!   ca.pem            the CA certificate, for clients and `openssl verify`
//!   keys/             0700; ca.key and one ra-*.key per RA certificate, each 0600
//! ```

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use sceptic_keys::RsaKey;
use sceptic_store::{NewService, PEPPER_LEN, PluginSpec, SecretDigester, Store};

use crate::pki;

pub const DB_FILE: &str = "sceptic.db";
pub const PEPPER_FILE: &str = "secret-pepper";
pub const KEYS_DIR: &str = "keys";
pub const CA_PEM: &str = "ca.pem";
pub const LOCAL_CA: &str = "local";

/// Content ciphers a new service accepts: everything but single DES, which
/// RFC 8894 §2.9 calls too weak ("MUST NOT" for new deployments).
pub const DEFAULT_CLIENT_CIPHERS: &[&str] = &["aes128", "aes192", "aes256", "des3"];
pub const ALL_CLIENT_CIPHERS: &[&str] = &["aes128", "aes192", "aes256", "des3", "des"];

pub struct DataDir {
    pub path: PathBuf,
    pub store: Arc<Store>,
    pub digester: SecretDigester,
}

impl DataDir {
    /// Opens an existing data directory.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let db = path.join(DB_FILE);
        if !db.exists() {
            bail!(
                "no sceptic data directory at {} (no {DB_FILE} there); create one with `sceptic init --data-dir {}`",
                path.display(),
                path.display()
            );
        }
        let pepper = fs::read(path.join(PEPPER_FILE))
            .with_context(|| format!("reading {}", path.join(PEPPER_FILE).display()))?;
        let pepper: [u8; PEPPER_LEN] = pepper.try_into().map_err(|_| {
            anyhow::anyhow!(
                "{} is damaged (it must hold {PEPPER_LEN} bytes)",
                path.join(PEPPER_FILE).display()
            )
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            store: Arc::new(Store::open(&db)?),
            digester: SecretDigester::new(pepper),
        })
    }

    pub fn service(&self, name: &str) -> anyhow::Result<sceptic_store::Service> {
        Ok(self.store.service(name)?)
    }

    /// Creates a service with its own RA key and certificate, issued by the local CA.
    pub fn add_service(
        &self,
        name: &str,
        alias: &str,
        client_ciphers: Vec<String>,
        policies: Vec<PluginSpec>,
        issuer: PluginSpec,
        approval: Option<PluginSpec>,
    ) -> anyhow::Result<i64> {
        validate_alias(alias)?;
        let ca = self
            .store
            .ca_by_name(LOCAL_CA)?
            .context("the data directory has no local CA")?;
        let ca_key = RsaKey::load(&self.path.join(&ca.key_file))?;
        let service_id = self.store.add_service(&NewService {
            name: name.to_owned(),
            alias: alias.to_owned(),
            ca_id: ca.id,
            client_ciphers,
            policies,
            issuer,
            approval,
        })?;
        let ra_key = RsaKey::generate(2048)?;
        let key_file = format!("{KEYS_DIR}/ra-{service_id}-1.key");
        ra_key.save_new(&self.path.join(&key_file))?;
        let (certificate, not_after) = pki::ra_certificate(
            &ca_key,
            &ca.certificate,
            &ra_key,
            &format!("CN=sceptic RA {name}"),
        )?;
        self.store
            .add_ra_key(service_id, &certificate, &key_file, not_after)?;
        Ok(service_id)
    }
}

/// An alias is a single path segment: it makes the URL `/scep/{alias}`.
pub fn validate_alias(alias: &str) -> anyhow::Result<()> {
    let ok = !alias.is_empty()
        && alias.len() <= 64
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alias != "."
        && alias != "..";
    if !ok {
        bail!(
            "alias {alias:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.' (it becomes the URL path /scep/ALIAS)"
        );
    }
    Ok(())
}

/// The plugins a new service starts with.
pub fn default_policies() -> Vec<PluginSpec> {
    vec![PluginSpec::new("builtin:secret-policy")]
}

pub fn default_issuer() -> PluginSpec {
    PluginSpec::new("builtin:local-ca-issuer")
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The approval plugin a service gets when it allows unauthorised requests: its
/// queue is named after the service ("auto create workflow").
pub fn default_approval(service: &str) -> PluginSpec {
    let mut spec = PluginSpec::new("builtin:approval-policy");
    spec.config.insert("queue".into(), service.to_owned());
    spec
}

/// What `init` hands back to be printed once.
pub struct Created {
    pub dir: DataDir,
    pub secret: String,
    pub admin_token: String,
}

/// `sceptic init`: a new data directory with a CA, the `default` service and its RA,
/// one single-use secret and one admin API token.
pub fn init(path: &Path, ca_subject: &str) -> anyhow::Result<Created> {
    if path.exists()
        && fs::read_dir(path)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; sceptic init never overwrites a data directory \
             (choose another --data-dir, or remove it if it is really unused)",
            path.display()
        );
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path.join(KEYS_DIR))
        .with_context(|| format!("creating {}", path.display()))?;
    write_private(&path.join(PEPPER_FILE), &SecretDigester::random_pepper())?;

    let ca_key = RsaKey::generate(2048)?;
    let ca_key_file = format!("{KEYS_DIR}/ca.key");
    ca_key.save_new(&path.join(&ca_key_file))?;
    let ca_certificate = pki::self_signed_ca(&ca_key, ca_subject)?;
    fs::write(path.join(CA_PEM), pki::certificate_pem(&ca_certificate))?;

    let store = Store::open(&path.join(DB_FILE))?;
    store.add_ca(LOCAL_CA, &ca_certificate, &ca_key_file)?;
    drop(store);
    let dir = DataDir::open(path)?;
    let service_id = dir.add_service(
        "default",
        "default",
        DEFAULT_CLIENT_CIPHERS
            .iter()
            .map(|c| c.to_string())
            .collect(),
        default_policies(),
        default_issuer(),
        None,
    )?;
    let secret = sceptic_store::generate_secret_value();
    dir.store.add_secret(
        &dir.digester,
        service_id,
        sceptic_store::SecretKind::SingleUse,
        &secret,
    )?;
    let admin_token = dir.store.add_admin_token(&dir.digester)?;
    Ok(Created {
        dir,
        secret,
        admin_token,
    })
}
