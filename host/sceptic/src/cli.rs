//! Command-line surface: every command takes `--data-dir` (default `./sceptic-data`,
//! or `SCEPTIC_DATA_DIR`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sceptic_server::decisions::DecisionError;
use sceptic_server::manage;
use sceptic_store::{Ownership, SecretKind};

use crate::datadir::{self, DataDir};

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

impl Cli {
    /// Whether this run is the server, which must survive a peer that hangs up;
    /// every other command writes to a terminal or a pipe and may stop quietly
    /// when its reader does (`sceptic audit | head`).
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve { .. })
    }
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
    Service(Box<ServiceCommand>),
    /// Manage a service's shared secrets (challenge passwords).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// A service's trusted certificates (signers they issued may renew).
    #[command(subcommand)]
    Trust(crate::trust::TrustCommand),
    /// Policy decision cases: `policy test DIR` runs a CEL policy's, `--plugin SPEC` any component's.
    #[command(subcommand)]
    Policy(crate::policy_test::PolicyCommand),
    /// Requests held for manual approval: list, show, approve, reject.
    #[command(subcommand)]
    Request(crate::operate::RequestCommand),
    /// Issued certificates: list, show, revoke.
    #[command(subcommand)]
    Cert(crate::operate::CertCommand),
    /// The audit log, newest events last: decisions, refusals, plugin faults
    /// (with the plugin and the kind of fault), approvals, revocations.
    Audit {
        /// How many events (the newest).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        service: Option<String>,
        /// Only this event, e.g. plugin-fault, refused, issued.
        #[arg(long)]
        event: Option<String>,
    },
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
    /// Create a service with its own RA key and certificate. It belongs to a new
    /// team and user named after it, with an API token for that team (printed
    /// once), unless --team-id and --user-id name existing ones.
    Add {
        name: String,
        /// URL path segment: the service answers at /scep/ALIAS (default: the name).
        #[arg(long)]
        alias: Option<String>,
        /// An existing team to own the service, instead of generated credentials
        /// (`sceptic service show` names each service's team and user).
        #[arg(long, requires = "user_id")]
        team_id: Option<i64>,
        /// A user of --team-id the service is made for.
        #[arg(long, requires = "team_id")]
        user_id: Option<i64>,
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
    /// The service's plugins in chain order, each with its name, version, WIT
    /// version and SHA-256 of the component.
    Plugins { name: String },
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
    #[command(flatten)]
    ra: RaSettingsArgs,
    /// "Additional certificate information": free text (one line, at most 1024
    /// characters) stored with every certificate the service issues and lent to
    /// its issuer plugin (config key `sceptic.certificate-info`). Default: none;
    /// an empty value clears it.
    #[arg(long, value_name = "TEXT")]
    certificate_info: Option<String>,
}

impl ServiceSettings {
    /// The flags as the shared settings (`sceptic_server::manage` checks them).
    fn settings(&self) -> anyhow::Result<manage::Settings> {
        Ok(manage::Settings {
            client_ciphers: self.client_ciphers.clone(),
            policies: (!self.policies.is_empty()).then(|| self.policies.clone()),
            issuer: self.issuer.clone(),
            allow_unauthorised: self.allow_unauthorised,
            approval: self.approval.clone(),
            max_poll_count: self.max_poll_count,
            min_poll_interval: self.min_poll_interval,
            base_url: self.base_url.clone(),
            enabled: None,
            enforcement: self.enforcement.edit(),
            algorithms: self.algorithms.edit()?,
            ra: self.ra.edit()?,
            certificate_info: self.certificate_info.clone(),
        })
    }
}

/// The service's RA certificate (RFC 8894 §2.1: it signs replies and decrypts
/// requests). Key size and subject apply to the next RA made (at `service add`,
/// or the next rollover).
#[derive(Args)]
struct RaSettingsArgs {
    /// RSA size of the RA key: 2048 (default), 3072 or 4096.
    #[arg(long, value_name = "BITS")]
    ra_key_bits: Option<u32>,
    /// Subject (RFC 4514) of the RA certificate. Default: CN=sceptic RA NAME;
    /// `default` goes back to it.
    #[arg(long, value_name = "DN|default")]
    ra_subject: Option<String>,
    /// Make a successor RA (offered by GetNextCACert) when this share of the
    /// current RA certificate's life is left, 0 to never. Default: 20.
    #[arg(long, value_name = "PERCENT")]
    ra_renew_at_percent: Option<u8>,
    /// Who issues the RA certificate: local (default: the data directory's CA).
    #[arg(long, value_name = "local")]
    ra_issuer: Option<String>,
    /// Turn OFF the check that the certificate issuer and the RA issuer chain to
    /// the same root. Default: false, i.e. the check is ON and a service whose
    /// issuer's CA does not chain to the RA's root is refused. Set true only for
    /// an external CA (e.g. a CFSSL issuer adapter) whose clients get the RA from
    /// GetCACert anyway.
    #[arg(long, value_name = "true|false")]
    skip_issuer_check: Option<bool>,
}

