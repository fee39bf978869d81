//! The SCEP HTTP server: routes `/scep/{alias}[/anything]` to a service, answers
//! GetCACaps, GetCACert and PKIOperation (RFC 8894 §4), and keeps the set of loaded
//! services in step with the database while it runs.
//!
//! Data flows one way: HTTP (here) → proto (decode, verify, decrypt) → policy chain
//! → issuer (plugins) → store → signed reply. The CPU-heavy part of a PKIOperation
//! (three RSA private operations and the plugin calls) runs on tokio's blocking
//! pool behind a semaphore, so the accept loop and cheap GETs stay responsive.

mod admin;
mod broker;
mod crl;
pub mod decisions;
mod enforce;
mod enroll;
mod health;
mod held;
mod issue;
pub mod manage;
pub mod pki;
pub mod ra;
mod reply;
mod retrieve;
mod routes;
pub mod runtime;

pub use admin::serve_admin;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use sceptic_plugins::PluginEngine;
use sceptic_store::{SecretDigester, Store};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::runtime::ServiceTable;

/// Where the server keeps precompiled plugins, inside its data directory.
pub const PLUGIN_CACHE_DIR: &str = "plugin-cache";

/// How often a running server checks the database for changed services. Edits
/// made with the CLI take effect within this time, without a restart.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// PKIOperations processed at once. The work is CPU-bound RSA, so more than a few
/// per core adds latency, not throughput; the rest wait their turn in order.
pub fn pki_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 4)
        .unwrap_or(8)
}

/// Largest PKIOperation body accepted (a request is a few KB; 256 KiB leaves room
/// for long chains and 8192-bit keys).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The running server's shared state.
pub struct App {
    pub store: Arc<Store>,
    pub engine: PluginEngine,
    pub digester: SecretDigester,
    pub data_dir: PathBuf,
    table: RwLock<Arc<ServiceTable>>,
    permits: Semaphore,
    /// Serialises CRL signing, so two requests never sign two CRLs with one number.
    crl_lock: Mutex<()>,
}

impl App {
    /// Loads every service (compiling and initialising its plugins) before serving.
    pub fn new(
        store: Arc<Store>,
        digester: SecretDigester,
        data_dir: PathBuf,
    ) -> anyhow::Result<Arc<Self>> {
        let engine = PluginEngine::new()?
            .with_disk_cache(&data_dir.join(PLUGIN_CACHE_DIR))
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot create the plugin cache in {}: {e}",
                    data_dir.display()
                )
            })?;
        let table = ServiceTable::build(&engine, &store, &data_dir, None, true)?;
        Ok(Arc::new(Self {
            store,
            engine,
            digester,
            data_dir,
            table: RwLock::new(Arc::new(table)),
            permits: Semaphore::new(pki_concurrency()),
            crl_lock: Mutex::new(()),
        }))
    }

    /// The services being served now.
    pub fn table(&self) -> Arc<ServiceTable> {
        self.table
            .read()
            .expect("the table lock is never poisoned")
            .clone()
    }

    /// Rebuilds every service (SIGHUP: files a configuration names, such as a
    /// `.wasm` component or a script-policy's `.cel` file, may have changed), off
    /// the request path. A service whose new build fails keeps its old one.
    /// Returns the services that did not reload (kept their previous set, or
    /// are not loaded), by alias.
    pub fn reload_all(&self) -> anyhow::Result<Vec<String>> {
        let current = self.table();
        let next = ServiceTable::build(
            &self.engine,
            &self.store,
            &self.data_dir,
            Some(&current),
            false,
        )?;
        let mut not_reloaded: Vec<String> = next
            .stale
            .keys()
            .chain(next.broken.keys())
            .cloned()
            .collect();
        not_reloaded.sort();
        *self
            .table
            .write()
            .expect("the table lock is never poisoned") = Arc::new(next);
        Ok(not_reloaded)
    }

    /// Rebuilds the services whose configuration changed, and retries those that
    /// did not load when their retry is due ([`runtime::LOAD_RETRY_FIRST`]); a
    /// loaded, unchanged service is kept as it is.
    pub fn reload_if_changed(&self) -> anyhow::Result<Reload> {
        let current = self.table();
        let reload = if self.store.services_generation()? != current.generation {
            Reload::Changed
        } else if current.retry_due(std::time::Instant::now()) {
            Reload::Retried
        } else {
            return Ok(Reload::Unchanged);
        };
        let next = ServiceTable::build(
            &self.engine,
            &self.store,
            &self.data_dir,
            Some(&current),
            true,
        )?;
        *self
            .table
            .write()
            .expect("the table lock is never poisoned") = Arc::new(next);
        Ok(reload)
    }
}

