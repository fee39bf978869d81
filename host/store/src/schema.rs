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
    // 2: manual approval, polling, revocation and CRLs, admin tokens.
    r#"
ALTER TABLE services ADD COLUMN approval TEXT;
ALTER TABLE services ADD COLUMN max_poll_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN min_poll_interval INTEGER NOT NULL DEFAULT 0;
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    transaction_id TEXT NOT NULL,
    signer_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'issuing', 'issued', 'rejected', 'failed')),
    queue TEXT NOT NULL,
    routed_by TEXT NOT NULL,
    message_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,
    key_description TEXT NOT NULL,
    signer_subject TEXT NOT NULL,
    csr BLOB NOT NULL,
    signer_certificate BLOB NOT NULL,
    http_method TEXT NOT NULL,
    client_address TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    poll_count INTEGER NOT NULL DEFAULT 0,
    last_poll_at INTEGER,
    issuer_ticket TEXT,
    decided_by TEXT,
    decided_at INTEGER,
    reason TEXT,
    certificate_id INTEGER REFERENCES certificates(id),
    UNIQUE (service_id, transaction_id, signer_key)
);
CREATE INDEX requests_by_status ON requests(status, service_id);
CREATE INDEX certificates_by_transaction ON certificates(service_id, transaction_id, signer_key);
CREATE TABLE revocations (
    certificate_id INTEGER PRIMARY KEY REFERENCES certificates(id),
    revoked_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    revoked_by TEXT NOT NULL
);
CREATE TABLE crls (
    ca_id INTEGER PRIMARY KEY REFERENCES cas(id),
    number INTEGER NOT NULL,
    der BLOB NOT NULL,
    next_update INTEGER NOT NULL,
    revocations INTEGER NOT NULL
);
CREATE TABLE admin_tokens (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
"#,
    // 3: service identity (issue 3): a per-service base URL, deletion that keeps the
    // certificates a service issued (so they stay listable and revocable), and
    // server-wide settings such as the system URL.
    r#"
ALTER TABLE services ADD COLUMN base_url TEXT;
ALTER TABLE services ADD COLUMN deleted_at INTEGER;
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#,
    // 4: enforcement flags and algorithm lists, one JSON object each per service
    // (a new flag or list needs no migration; '{}' reads as the defaults).
    r#"
ALTER TABLE services ADD COLUMN enforcement TEXT NOT NULL DEFAULT '{}';
ALTER TABLE services ADD COLUMN algorithms TEXT NOT NULL DEFAULT '{}';
"#,
    // 5: trusted certificates per service (trusted-cert-policy's "trusted" anchors).
    r#"
CREATE TABLE trusted_certificates (
    id INTEGER PRIMARY KEY,
    service_id INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    der BLOB NOT NULL,
    added_at INTEGER NOT NULL,
    added_by TEXT NOT NULL,
    UNIQUE (service_id, sha256)
);
"#,
    // 6: teams and users (every service belongs to a team; team-scoped API tokens),
    // the service's RA settings and "additional certificate information".
    r#"
CREATE TABLE teams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams(id),
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (team_id, name)
);
ALTER TABLE admin_tokens ADD COLUMN team_id INTEGER REFERENCES teams(id);
ALTER TABLE services ADD COLUMN team_id INTEGER REFERENCES teams(id);
ALTER TABLE services ADD COLUMN user_id INTEGER REFERENCES users(id);
ALTER TABLE services ADD COLUMN certificate_info TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN ra_settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE certificates ADD COLUMN team_id INTEGER;
ALTER TABLE certificates ADD COLUMN user_id INTEGER;
ALTER TABLE certificates ADD COLUMN info TEXT NOT NULL DEFAULT '';
"#,
];
