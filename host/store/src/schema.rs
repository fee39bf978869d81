//! Versioned migrations. Each entry runs once, in order, inside one transaction with
//! the `user_version` bump, so a database is never left between two versions.

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`. Append only: a released
/// migration is never edited, because databases in the field already ran it.
pub const MIGRATIONS: &[&str] = &[
    // 1: the vertical slice.
    r#"
CREATE TABLE cas (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    certificate BLOB NOT NULL,
    key_file TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE services (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    alias TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1,
    ca_id INTEGER NOT NULL REFERENCES cas(id),
    client_ciphers TEXT NOT NULL,
    policies TEXT NOT NULL,
    issuer TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE ra_keys (
    id INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    certificate BLOB NOT NULL,
    key_file TEXT NOT NULL,
    not_after INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE secrets (
    id INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('global', 'single-use', 'long-life')),
    digest BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    bound_key TEXT
);
CREATE INDEX secrets_by_digest ON secrets(service_id, digest);
CREATE UNIQUE INDEX one_global_secret ON secrets(service_id) WHERE kind = 'global';
CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id),
    ca_id INTEGER NOT NULL REFERENCES cas(id),
    serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    der BLOB NOT NULL,
    transaction_id TEXT NOT NULL,
    signer_key TEXT NOT NULL,
    secret_id INTEGER,
    issued_at INTEGER NOT NULL,
    UNIQUE (ca_id, serial)
);
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    transaction_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('issued', 'failed', 'pending')),
    fail_info TEXT,
    reason TEXT,
    decided_by TEXT,
    signer_key TEXT NOT NULL,
    client_address TEXT NOT NULL,
    certificate_id INTEGER REFERENCES certificates(id),
    created_at INTEGER NOT NULL
);
CREATE INDEX transactions_by_id ON transactions(service_id, transaction_id);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    service TEXT,
    transaction_id TEXT,
    event TEXT NOT NULL,
    plugin TEXT,
    detail TEXT NOT NULL
);
"#,
];
