//! Shared secrets (SCEP challengePasswords, RFC 8894 §2.3).
//!
//! A secret is stored only as a keyed digest: SHA-256 over a server-wide pepper
//! (a 0600 file in the data directory, never in the database), the service id and
//! the value. A copy of the database alone therefore does not allow an offline
//! search for the values. Matching looks the digest up through an index and then
//! confirms it with a constant-time comparison. The index compares keyed digests,
//! not values, so its timing says nothing about any stored secret.

use rand::Rng;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Result, Store, StoreError, audit, now};

/// Length of the pepper file's random content.
pub const PEPPER_LEN: usize = 32;

/// Random bytes in a generated secret: 128 bits, printed as 32 hex characters,
/// which every SCEP client accepts as a challengePassword.
const GENERATED_SECRET_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Global,
    SingleUse,
    LongLife,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::Global => "global",
            SecretKind::SingleUse => "single-use",
            SecretKind::LongLife => "long-life",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "global" => Some(SecretKind::Global),
            "single-use" => Some(SecretKind::SingleUse),
            "long-life" => Some(SecretKind::LongLife),
            _ => None,
        }
    }
}

/// Computes the stored digest of a secret value. Holds the pepper.
#[derive(Clone)]
pub struct SecretDigester {
    pepper: [u8; PEPPER_LEN],
}

impl std::fmt::Debug for SecretDigester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretDigester(..)")
    }
}

impl SecretDigester {
    pub fn new(pepper: [u8; PEPPER_LEN]) -> Self {
        Self { pepper }
    }

    pub fn random_pepper() -> [u8; PEPPER_LEN] {
        let mut pepper = [0u8; PEPPER_LEN];
        rand::rng().fill_bytes(&mut pepper);
        pepper
    }

    fn digest(&self, service_id: i64, value: &str) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.pepper);
        hash.update(service_id.to_be_bytes());
        hash.update(value.as_bytes());
        hash.finalize().into()
    }
}

/// A secret as listed to the operator: never its value.
#[derive(Debug, Clone)]
pub struct SecretRow {
    pub id: i64,
    pub kind: SecretKind,
    pub created_at: i64,
    pub used_at: Option<i64>,
    pub uses: i64,
    /// SHA-256 (hex) of the public key a long-life secret is bound to.
    pub bound_key: Option<String>,
}

/// The secret a challengePassword matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretMatch {
    pub id: i64,
    pub kind: SecretKind,
    /// False when a long-life secret is bound to another sender's key.
    pub sender_matches: bool,
}

/// The use of a secret that an issuance records atomically.
#[derive(Debug, Clone)]
pub struct SecretClaim {
    pub id: i64,
    pub kind: SecretKind,
    /// SHA-256 (hex) of the signer's public key, to bind a long-life secret.
    pub signer_key: String,
}

