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
            let (dir, secret) = datadir::init(&cli.data_dir, &ca_subject)?;
            println!("created {}", dir.path.display());
            println!(
                "CA certificate: {}",
                dir.path.join(datadir::CA_PEM).display()
            );
            println!("service \"default\" answers at /scep/default once `sceptic serve` runs");
            println!("single-use secret for service \"default\" (shown only now):");
            println!("{secret}");
            Ok(())
        }
        Command::Serve { listen, base_url } => serve(&cli.data_dir, listen, base_url),
        Command::Service(command) => service(&DataDir::open(&cli.data_dir)?, command),
        Command::Secret(command) => secret(&DataDir::open(&cli.data_dir)?, command),
    }
}

fn serve(
    data_dir: &std::path::Path,
    listen: SocketAddr,
    base_url: Option<String>,
) -> anyhow::Result<()> {
    let dir = DataDir::open(data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!("{listen} is already in use by another program; choose another address with --listen")
            } else {
                anyhow::anyhow!("cannot listen on {listen}: {e}")
            }
        })?;
        let app = sceptic_server::App::new(dir.store.clone(), dir.digester.clone(), dir.path.clone())?;
        let local = listener.local_addr()?;
        let base = base_url.unwrap_or_else(|| format!("http://{local}"));
        let table = app.table();
        let mut aliases: Vec<_> = table.by_alias.keys().collect();
        aliases.sort();
        for alias in aliases {
            println!("service {:?}: {}/scep/{alias}", table.by_alias[alias].service.name, base.trim_end_matches('/'));
        }
        for (alias, reason) in &table.broken {
            println!("service at /scep/{alias} NOT loaded: {reason}");
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

fn edit_from(settings: &ServiceSettings) -> anyhow::Result<ServiceEdit> {
    Ok(ServiceEdit {
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
        ..Default::default()
    })
}

fn describe_plugin(spec: &PluginSpec) -> String {
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
                    "{}\talias={}\t{}\tciphers={}\tpolicies={}\tissuer={}",
                    s.name,
                    s.alias,
                    if s.enabled { "enabled" } else { "disabled" },
                    s.client_ciphers.join(","),
                    policies.join(" "),
                    describe_plugin(&s.issuer)
                );
            }
            Ok(())
        }
        ServiceCommand::Add {
            name,
            alias,
            settings,
        } => {
            let edit = edit_from(&settings)?;
            let alias = alias.unwrap_or_else(|| name.clone());
            dir.add_service(
                &name,
                &alias,
                edit.client_ciphers.unwrap_or_else(|| {
                    DEFAULT_CLIENT_CIPHERS
                        .iter()
                        .map(|c| c.to_string())
                        .collect()
                }),
                edit.policies.unwrap_or_else(datadir::default_policies),
                edit.issuer.unwrap_or_else(datadir::default_issuer),
            )?;
            println!("service {name:?} created at /scep/{alias}");
            Ok(())
        }
        ServiceCommand::Edit { name, settings } => {
            let edit = edit_from(&settings)?;
            if edit.client_ciphers.is_none() && edit.policies.is_none() && edit.issuer.is_none() {
                bail!("nothing to change; give --client-ciphers, --policy or --issuer");
            }
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
