//! Command-line surface: every command takes `--data-dir` (default `./sceptic-data`,
//! or `SCEPTIC_DATA_DIR`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use sceptic_store::{PluginSpec, SecretKind, ServiceEdit};

use crate::datadir::{self, ALL_CLIENT_CIPHERS, DEFAULT_CLIENT_CIPHERS, DataDir};

#[derive(Parser)]
#[command(
    name = "sceptic",
    version,
    about = "A SCEP server (RFC 8894) whose decisions are WebAssembly components"
)]
pub struct Cli {
    /// The data directory: database, keys and secret pepper.
    #[arg(
        long,
        global = true,
        env = "SCEPTIC_DATA_DIR",
        default_value = "./sceptic-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: CA and RA keys, the `default` service and one
    /// single-use secret (printed once). Never overwrites an existing directory.
    Init {
        /// Subject of the CA certificate created here.
        #[arg(long, default_value = "CN=sceptic CA")]
        ca_subject: String,
    },
    /// Run the SCEP server.
    Serve {
        /// Address to listen on. SCEP needs no TLS client certificate and sceptic
        /// never asks for one; put a TLS proxy in front for transport privacy.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Address of the admin REST API (/api/v1), separate from SCEP so it can
        /// stay on loopback. `off` disables it.
        #[arg(long, default_value = "127.0.0.1:8081")]
        admin_listen: String,
        /// Base URL printed for each service (default: http://LISTEN).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Manage SCEP services.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Manage a service's shared secrets (challenge passwords).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// A service's trusted certificates (signers they issued may renew).
    #[command(subcommand)]
    Trust(crate::trust::TrustCommand),
    /// Requests held for manual approval: list, show, approve, reject.
    #[command(subcommand)]
    Request(crate::operate::RequestCommand),
    /// Issued certificates: list, show, revoke.
    #[command(subcommand)]
    Cert(crate::operate::CertCommand),
    /// Create a new admin API token (printed once).
    AdminToken,
    /// Show or set the system URL: the base of every service URL whose service sets
    /// no --base-url of its own (e.g. https://pki.example.com).
    SystemUrl {
        url: Option<String>,
        /// Forget the system URL.
        #[arg(long, conflicts_with = "url")]
        unset: bool,
    },
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// List services with their alias, ciphers and plugins.
    List,
    /// Create a service with its own RA key and certificate.
    Add {
        name: String,
        /// URL path segment: the service answers at /scep/ALIAS (default: the name).
        #[arg(long)]
        alias: Option<String>,
        #[command(flatten)]
        settings: ServiceSettings,
    },
    /// Change a service; unspecified settings stay as they are.
    Edit {
        name: String,
        #[command(flatten)]
        settings: ServiceSettings,
    },
    /// Every setting of a service, its URL, RA certificates and what it holds.
    Show { name: String },
    /// Serve the service again.
    Enable { name: String },
    /// Refuse every request to the service (HTTP 503, or a signed FAILURE for a
    /// PKIOperation) without issuing anything or using any secret.
    Disable { name: String },
    /// Delete a service: its secrets, RA keys and held requests go, the
    /// certificates it issued stay listable and revocable. Asks for the name
    /// to be typed back unless --yes.
    Delete {
        name: String,
        /// Delete without asking.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
struct ServiceSettings {
    /// Content ciphers accepted from clients, comma-separated, from
    /// aes128,aes192,aes256,des3,des. Default for new services: all but des
    /// (single DES is for legacy clients only; replies never use it).
    #[arg(long, value_delimiter = ',')]
    client_ciphers: Option<Vec<String>>,
    /// A policy in the chain, in order; repeat for more. `builtin:NAME` or a path
    /// to a .wasm component, then optional `,key=value` settings.
    /// Default for new services: builtin:secret-policy.
    #[arg(long = "policy")]
    policies: Vec<String>,
    /// The issuer: `builtin:local-ca-issuer` (default) or a .wasm path, with
    /// optional `,key=value` settings (e.g. `,validity-days=90`).
    #[arg(long)]
    issuer: Option<String>,
    /// Allow unauthorised requests: a request no policy authorises is held
    /// PENDING for manual approval instead of refused. Default: false. Turning
    /// it on creates the approval queue named after the service.
    #[arg(long, value_name = "true|false")]
    allow_unauthorised: Option<bool>,
    /// The approval plugin used when unauthorised requests are allowed
    /// (default: builtin:approval-policy,queue=SERVICE), same SPEC form as --policy.
    #[arg(long)]
    approval: Option<String>,
    /// Polls a held request may receive before it fails; 0 (default) for no limit.
    #[arg(long)]
    max_poll_count: Option<u32>,
    /// Seconds a client must wait between polls; 0 (default) for no minimum. An
    /// earlier poll gets FAILURE with the remaining wait, and may poll again.
    #[arg(long)]
    min_poll_interval: Option<u32>,
    /// Where clients reach this service, without /scep/ALIAS (e.g.
    /// https://pki.example.com). Default: the system URL (`sceptic system-url`);
    /// `system` goes back to it.
    #[arg(long, value_name = "URL|system")]
    base_url: Option<String>,
    #[command(flatten)]
    enforcement: EnforcementSettings,
    #[command(flatten)]
    algorithms: AlgorithmSettings,
}

/// What clients may sign with, and what replies use (RFC 8894 §3.5.2).
#[derive(Args)]
struct AlgorithmSettings {
    /// Digests a client may sign with, comma-separated, from
    /// md5,sha1,sha224,sha256,sha384,sha512; others get FAILURE badAlg. Default:
    /// all but md5 (legacy only). The signature itself is RSA PKCS#1 v1.5
    /// (rsaEncryption or shaNNNWithRSAEncryption) with one of these digests.
    #[arg(long, value_delimiter = ',')]
    client_digests: Option<Vec<String>>,
    /// Digest of the RA's signature on replies: as-request (default: SHA-384/512
    /// in kind, anything weaker answered with SHA-256), sha256, sha384 or sha512.
    #[arg(long)]
    reply_digest: Option<String>,
    /// Cipher of a SUCCESS's encrypted content: as-request (default; single DES
    /// is answered with 3DES), aes128, aes192, aes256 or des3.
    #[arg(long)]
    reply_cipher: Option<String>,
    /// Key-encryption cipher of a reply encrypted to the challengePassword
    /// (--respect-key-usage): aes256 (default), aes192, aes128 or des3.
    #[arg(long)]
    kek_cipher: Option<String>,
}

impl AlgorithmSettings {
    fn edit(&self) -> anyhow::Result<sceptic_store::AlgorithmsEdit> {
        sceptic_store::AlgorithmsEdit {
            client_digests: self.client_digests.clone(),
            reply_digest: self.reply_digest.clone(),
            reply_cipher: self.reply_cipher.clone(),
            kek_cipher: self.kek_cipher.clone(),
        }
        .validated()
        .map_err(|e| anyhow::anyhow!("--{e}"))
    }
}

/// Checks the host makes on every PKIOperation before any plugin sees it. Each is
/// off by default; a request that breaks one gets a signed FAILURE (badRequest)
/// whose text names the flag.
#[derive(Args)]
struct EnforcementSettings {
    /// Accept PKIOperation only by POST; a GET gets FAILURE. Default: false
    /// (RFC 8894 §4.1 allows both; certmonger always uses GET).
    #[arg(long, value_name = "true|false")]
    post_only: Option<bool>,
    /// The signer certificate must allow digitalSignature in its keyUsage (a
    /// certificate without a keyUsage extension allows every use). Default: false.
    #[arg(long, value_name = "true|false")]
    signer_digital_signature: Option<bool>,
    /// Respect key usage: when the signer certificate does not allow
    /// keyEncipherment, encrypt the reply to the request's challengePassword
    /// (password-based recipient info, RFC 8894 §3.1) instead of to its key.
    /// Default: false (replies are encrypted to the signer's key).
    #[arg(long, value_name = "true|false")]
    respect_key_usage: Option<bool>,
    /// A self-signed signer certificate must carry the CSR's subject and public
    /// key. Default: false.
    #[arg(long, value_name = "true|false")]
    self_signed_matches_csr: Option<bool>,
    /// A PKIOperation POST must say Content-Type: application/x-pki-message
    /// (RFC 8894 §4.3). Default: false (any content type is read as the message;
    /// micromdm scepclient sends application/octet-stream).
    #[arg(long, value_name = "true|false")]
    strict_content_types: Option<bool>,
}

impl EnforcementSettings {
    fn edit(&self) -> sceptic_store::EnforcementEdit {
        sceptic_store::EnforcementEdit {
            post_only: self.post_only,
            signer_digital_signature: self.signer_digital_signature,
            respect_key_usage: self.respect_key_usage,
            self_signed_matches_csr: self.self_signed_matches_csr,
            strict_content_types: self.strict_content_types,
        }
    }
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Generate a random secret; its value is printed once, alone on the last line.
    Generate {
        #[arg(long)]
        service: String,
        /// Reusable by the first sender that uses it, instead of single-use.
        #[arg(long)]
        long_life: bool,
    },
    /// Store a secret with a value you choose.
    Add {
        #[arg(long)]
        service: String,
        #[arg(long)]
        value: String,
        /// Make it the service's global shared secret: while one is set, only it is
        /// accepted. Replaces the previous global secret.
        #[arg(long, conflicts_with = "long_life")]
        global: bool,
        #[arg(long)]
        long_life: bool,
    },
    /// List secrets (never their values).
    List {
        #[arg(long)]
        service: String,
    },
    /// Delete a secret by id.
    Delete {
        #[arg(long)]
        service: String,
        id: i64,
    },
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init { ca_subject } => {
            let created = datadir::init(&cli.data_dir, &ca_subject)?;
            let path = &created.dir.path;
            println!("created {}", path.display());
            println!("CA certificate: {}", path.join(datadir::CA_PEM).display());
            println!("service \"default\" answers at /scep/default once `sceptic serve` runs");
            println!("admin API token (shown only now): {}", created.admin_token);
            println!("single-use secret for service \"default\" (shown only now):");
            println!("{}", created.secret);
            Ok(())
        }
        Command::Serve {
            listen,
            admin_listen,
            base_url,
        } => serve(&cli.data_dir, listen, admin_listen, base_url),
        Command::AdminToken => {
            let dir = DataDir::open(&cli.data_dir)?;
            let token = dir.store.add_admin_token(&dir.digester)?;
            println!("new admin API token (shown only now; earlier tokens stay valid):");
            println!("{token}");
            Ok(())
        }
        Command::Request(command) => {
            crate::operate::request(&DataDir::open(&cli.data_dir)?, command)
        }
        Command::Cert(command) => crate::operate::cert(&DataDir::open(&cli.data_dir)?, command),
        Command::Service(command) => service(&DataDir::open(&cli.data_dir)?, command),
        Command::SystemUrl { url, unset } => {
            crate::lifecycle::system_url(&DataDir::open(&cli.data_dir)?, url.as_deref(), unset)
        }
        Command::Secret(command) => secret(&DataDir::open(&cli.data_dir)?, command),
        Command::Trust(command) => crate::trust::run(&DataDir::open(&cli.data_dir)?, command),
    }
}

fn serve(
    data_dir: &std::path::Path,
    listen: SocketAddr,
    admin_listen: String,
    base_url: Option<String>,
) -> anyhow::Result<()> {
    let dir = DataDir::open(data_dir)?;
    let admin_listen: Option<SocketAddr> = match admin_listen.as_str() {
        "off" => None,
        text => Some(
            text.parse()
                .with_context(|| format!("--admin-listen {text:?} is not ADDR:PORT or off"))?,
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let bind = |addr: SocketAddr| async move {
            tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    anyhow::anyhow!(
                        "{addr} is already in use by another program; choose another address"
                    )
                } else {
                    anyhow::anyhow!("cannot listen on {addr}: {e}")
                }
            })
        };
        let listener = bind(listen).await?;
        let admin = match admin_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let app =
            sceptic_server::App::new(dir.store.clone(), dir.digester.clone(), dir.path.clone())?;
        let local = listener.local_addr()?;
        // Each service's own base URL wins, then --base-url, then the stored
        // system URL, then the address just bound.
        let base = match base_url {
            Some(url) => crate::lifecycle::validate_base_url(&url).context("--base-url")?,
            None => match dir.store.system_url()? {
                Some(url) => url,
                None => format!("http://{local}"),
            },
        };
        let table = app.table();
        let mut aliases: Vec<_> = table.by_alias.keys().collect();
        aliases.sort();
        for alias in aliases {
            let service = &table.by_alias[alias].service;
            println!(
                "service {:?}{}: {}/scep/{alias}",
                service.name,
                if service.enabled { "" } else { " (disabled)" },
                service.base_url.as_deref().unwrap_or(&base)
            );
        }
        for (alias, reason) in &table.broken {
            println!("service at /scep/{alias} NOT loaded: {reason}");
        }
        if let Some(admin) = admin {
            println!("admin API listening on {}", admin.local_addr()?);
            tokio::spawn(sceptic_server::serve_admin(app.clone(), admin));
        }
        println!("listening on {local}");
        sceptic_server::serve(app, listener).await
    })
}