/// What [`App::reload_if_changed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    /// The configuration in the database changed.
    Changed,
    /// Nothing changed, but services that had not loaded were tried again.
    Retried,
}

/// Connections served at once per listener. Past this, new connections wait in
/// the kernel's accept queue: a flood of idle or stalled connections cannot take
/// every file descriptor the process has.
pub const MAX_CONNECTIONS: usize = 1_024;

/// The longest any connection lives. SCEP clients make one or two requests per
/// connection; this bounds a client that stalls while sending its body or never
/// reads our answer (hyper has no write timeout of its own).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// How long a client may take to send a request body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves until the process ends.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> anyhow::Result<()> {
    spawn_reloader(app.clone());
    accept_loop(listener, "scep", move |req, peer| {
        routes::route(app.clone(), req, peer)
    })
    .await
}

/// Accepts connections and serves each with `handle`, within [`MAX_CONNECTIONS`],
/// [`HEADER_READ_TIMEOUT`] and [`CONNECTION_LIFETIME`].
pub(crate) async fn accept_loop<H, F>(
    listener: TcpListener,
    name: &'static str,
    handle: H,
) -> anyhow::Result<()>
where
    H: Fn(hyper::Request<hyper::body::Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Result<routes::Reply, std::convert::Infallible>>
        + Send
        + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(listener = name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(req, peer));
            let connection = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                Ok(Err(e)) => tracing::debug!(listener = name, %peer, "connection ended: {e}"),
                Err(_) => {
                    tracing::info!(listener = name, %peer, "connection closed after {CONNECTION_LIFETIME:?}")
                }
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

fn spawn_reloader(app: Arc<App>) {
    // SIGHUP rebuilds every service, for edits to files the database does not
    // see change (a replaced .wasm, an edited .cel).
    let hup_app = app.clone();
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; reload by editing a service instead");
            return;
        };
        while hangups.recv().await.is_some() {
            let app = hup_app.clone();
            match tokio::task::spawn_blocking(move || app.reload_all()).await {
                Ok(Ok(failed)) if failed.is_empty() => {
                    tracing::info!("SIGHUP: every service reloaded")
                }
                Ok(Ok(failed)) => tracing::error!(
                    "SIGHUP: not reloaded: {} (the errors above say why; /health lists them)",
                    failed.join(", ")
                ),
                Ok(Err(e)) => tracing::error!(
                    "SIGHUP reload failed, the previous configuration keeps serving: {e:#}"
                ),
                Err(e) => tracing::error!("the SIGHUP reload task failed: {e}"),
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELOAD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let task_app = app.clone();
            match tokio::task::spawn_blocking(move || {
                crate::ra::roll_over(&task_app);
                task_app.reload_if_changed()
            })
            .await
            {
                Ok(Ok(Reload::Changed)) => tracing::info!("service configuration reloaded"),
                Ok(Ok(Reload::Retried)) => {
                    let left = app.table().broken.len();
                    tracing::info!(
                        "tried again the services that had not loaded; {left} still not loaded"
                    )
                }
                Ok(Ok(Reload::Unchanged)) => {}
                Ok(Err(e)) => tracing::error!("reloading the service configuration failed: {e:#}"),
                Err(e) => tracing::error!("the reload task failed: {e}"),
            }
        }
    });
}

/// The address a client reached us from, as policies see it.
pub(crate) fn client_address(peer: SocketAddr) -> String {
    peer.ip().to_string()
}