/// A freshly generated secret value, printed once and then forgotten.
pub fn generate_secret_value() -> String {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A stored secret as matched: id, kind, digest, when it was used, and the
/// sender key a long-life secret is bound to.
type MatchedRow = (i64, String, Vec<u8>, Option<i64>, Option<String>);

impl Store {
    /// Stores a secret. Adding a global secret replaces the service's previous one.
    pub fn add_secret(
        &self,
        digester: &SecretDigester,
        service_id: i64,
        kind: SecretKind,
        value: &str,
    ) -> Result<i64> {
        if value.is_empty() {
            return Err(StoreError::Conflict("a secret cannot be empty".into()));
        }
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if kind == SecretKind::Global {
            tx.execute(
                "DELETE FROM secrets WHERE service_id = ?1 AND kind = 'global'",
                [service_id],
            )?;
        }
        let digest = digester.digest(service_id, value);
        let duplicate: Option<i64> = tx
            .query_row(
                "SELECT id FROM secrets WHERE service_id = ?1 AND digest = ?2",
                params![service_id, digest.as_slice()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = duplicate {
            return Err(StoreError::Conflict(format!(
                "this value is already secret {id} of the service; choose another value"
            )));
        }
        tx.execute(
            "INSERT INTO secrets (service_id, kind, digest, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![service_id, kind.as_str(), digest.as_slice(), now()],
        )?;
        let id = tx.last_insert_rowid();
        let service: String = tx.query_row(
            "SELECT name FROM services WHERE id = ?1",
            [service_id],
            |r| r.get(0),
        )?;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(service),
                event: "secret-added".into(),
                detail: format!("secret {id} ({})", kind.as_str()),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(id)
    }

    pub fn secrets(&self, service_id: i64) -> Result<Vec<SecretRow>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, kind, created_at, used_at, uses, bound_key FROM secrets WHERE service_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([service_id], |r| {
            let kind: String = r.get(1)?;
            Ok(SecretRow {
                id: r.get(0)?,
                kind: SecretKind::parse(&kind).unwrap_or(SecretKind::SingleUse),
                created_at: r.get(2)?,
                used_at: r.get(3)?,
                uses: r.get(4)?,
                bound_key: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a secret of the service; false when it has no such secret.
    pub fn delete_secret(&self, service_id: i64, secret_id: i64) -> Result<bool> {
        let conn = self.conn()?;
        let n = conn.execute(
            "DELETE FROM secrets WHERE service_id = ?1 AND id = ?2",
            params![service_id, secret_id],
        )?;
        Ok(n == 1)
    }

    /// Whether the service has a global secret (then only it is accepted).
    pub fn global_mode(&self, service_id: i64) -> Result<bool> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT 1 FROM secrets WHERE service_id = ?1 AND kind = 'global'",
                [service_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The usable secret `challenge` matches, for a sender whose public key has the
    /// SHA-256 `signer_key`. A used single-use secret does not match; in global mode
    /// only the global secret does.
    pub fn match_secret(
        &self,
        digester: &SecretDigester,
        service_id: i64,
        challenge: &str,
        signer_key: &str,
    ) -> Result<Option<SecretMatch>> {
        let global_mode = self.global_mode(service_id)?;
        let digest = digester.digest(service_id, challenge);
        let conn = self.conn()?;
        let row: Option<MatchedRow> = conn
            .query_row(
                "SELECT id, kind, digest, used_at, bound_key FROM secrets WHERE service_id = ?1 AND digest = ?2",
                params![service_id, digest.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((id, kind, stored, used_at, bound_key)) = row else {
            return Ok(None);
        };
        if !bool::from(stored.as_slice().ct_eq(digest.as_slice())) {
            return Ok(None);
        }
        let Some(kind) = SecretKind::parse(&kind) else {
            return Ok(None);
        };
        if global_mode && kind != SecretKind::Global {
            return Ok(None);
        }
        if kind == SecretKind::SingleUse && used_at.is_some() {
            return Ok(None);
        }
        let sender_matches = match (kind, bound_key) {
            (SecretKind::LongLife, Some(bound)) => {
                bool::from(bound.as_bytes().ct_eq(signer_key.as_bytes()))
            }
            _ => true,
        };
        Ok(Some(SecretMatch {
            id,
            kind,
            sender_matches,
        }))
    }
}

/// Applies a claim inside an issuance transaction. False when the secret can no
/// longer be used (consumed or bound to another sender by a concurrent request).
pub(crate) fn apply_claim(tx: &rusqlite::Transaction<'_>, claim: &SecretClaim) -> Result<bool> {
    let at = now();
    let changed = match claim.kind {
        SecretKind::SingleUse => tx.execute(
            "UPDATE secrets SET used_at = ?2, uses = uses + 1 WHERE id = ?1 AND used_at IS NULL",
            params![claim.id, at],
        )?,
        SecretKind::LongLife => tx.execute(
            "UPDATE secrets SET uses = uses + 1, used_at = ?2, bound_key = COALESCE(bound_key, ?3)
             WHERE id = ?1 AND (bound_key IS NULL OR bound_key = ?3)",
            params![claim.id, at, claim.signer_key],
        )?,
        SecretKind::Global => tx.execute(
            "UPDATE secrets SET uses = uses + 1, used_at = ?2 WHERE id = ?1",
            params![claim.id, at],
        )?,
    };
    Ok(changed == 1)
}

/// Admin API tokens are digested like secrets, under a service id no service has.
const ADMIN_TOKEN_NAMESPACE: i64 = 0;

/// What an admin API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Everything (tokens from `sceptic init` and `sceptic admin-token`).
    Admin,
    /// Only the services of this team: their secrets, trusted certificates and
    /// held requests, and reading the certificates they issued.
    Team(i64),
}

/// Stores a new token (team-scoped when `team_id` is set) on `conn`, inside the
/// caller's transaction if any, and audits it. Returns the value, to be shown once.
pub(crate) fn insert_token(
    conn: &rusqlite::Connection,
    digester: &SecretDigester,
    team_id: Option<i64>,
) -> Result<String> {
    let value = format!("sceptic_{}", generate_secret_value());
    let digest = digester.digest(ADMIN_TOKEN_NAMESPACE, &value);
    conn.execute(
        "INSERT INTO admin_tokens (digest, created_at, team_id) VALUES (?1, ?2, ?3)",
        params![digest.as_slice(), now(), team_id],
    )?;
    audit::insert(
        conn,
        &audit::AuditEvent {
            event: "admin-token-added".into(),
            detail: match team_id {
                Some(team) => format!("token {} for team {team}", conn.last_insert_rowid()),
                None => format!("token {}", conn.last_insert_rowid()),
            },
            ..Default::default()
        },
    )?;
    Ok(value)
}

impl Store {
    /// Stores a new full admin API token (its value is returned to be shown once).
    pub fn add_admin_token(&self, digester: &SecretDigester) -> Result<String> {
        insert_token(&*self.conn()?, digester, None)
    }

    /// Stores a new API token scoped to `team_id` (returned to be shown once).
    pub fn add_team_token(&self, digester: &SecretDigester, team_id: i64) -> Result<String> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        crate::teams::require_team(&tx, team_id)?;
        let value = insert_token(&tx, digester, Some(team_id))?;
        tx.commit()?;
        Ok(value)
    }

    /// What `token` may do, or `None` when it is no current token (the digest is
    /// looked up, then confirmed in constant time).
    pub fn token_scope(
        &self,
        digester: &SecretDigester,
        token: &str,
    ) -> Result<Option<TokenScope>> {
        let digest = digester.digest(ADMIN_TOKEN_NAMESPACE, token);
        let conn = self.conn()?;
        let stored: Option<(Vec<u8>, Option<i64>)> = conn
            .query_row(
                "SELECT digest, team_id FROM admin_tokens WHERE digest = ?1",
                [digest.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match stored {
            Some((s, team)) if bool::from(s.as_slice().ct_eq(digest.as_slice())) => {
                Some(team.map_or(TokenScope::Admin, TokenScope::Team))
            }
            _ => None,
        })
    }

    /// Whether `token` is a current full admin token (not a team-scoped one).
    pub fn check_admin_token(&self, digester: &SecretDigester, token: &str) -> Result<bool> {
        Ok(self.token_scope(digester, token)? == Some(TokenScope::Admin))
    }
}
