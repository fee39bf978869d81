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
use sceptic_server::manage::{self, Manager};
use sceptic_store::{Ownership, PEPPER_LEN, SecretDigester, Store};

use sceptic_server::pki;

pub const DB_FILE: &str = "sceptic.db";
pub const PEPPER_FILE: &str = "secret-pepper";
pub const KEYS_DIR: &str = "keys";
pub const CA_PEM: &str = "ca.pem";
pub use sceptic_server::manage::LOCAL_CA;

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

    /// The shared service management (`sceptic_server::manage`), with full access,
    /// audited as the user running the CLI.
    pub fn manager(&self) -> Manager<'_> {
        Manager::new(
            &self.store,
            &self.digester,
            &self.path,
            crate::operate::actor(),
        )
    }
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
    // The default service gets its own team and user like any other; its team's
    // token is not made here (the full admin token below can do everything).
    let m = dir.manager();
    let create = manage::CreateService {
        name: "default".into(),
        alias: None,
        settings: manage::Settings::default(),
        ownership: Ownership::Generate { token: false },
    };
    manage::create_service(&m, &create).map_err(crate::cli::cli_error)?;
    let secret = manage::add_secret(&m, "default", sceptic_store::SecretKind::SingleUse, None)
        .map_err(crate::cli::cli_error)?
        .value
        .unwrap_or_default();
    drop(m);
    let admin_token = dir.store.add_admin_token(&dir.digester)?;
    Ok(Created {
        dir,
        secret,
        admin_token,
    })
}