impl RaSettingsArgs {
    fn edit(&self) -> anyhow::Result<sceptic_store::RaSettingsEdit> {
        sceptic_store::RaSettingsEdit {
            key_bits: self.ra_key_bits,
            subject: self
                .ra_subject
                .as_ref()
                .map(|s| (s != "default").then(|| s.clone())),
            renew_at_percent: self.ra_renew_at_percent,
            issuer: self.ra_issuer.clone(),
            skip_issuer_check: self.skip_issuer_check,
        }
        .validated()
        .map_err(|e| anyhow::anyhow!("--{e}"))
    }
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
        Command::Service(command) => service(&DataDir::open(&cli.data_dir)?, *command),
        Command::SystemUrl { url, unset } => {
            crate::lifecycle::system_url(&DataDir::open(&cli.data_dir)?, url.as_deref(), unset)
        }
        Command::Secret(command) => secret(&DataDir::open(&cli.data_dir)?, command),
        Command::Trust(command) => crate::trust::run(&DataDir::open(&cli.data_dir)?, command),
        Command::Policy(command) => crate::policy_test::run(command),
        Command::Audit {
            limit,
            service,
            event,
        } => crate::operate::audit(
            &DataDir::open(&cli.data_dir)?,
            limit,
            service.as_deref(),
            event.as_deref(),
        ),
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

/// A management error as the CLI shows it: a refused value names its flag.
pub fn cli_error(e: DecisionError) -> anyhow::Error {
    match e {
        DecisionError::Invalid { field, message } => {
            let flag = match field {
                "name" => "NAME".to_owned(),
                "policies" => "--policy".to_owned(),
                "pem" => "the certificate file".to_owned(),
                "settings" => return anyhow::anyhow!("{message}"),
                other => format!("--{}", other.replace('_', "-")),
            };
            anyhow::anyhow!("{flag}: {message}")
        }
        other => anyhow::anyhow!("{other}"),
    }
}

pub use sceptic_server::manage::describe_plugin;

fn service(dir: &DataDir, command: ServiceCommand) -> anyhow::Result<()> {
    let m = dir.manager();
    match command {
        ServiceCommand::List => {
            for s in manage::list_services(&m).map_err(cli_error)? {
                let policies: Vec<_> = s.policies.iter().map(describe_plugin).collect();
                println!(
                    "{}\talias={}\t{}\tciphers={}\tpolicies={}\tissuer={}\tapproval={}\tmax-poll-count={}\tmin-poll-interval={}\tteam={}",
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
                    s.min_poll_interval,
                    s.team_id.map_or_else(|| "-".into(), |t| t.to_string())
                );
            }
            Ok(())
        }
        ServiceCommand::Add {
            name,
            alias,
            team_id,
            user_id,
            settings,
        } => {
            let ownership = match (team_id, user_id) {
                (Some(team_id), Some(user_id)) => Ownership::Existing { team_id, user_id },
                _ => Ownership::Generate { token: true },
            };
            let create = manage::CreateService {
                name,
                alias,
                settings: settings.settings()?,
                ownership,
            };
            let (s, owner) = manage::create_service(&m, &create).map_err(cli_error)?;
            let (url, _) = manage::service_url(&dir.store, &s).map_err(cli_error)?;
            println!("service {:?} created: {url}", s.name);
            println!(
                "team {} ({:?}), user {} ({:?})",
                owner.team.id, owner.team.name, owner.user.id, owner.user.name
            );
            if let Some(token) = owner.token {
                println!(
                    "API token for team {} (shown only now; it manages this team's services' \
                     secrets, trusted certificates and held requests):",
                    owner.team.id
                );
                println!("{token}");
            }
            Ok(())
        }
        ServiceCommand::Show { name } => crate::lifecycle::show(dir, &name),
        ServiceCommand::Plugins { name } => crate::lifecycle::plugins(dir, &name),
        ServiceCommand::Enable { name } => crate::lifecycle::set_enabled(dir, &name, true),
        ServiceCommand::Disable { name } => crate::lifecycle::set_enabled(dir, &name, false),
        ServiceCommand::Delete { name, yes } => crate::lifecycle::delete(dir, &name, yes),
        ServiceCommand::Edit { name, settings } => {
            let s =
                manage::edit_service(&m, &name, &settings.settings()?).map_err(|e| match e {
                    DecisionError::Invalid {
                        field: "settings", ..
                    } => anyhow::anyhow!(
                        "nothing to change; see `sceptic service edit --help` for the settings"
                    ),
                    other => cli_error(other),
                })?;
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
    let m = dir.manager();
    match command {
        SecretCommand::Generate { service, long_life } => {
            let kind = if long_life {
                SecretKind::LongLife
            } else {
                SecretKind::SingleUse
            };
            let s = manage::add_secret(&m, &service, kind, None).map_err(cli_error)?;
            println!(
                "secret {} ({}) for service {:?}, shown only now:",
                s.id,
                kind.as_str(),
                s.service
            );
            println!("{}", s.value.unwrap_or_default());
            Ok(())
        }
        SecretCommand::Add {
            service,
            value,
            global,
            long_life,
        } => {
            let kind = match (global, long_life) {
                (true, _) => SecretKind::Global,
                (_, true) => SecretKind::LongLife,
                _ => SecretKind::SingleUse,
            };
            let s = manage::add_secret(&m, &service, kind, Some(&value)).map_err(cli_error)?;
            println!(
                "secret {} ({}) added to service {:?}",
                s.id,
                kind.as_str(),
                s.service
            );
            Ok(())
        }
        SecretCommand::List { service } => {
            let (_, rows) = manage::list_secrets(&m, &service).map_err(cli_error)?;
            println!("id\tkind\tcreated\tused\tuses\tbound-to");
            for row in rows {
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
            manage::delete_secret(&m, &service, id).map_err(cli_error)?;
            println!("secret {id} deleted");
            Ok(())
        }
    }
}