/// `builtin:NAME,key=value,key=value` or `PATH,key=value`.
fn plugin_spec(text: &str) -> anyhow::Result<PluginSpec> {
    let mut parts = text.split(',');
    let plugin = parts.next().unwrap_or_default().trim();
    if plugin.is_empty() {
        bail!("empty plugin in {text:?}; use builtin:NAME or a path to a .wasm file");
    }
    let mut config = BTreeMap::new();
    for setting in parts {
        let (key, value) = setting
            .split_once('=')
            .with_context(|| format!("plugin setting {setting:?} in {text:?} must be key=value"))?;
        config.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(PluginSpec {
        plugin: plugin.to_owned(),
        config,
    })
}

fn ciphers(list: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for cipher in list
        .iter()
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
    {
        if !ALL_CLIENT_CIPHERS.contains(&cipher.as_str()) {
            bail!(
                "unknown cipher {cipher:?}; choose from {}",
                ALL_CLIENT_CIPHERS.join(",")
            );
        }
        if !out.contains(&cipher) {
            out.push(cipher);
        }
    }
    if out.is_empty() {
        bail!("--client-ciphers needs at least one cipher");
    }
    Ok(out)
}

fn edit_from(service: &str, settings: &ServiceSettings) -> anyhow::Result<ServiceEdit> {
    let approval = match (settings.allow_unauthorised, &settings.approval) {
        (Some(false), Some(_)) => bail!("--approval needs --allow-unauthorised true"),
        (Some(false), None) => Some(None),
        (_, Some(spec)) => Some(Some(plugin_spec(spec)?)),
        (Some(true), None) => Some(Some(datadir::default_approval(service))),
        (None, None) => None,
    };
    Ok(ServiceEdit {
        approval,
        max_poll_count: settings.max_poll_count.map(i64::from),
        min_poll_interval: settings.min_poll_interval.map(i64::from),
        client_ciphers: settings
            .client_ciphers
            .as_deref()
            .map(ciphers)
            .transpose()?,
        policies: if settings.policies.is_empty() {
            None
        } else {
            Some(
                settings
                    .policies
                    .iter()
                    .map(|p| plugin_spec(p))
                    .collect::<Result<_, _>>()?,
            )
        },
        issuer: settings.issuer.as_deref().map(plugin_spec).transpose()?,
        base_url: match settings.base_url.as_deref() {
            None => None,
            Some("system") => Some(None),
            Some(url) => Some(Some(crate::lifecycle::validate_base_url(url)?)),
        },
        enforcement: settings.enforcement.edit(),
        algorithms: settings.algorithms.edit()?,
        ..Default::default()
    })
}

/// Loads every plugin an edit names (compile, link, `init` with its settings), so a
/// typo is refused here rather than discovered by the running server.
fn check_plugins(dir: &DataDir, service: &str, edit: &ServiceEdit) -> anyhow::Result<()> {
    let policies = edit
        .policies
        .iter()
        .flatten()
        .chain(edit.approval.iter().flatten());
    let issuer = edit.issuer.as_ref();
    if edit.policies.is_none() && !matches!(edit.approval, Some(Some(_))) && issuer.is_none() {
        return Ok(());
    }
    let engine = sceptic_plugins::PluginEngine::new()?;
    for spec in policies {
        sceptic_plugins::Policy::load(&engine, &spec.plugin, spec.config.clone(), service)?;
    }
    if let Some(spec) = issuer {
        let ca = dir
            .store
            .ca_by_name(datadir::LOCAL_CA)?
            .context("the data directory has no local CA")?;
        let key = std::sync::Arc::new(sceptic_keys::RsaKey::load(&dir.path.join(&ca.key_file))?);
        let signer =
            sceptic_plugins::CaSigner::new(ca.certificate, key).map_err(anyhow::Error::msg)?;
        sceptic_plugins::Issuer::load(
            &engine,
            &spec.plugin,
            spec.config.clone(),
            service,
            std::sync::Arc::new(signer),
        )?;
    }
    Ok(())
}

pub fn describe_plugin(spec: &PluginSpec) -> String {
    let mut text = spec.plugin.clone();
    for (k, v) in &spec.config {
        text.push_str(&format!(",{k}={v}"));
    }
    text
}

fn service(dir: &DataDir, command: ServiceCommand) -> anyhow::Result<()> {
    match command {
        ServiceCommand::List => {
            for s in dir.store.services()? {
                let policies: Vec<_> = s.policies.iter().map(describe_plugin).collect();
                println!(
                    "{}\talias={}\t{}\tciphers={}\tpolicies={}\tissuer={}\tapproval={}\tmax-poll-count={}\tmin-poll-interval={}",
                    s.name,
                    s.alias,
                    if s.enabled { "enabled" } else { "disabled" },
                    s.client_ciphers.join(","),
                    policies.join(" "),
                    describe_plugin(&s.issuer),
                    s.approval
                        .as_ref()
                        .map(describe_plugin)
                        .unwrap_or_else(|| "off".into()),
                    s.max_poll_count,
                    s.min_poll_interval
                );
            }
            Ok(())
        }
        ServiceCommand::Add {
            name,
            alias,
            settings,
        } => {
            let edit = edit_from(&name, &settings)?;
            check_plugins(dir, &name, &edit)?;
            let alias = alias.unwrap_or_else(|| name.clone());
            let ciphers = edit.client_ciphers.clone().unwrap_or_else(|| {
                DEFAULT_CLIENT_CIPHERS
                    .iter()
                    .map(|c| c.to_string())
                    .collect()
            });
            dir.add_service(
                &name,
                &alias,
                ciphers,
                edit.policies
                    .clone()
                    .unwrap_or_else(datadir::default_policies),
                edit.issuer.clone().unwrap_or_else(datadir::default_issuer),
                edit.approval.clone().flatten(),
            )?;
            if edit.max_poll_count.is_some()
                || edit.min_poll_interval.is_some()
                || edit.base_url.is_some()
                || !edit.enforcement.is_empty()
                || !edit.algorithms.is_empty()
            {
                let rest = ServiceEdit {
                    max_poll_count: edit.max_poll_count,
                    min_poll_interval: edit.min_poll_interval,
                    base_url: edit.base_url.clone(),
                    enforcement: edit.enforcement,
                    algorithms: edit.algorithms.clone(),
                    ..Default::default()
                };
                dir.store.edit_service(&name, &rest)?;
            }
            let (url, _) = crate::lifecycle::service_url(dir, &dir.service(&name)?)?;
            println!("service {name:?} created: {url}");
            Ok(())
        }
        ServiceCommand::Show { name } => crate::lifecycle::show(dir, &name),
        ServiceCommand::Enable { name } => crate::lifecycle::set_enabled(dir, &name, true),
        ServiceCommand::Disable { name } => crate::lifecycle::set_enabled(dir, &name, false),
        ServiceCommand::Delete { name, yes } => crate::lifecycle::delete(dir, &name, yes),
        ServiceCommand::Edit { name, settings } => {
            let edit = edit_from(&name, &settings)?;
            if edit.client_ciphers.is_none()
                && edit.policies.is_none()
                && edit.issuer.is_none()
                && edit.approval.is_none()
                && edit.max_poll_count.is_none()
                && edit.min_poll_interval.is_none()
                && edit.base_url.is_none()
                && edit.enforcement.is_empty()
                && edit.algorithms.is_empty()
            {
                bail!("nothing to change; see `sceptic service edit --help` for the settings");
            }
            check_plugins(dir, &name, &edit)?;
            let s = dir.store.edit_service(&name, &edit)?;
            println!(
                "service {:?} updated: ciphers={} policies={} issuer={}",
                s.name,
                s.client_ciphers.join(","),
                s.policies
                    .iter()
                    .map(describe_plugin)
                    .collect::<Vec<_>>()
                    .join(" "),
                describe_plugin(&s.issuer)
            );
            Ok(())
        }
    }
}

fn secret(dir: &DataDir, command: SecretCommand) -> anyhow::Result<()> {
    match command {
        SecretCommand::Generate { service, long_life } => {
            let s = dir.service(&service)?;
            let kind = if long_life {
                SecretKind::LongLife
            } else {
                SecretKind::SingleUse
            };
            let value = sceptic_store::generate_secret_value();
            let id = dir.store.add_secret(&dir.digester, s.id, kind, &value)?;
            println!(
                "secret {id} ({}) for service {:?}, shown only now:",
                kind.as_str(),
                s.name
            );
            println!("{value}");
            Ok(())
        }
        SecretCommand::Add {
            service,
            value,
            global,
            long_life,
        } => {
            let s = dir.service(&service)?;
            let kind = match (global, long_life) {
                (true, _) => SecretKind::Global,
                (_, true) => SecretKind::LongLife,
                _ => SecretKind::SingleUse,
            };
            let id = dir.store.add_secret(&dir.digester, s.id, kind, &value)?;
            println!(
                "secret {id} ({}) added to service {:?}",
                kind.as_str(),
                s.name
            );
            Ok(())
        }
        SecretCommand::List { service } => {
            let s = dir.service(&service)?;
            println!("id\tkind\tcreated\tused\tuses\tbound-to");
            for row in dir.store.secrets(s.id)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    row.id,
                    row.kind.as_str(),
                    row.created_at,
                    row.used_at
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "-".into()),
                    row.uses,
                    row.bound_key.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        SecretCommand::Delete { service, id } => {
            let s = dir.service(&service)?;
            if !dir.store.delete_secret(s.id, id)? {
                bail!(
                    "service {:?} has no secret {id} (see `sceptic secret list --service {}`)",
                    s.name,
                    s.name
                );
            }
            println!("secret {id} deleted");
            Ok(())
        }
    }
}
