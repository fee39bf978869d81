//! Teams and their users: who owns a service. Every new service belongs to a team,
//! and an API token scoped to a team manages only that team's services. Creating a
//! service with generated credentials makes a team and a user named after it (and
//! a token for the team) in the same transaction as the service, so a refused
//! service leaves no orphan team behind.

use rusqlite::{OptionalExtension, params};

use crate::services::insert_service;
use crate::{NewService, Result, SecretDigester, Store, StoreError, audit, now};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub created_at: i64,
}

/// Who a new service belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// "Auto generate credentials": a new team and user named after the service;
    /// with `token`, also an API token scoped to that team.
    Generate { token: bool },
    /// An existing team, and a user of that team.
    Existing { team_id: i64, user_id: i64 },
}

/// The team and user a service was given, and the generated token (shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub team: Team,
    pub user: User,
    pub token: Option<String>,
}

fn team_by_id(conn: &rusqlite::Connection, id: i64) -> Result<Option<Team>> {
    Ok(conn
        .query_row(
            "SELECT id, name, created_at FROM teams WHERE id = ?1",
            [id],
            |r| {
                Ok(Team {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                })
            },
        )
        .optional()?)
}

fn user_by_id(conn: &rusqlite::Connection, id: i64) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            "SELECT id, team_id, name, created_at FROM users WHERE id = ?1",
            [id],
            |r| {
                Ok(User {
                    id: r.get(0)?,
                    team_id: r.get(1)?,
                    name: r.get(2)?,
                    created_at: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Refuses a team id no team has (the text names the `team_id` setting).
pub(crate) fn require_team(conn: &rusqlite::Connection, team_id: i64) -> Result<Team> {
    team_by_id(conn, team_id)?
        .ok_or_else(|| StoreError::Invalid(format!("team_id: there is no team {team_id}")))
}

/// A team named `base`, or `base 2`, `base 3`, … when that name is taken (a
/// deleted service's team keeps its name).
fn insert_team(tx: &rusqlite::Transaction<'_>, base: &str) -> Result<Team> {
    let mut name = base.to_owned();
    let mut n = 1;
    while tx
        .query_row("SELECT 1 FROM teams WHERE name = ?1", [&name], |_| Ok(()))
        .optional()?
        .is_some()
    {
        n += 1;
        name = format!("{base} {n}");
    }
    let at = now();
    tx.execute(
        "INSERT INTO teams (name, created_at) VALUES (?1, ?2)",
        params![name, at],
    )?;
    Ok(Team {
        id: tx.last_insert_rowid(),
        name,
        created_at: at,
    })
}

fn insert_user(tx: &rusqlite::Transaction<'_>, team_id: i64, name: &str) -> Result<User> {
    let at = now();
    tx.execute(
        "INSERT INTO users (team_id, name, created_at) VALUES (?1, ?2, ?3)",
        params![team_id, name, at],
    )?;
    Ok(User {
        id: tx.last_insert_rowid(),
        team_id,
        name: name.to_owned(),
        created_at: at,
    })
}

/// Stamps a freshly recorded certificate with its service's team and user, inside
/// the issuance transaction (so it records who owned the service when it issued).
/// Stamps a new certificate with its service's team, user and "additional
/// certificate information", inside the issuance's transaction.
pub(crate) fn record_owner(
    tx: &rusqlite::Transaction<'_>,
    certificate_id: i64,
    service_id: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE certificates SET
             team_id = (SELECT team_id FROM services WHERE id = ?2),
             user_id = (SELECT user_id FROM services WHERE id = ?2),
             info = (SELECT certificate_info FROM services WHERE id = ?2)
         WHERE id = ?1",
        params![certificate_id, service_id],
    )?;
    Ok(())
}

impl Store {
    /// Creates a service owned by a team (see [`Ownership`]), all in one
    /// transaction: a name or alias in use, an unknown team or a user of another
    /// team changes nothing.
    pub fn add_owned_service(
        &self,
        digester: &SecretDigester,
        new: &NewService,
        ownership: Ownership,
    ) -> Result<(i64, Owner)> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (existing, make_token) = match ownership {
            Ownership::Existing { team_id, user_id } => {
                let team = require_team(&tx, team_id)?;
                let user = user_by_id(&tx, user_id)?.ok_or_else(|| {
                    StoreError::Invalid(format!("user_id: there is no user {user_id}"))
                })?;
                if user.team_id != team.id {
                    return Err(StoreError::Invalid(format!(
                        "user_id: user {user_id} belongs to team {}, not to team {team_id}",
                        user.team_id
                    )));
                }
                (Some((team, user)), false)
            }
            Ownership::Generate { token } => (None, token),
        };
        let id = insert_service(&tx, new)?;
        if let Some((certificate, key_file, not_after)) = &new.ra {
            tx.execute(
                "INSERT INTO ra_keys (service_id, certificate, key_file, not_after, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, certificate, key_file, not_after, now()],
            )?;
        }
        let (team, user) = match existing {
            Some(existing) => existing,
            None => {
                let team = insert_team(&tx, &new.name)?;
                let user = insert_user(&tx, team.id, &new.name)?;
                (team, user)
            }
        };
        tx.execute(
            "UPDATE services SET team_id = ?2, user_id = ?3 WHERE id = ?1",
            params![id, team.id, user.id],
        )?;
        audit::insert(
            &tx,
            &audit::AuditEvent {
                service: Some(new.name.clone()),
                event: "service-owner".into(),
                detail: format!(
                    "team {} ({:?}), user {} ({:?})",
                    team.id, team.name, user.id, user.name
                ),
                ..Default::default()
            },
        )?;
        let token = if make_token {
            Some(crate::secrets::insert_token(&tx, digester, Some(team.id))?)
        } else {
            None
        };
        tx.commit()?;
        Ok((id, Owner { team, user, token }))
    }

    pub fn team(&self, id: i64) -> Result<Option<Team>> {
        team_by_id(&*self.conn()?, id)
    }

    pub fn user(&self, id: i64) -> Result<Option<User>> {
        user_by_id(&*self.conn()?, id)
    }

    /// The team and user recorded on an issued certificate (`None` for
    /// certificates issued before teams existed).
    pub fn certificate_owner(&self, certificate_id: i64) -> Result<(Option<i64>, Option<i64>)> {
        self.certificate_owner_and_info(certificate_id)
            .map(|(team, user, _)| (team, user))
    }

    /// The team and user a certificate was issued for, and the service's
    /// "additional certificate information" as it stood then.
    pub fn certificate_owner_and_info(
        &self,
        certificate_id: i64,
    ) -> Result<(Option<i64>, Option<i64>, String)> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT team_id, user_id, info FROM certificates WHERE id = ?1",
                [certificate_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .unwrap_or((None, None, String::new())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Issuance, PluginSpec, TokenScope};

    fn store(name: &str) -> (Store, std::path::PathBuf, i64) {
        let dir = std::env::temp_dir().join(format!("sceptic-teams-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("sceptic.db")).unwrap();
        let ca = store.add_ca("local", b"cert", "ca.key").unwrap();
        (store, dir, ca)
    }

    fn new_service(name: &str, ca_id: i64) -> NewService {
        NewService {
            name: name.into(),
            alias: name.into(),
            ca_id,
            client_ciphers: vec!["aes256".into()],
            policies: vec![PluginSpec::new("builtin:secret-policy")],
            issuer: PluginSpec::new("builtin:local-ca-issuer"),
            approval: None,
            ra: None,
            enabled: true,
        }
    }

    #[test]
    fn generated_credentials_make_a_team_a_user_and_a_scoped_token() {
        let (store, dir, ca) = store("generate");
        let digester = SecretDigester::new([7; 32]);
        let (id, owner) = store
            .add_owned_service(
                &digester,
                &new_service("vpn", ca),
                Ownership::Generate { token: true },
            )
            .unwrap();
        assert_eq!(
            (owner.team.name.as_str(), owner.user.name.as_str()),
            ("vpn", "vpn")
        );
        let service = store.service("vpn").unwrap();
        assert_eq!(
            (service.id, service.team_id, service.user_id),
            (id, Some(owner.team.id), Some(owner.user.id))
        );
        let token = owner.token.unwrap();
        assert_eq!(
            store.token_scope(&digester, &token).unwrap(),
            Some(TokenScope::Team(owner.team.id))
        );
        assert!(!store.check_admin_token(&digester, &token).unwrap());
        let admin = store.add_admin_token(&digester).unwrap();
        assert_eq!(
            store.token_scope(&digester, &admin).unwrap(),
            Some(TokenScope::Admin)
        );
        assert_eq!(store.token_scope(&digester, "sceptic_nope").unwrap(), None);

        // The name comes back after a delete; the old team keeps its name.
        store.delete_service("vpn", "test").unwrap();
        let (_, again) = store
            .add_owned_service(
                &digester,
                &new_service("vpn", ca),
                Ownership::Generate { token: false },
            )
            .unwrap();
        assert_eq!(again.team.name, "vpn 2");
        assert!(again.token.is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_existing_owner_must_be_a_user_of_the_team() {
        let (store, dir, ca) = store("existing");
        let digester = SecretDigester::new([7; 32]);
        let (_, first) = store
            .add_owned_service(
                &digester,
                &new_service("a", ca),
                Ownership::Generate { token: false },
            )
            .unwrap();
        let (_, second) = store
            .add_owned_service(
                &digester,
                &new_service("b", ca),
                Ownership::Generate { token: false },
            )
            .unwrap();
        let wrong = Ownership::Existing {
            team_id: first.team.id,
            user_id: second.user.id,
        };
        let error = store
            .add_owned_service(&digester, &new_service("c", ca), wrong)
            .unwrap_err();
        assert!(error.to_string().starts_with("user_id: user"), "{error}");
        let unknown = Ownership::Existing {
            team_id: 99,
            user_id: first.user.id,
        };
        let error = store
            .add_owned_service(&digester, &new_service("c", ca), unknown)
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("team_id: there is no team 99"),
            "{error}"
        );
        assert!(
            store.service("c").is_err(),
            "a refused owner creates nothing"
        );

        let right = Ownership::Existing {
            team_id: first.team.id,
            user_id: first.user.id,
        };
        let (_, owner) = store
            .add_owned_service(&digester, &new_service("c", ca), right)
            .unwrap();
        assert_eq!(owner.team, first.team);
        assert_eq!(store.service("c").unwrap().team_id, Some(first.team.id));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn issued_certificates_record_the_services_team_and_user() {
        let (store, dir, ca) = store("issued");
        let digester = SecretDigester::new([7; 32]);
        let legacy = store.add_service(&new_service("legacy", ca)).unwrap();
        assert_eq!(store.service("legacy").unwrap().team_id, None);
        let (owned, owner) = store
            .add_owned_service(
                &digester,
                &new_service("owned", ca),
                Ownership::Generate { token: false },
            )
            .unwrap();
        let issue = |service_id: i64, service: &str, serial: &str| {
            store
                .record_issuance(&Issuance {
                    service_id,
                    service: service.into(),
                    ca_id: ca,
                    transaction_id: format!("tx-{serial}"),
                    message_type: "PKCSReq".into(),
                    serial_hex: serial.into(),
                    subject: "CN=a".into(),
                    not_before: 0,
                    not_after: 1,
                    der: vec![1],
                    signer_key: "k".into(),
                    client_address: "127.0.0.1".into(),
                    decided_by: "test".into(),
                    claim: None,
                    held_request_id: None,
                })
                .unwrap()
        };
        let a = issue(owned, "owned", "01");
        let b = issue(legacy, "legacy", "02");
        assert_eq!(
            store.certificate_owner(a).unwrap(),
            (Some(owner.team.id), Some(owner.user.id))
        );
        assert_eq!(store.certificate_owner(b).unwrap(), (None, None));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
