//! Persistence for sceptic: one SQLite file holding services, CA and RA
//! certificates, secrets, issued certificates, transactions and audit events.
//!
//! The file runs in WAL mode so readers (every request reads its service and
//! secrets) never wait for the writer. Migrations are versioned by `user_version`.
//! Secrets are stored only as keyed digests and compared in constant time. The one
//! multi-row write that matters, recording an issued certificate together with the
//! consumption of the secret that authorised it, happens in a single transaction,
//! so a failed issuance leaves the secret unused and two concurrent uses of a
//! single-use secret yield one certificate.

mod algorithms;
mod audit;
mod enforcement;
mod issuance;
mod lifecycle;
mod ra_keys;
mod ra_settings;
mod requests;
mod revocation;
mod schema;
mod secrets;
mod services;
mod teams;
mod trust;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use algorithms::{
    ALL_CLIENT_DIGESTS, Algorithms, AlgorithmsEdit, DEFAULT_CLIENT_DIGESTS, KEK_CIPHERS,
    REPLY_CIPHERS, REPLY_DIGESTS,
};
pub use audit::AuditEvent;
pub use enforcement::{Enforcement, EnforcementEdit};
pub use issuance::{Issuance, IssueConflict, IssuedCertificate, Outcome, TransactionRecord};
pub use lifecycle::DeletedService;
pub use ra_settings::{
    DEFAULT_RENEW_AT_PERCENT, RA_ISSUERS, RA_KEY_BITS, RaSettings, RaSettingsEdit,
};
pub use requests::{HeldRequest, NewHeldRequest, RequestStatus};
pub use revocation::{Revoked, StoredCrl};
pub use secrets::{
    PEPPER_LEN, SecretClaim, SecretDigester, SecretKind, SecretMatch, SecretRow, TokenScope,
    generate_secret_value,
};
pub use services::{Ca, NewService, PluginSpec, RaKeyRow, Service, ServiceEdit};
pub use teams::{Owner, Ownership, Team, User};
pub use trust::TrustedCertificate;

/// How long a connection waits for the writer lock before giving up. Writes are
/// short (one issuance is a handful of rows), so five seconds means real trouble.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// Every transaction that writes starts IMMEDIATE: under WAL a deferred
/// transaction that reads first and writes later cannot wait for the writer lock
/// (SQLITE_BUSY_SNAPSHOT fails at once), while an immediate one waits up to
/// [`BUSY_TIMEOUT_MS`].
///
/// Connections kept for reuse. Requests run on a small blocking pool, so a few
/// open connections avoid reopening the file per request.
const POOL_SIZE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "database {path} was written by a newer sceptic (schema {found}, this build knows {known}); upgrade sceptic"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("no service named {0:?} (see `sceptic service list`)")]
    UnknownService(String),
    #[error("{0}")]
    Conflict(String),
    /// A setting's value is not one it takes; the text names the setting.
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Seconds since the Unix epoch, the unit of every timestamp in the database.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The database. Cheap to share behind an `Arc`.
pub struct Store {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

/// A pooled connection, returned to the pool on drop.
pub struct Conn<'a> {
    store: &'a Store,
    conn: Option<Connection>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut pool)) = (self.conn.take(), self.store.pool.lock())
            && pool.len() < POOL_SIZE
        {
            pool.push(conn);
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let store = Self {
            path: path.to_path_buf(),
            pool: Mutex::new(Vec::new()),
        };
        let mut conn = store.connect()?;
        store.migrate(&mut conn)?;
        store.pool.lock().expect("fresh mutex").push(conn);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> Result<Connection> {
        let open_err = |source| StoreError::Open {
            path: self.path.display().to_string(),
            source,
        };
        let conn = Connection::open(&self.path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))
            .map_err(open_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(open_err)?;
        Ok(conn)
    }

    fn migrate(&self, conn: &mut Connection) -> Result<()> {
        let known = schema::MIGRATIONS.len() as i64;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.display().to_string(),
                found,
                known,
            });
        }
        for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// A connection from the pool (or a new one).
    pub fn conn(&self) -> Result<Conn<'_>> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(Conn {
            store: self,
            conn: Some(conn),
        })
    }
}

#[cfg(test)]
mod tests;
