//! `/api/v1/services…`: services, their secrets and their trusted certificates,
//! through the same `manage` operations the CLI calls. Request bodies are read
//! field by field into [`Settings`], so a wrong value is refused naming its field.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use sceptic_store::{EnforcementEdit, Ownership, SecretKind};
use serde_json::{Value, json};

use super::Caller;
use super::http::{Fields, Refusal, Reply, blocking, error, id_param};
use crate::App;
use crate::manage::{self, CreateService, Manager, Settings};

/// The settings fields of a create or edit body (names as in `service_json`).
fn settings(body: &mut Fields) -> Result<Settings, Refusal> {
    let flag = |body: &mut Fields, field| body.bool(field);
    let enforcement = EnforcementEdit {
        post_only: flag(body, "post_only")?,
        signer_digital_signature: flag(body, "signer_digital_signature")?,
        respect_key_usage: flag(body, "respect_key_usage")?,
        self_signed_matches_csr: flag(body, "self_signed_matches_csr")?,
        strict_content_types: flag(body, "strict_content_types")?,
    };
    let algorithms = sceptic_store::AlgorithmsEdit {
        client_digests: body.list("client_digests")?,
        reply_digest: body.string("reply_digest")?,
        reply_cipher: body.string("reply_cipher")?,
        kek_cipher: body.string("kek_cipher")?,
    };
    // `null` or "default" puts the RA subject back to its default.
    let ra_subject = match body.take("ra_subject") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s == "default" => Some(None),
        Some(Value::String(s)) => Some(Some(s)),
        Some(_) => return Err(Refusal::field("ra_subject", "must be a string or null")),
    };
    let ra = sceptic_store::RaSettingsEdit {
        key_bits: body
            .number("ra_key_bits", u64::from(u32::MAX))?
            .map(|n| n as u32),
        subject: ra_subject,
        renew_at_percent: body.number("ra_renew_at_percent", 255)?.map(|n| n as u8),
        issuer: body.string("ra_issuer")?,
        skip_issuer_check: body.bool("skip_issuer_check")?,
    };
    // `null` goes back to the system URL, as "system" does.
    let base_url = match body.take("base_url") {
        None => None,
        Some(Value::Null) => Some("system".to_owned()),
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(Refusal::field(
                "base_url",
                "must be a URL, \"system\" or null",
            ));
        }
    };
    Ok(Settings {
        client_ciphers: body.list("client_ciphers")?,
        policies: body.array("policies")?,
        issuer: body.string("issuer")?,
        allow_unauthorised: body.bool("allow_unauthorised")?,
        approval: body.string("approval")?,
        max_poll_count: body
            .number("max_poll_count", u64::from(u32::MAX))?
            .map(|n| n as u32),
        min_poll_interval: body
            .number("min_poll_interval", u64::from(u32::MAX))?
            .map(|n| n as u32),
        base_url,
        enabled: body.bool("enabled")?,
        enforcement,
        algorithms,
        ra,
        certificate_info: body.string("certificate_info")?,
    })
}

fn create_body(body: &mut Fields) -> Result<CreateService, Refusal> {
    let name = body
        .string("name")?
        .ok_or_else(|| Refusal::field("name", "a new service needs a name"))?;
    let alias = body.string("alias")?;
    let ownership = match (body.id("team_id")?, body.id("user_id")?) {
        (None, None) => Ownership::Generate { token: true },
        (Some(team_id), Some(user_id)) => Ownership::Existing { team_id, user_id },
        (Some(_), None) => {
            return Err(Refusal::field(
                "user_id",
                "team_id needs a user_id of that team",
            ));
        }
        (None, Some(_)) => {
            return Err(Refusal::field(
                "team_id",
                "user_id needs the team_id it belongs to",
            ));
        }
    };
    let settings = settings(body)?;
    Ok(CreateService {
        name,
        alias,
        settings,
        ownership,
    })
}

fn secret_body(body: &mut Fields) -> Result<(SecretKind, Option<String>), Refusal> {
    let kind = match body.string("kind")? {
        None => SecretKind::SingleUse,
        Some(text) => SecretKind::parse(&text).ok_or_else(|| {
            Refusal::field(
                "kind",
                format!("unknown kind {text:?}; choose from single-use, long-life, global"),
            )
        })?,
    };
    Ok((kind, body.string("value")?))
}

/// Reads the whole body with `parse`, refusing unknown fields.
async fn body<T>(
    req: Request<Incoming>,
    parse: impl FnOnce(&mut Fields) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    let mut fields = Fields::read(req).await?;
    let value = parse(&mut fields)?;
    fields.finish()?;
    Ok(value)
}

pub(crate) async fn handle(
    app: Arc<App>,
    caller: Caller,
    route: &'static str,
    params: Vec<String>,
    req: Request<Incoming>,
) -> Reply {
    let Caller { access, actor } = caller;
    let name = params.first().cloned().unwrap_or_default();
    let ok = StatusCode::OK;
    let created = StatusCode::CREATED;
    // Runs a management operation with this caller's access, off the async threads.
    macro_rules! manage {
        ($status:expr, |$m:ident| $work:expr) => {{
            let actor = actor.clone();
            blocking(&app, $status, move |app| {
                let $m = Manager::for_app(app, actor, access);
                $work
            })
            .await
        }};
    }
    match route {
        "GET /api/v1/services" => manage!(ok, |m| {
            let list = manage::list_services(&m)?;
            let rows = list
                .iter()
                .map(|s| manage::service_json(m.store, s))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Array(rows))
        }),
        "POST /api/v1/services" => {
            if let Err(e) = access.require_full("creating a service") {
                return super::http::outcome(ok, Err(e));
            }
            let create = match body(req, create_body).await {
                Ok(create) => create,
                Err(refusal) => return refusal.reply(),
            };
            manage!(created, |m| {
                let (service, owner) = manage::create_service(&m, &create)?;
                let mut out = manage::service_json(m.store, &service)?;
                out["credentials"] = manage::owner_json(&owner);
                Ok(out)
            })
        }
        "GET /api/v1/services/{name}" => manage!(ok, |m| {
            manage::service_json(m.store, &manage::service(&m, &name)?)
        }),
        "PATCH /api/v1/services/{name}" => {
            if let Err(e) = access.require_full("editing a service") {
                return super::http::outcome(ok, Err(e));
            }
            let settings = match body(req, settings).await {
                Ok(settings) => settings,
                Err(refusal) => return refusal.reply(),
            };
            manage!(ok, |m| {
                let service = manage::edit_service(&m, &name, &settings)?;
                manage::service_json(m.store, &service)
            })
        }
        "DELETE /api/v1/services/{name}" => manage!(ok, |m| {
            let deleted = manage::delete_service(&m, &name)?;
            Ok(manage::deleted_json(&deleted.deleted, &deleted.warnings))
        }),
        "POST /api/v1/services/{name}/enable" | "POST /api/v1/services/{name}/disable" => {
            let enabled = route.ends_with("enable");
            manage!(ok, |m| {
                let service = manage::set_enabled(&m, &name, enabled)?;
                manage::service_json(m.store, &service)
            })
        }
        "GET /api/v1/services/{name}/secrets" => manage!(ok, |m| {
            let (_, rows) = manage::list_secrets(&m, &name)?;
            Ok(Value::Array(rows.iter().map(manage::secret_json).collect()))
        }),
        "POST /api/v1/services/{name}/secrets" => {
            let (kind, value) = match body(req, secret_body).await {
                Ok(parsed) => parsed,
                Err(refusal) => return refusal.reply(),
            };
            manage!(created, |m| {
                let secret = manage::add_secret(&m, &name, kind, value.as_deref())?;
                Ok(json!({
                    "id": secret.id,
                    "kind": secret.kind.as_str(),
                    "service": secret.service,
                    "value": secret.value,
                }))
            })
        }
        "DELETE /api/v1/services/{name}/secrets/{id}" => {
            let id = match id_param(params.get(1).map_or("", String::as_str), "secret") {
                Ok(id) => id,
                Err(refusal) => return refusal.reply(),
            };
            manage!(ok, |m| {
                manage::delete_secret(&m, &name, id)?;
                Ok(json!({ "deleted": id }))
            })
        }
        "GET /api/v1/services/{name}/trusted-certificates" => manage!(ok, |m| {
            let (_, rows) = manage::list_trusted(&m, &name)?;
            Ok(Value::Array(
                rows.iter().map(manage::trusted_json).collect(),
            ))
        }),
        "POST /api/v1/services/{name}/trusted-certificates" => {
            let pem = match body(req, |b| {
                b.string("pem")?
                    .ok_or_else(|| Refusal::field("pem", "give the certificates as PEM text"))
            })
            .await
            {
                Ok(pem) => pem,
                Err(refusal) => return refusal.reply(),
            };
            manage!(created, |m| {
                let rows = manage::add_trusted(&m, &name, pem.as_bytes())?;
                Ok(Value::Array(
                    rows.iter().map(manage::trusted_json).collect(),
                ))
            })
        }
        "DELETE /api/v1/services/{name}/trusted-certificates/{id}" => {
            let id = match id_param(
                params.get(1).map_or("", String::as_str),
                "trusted certificate",
            ) {
                Ok(id) => id,
                Err(refusal) => return refusal.reply(),
            };
            manage!(ok, |m| {
                manage::delete_trusted(&m, &name, id)?;
                Ok(json!({ "deleted": id }))
            })
        }
        other => error(
            StatusCode::NOT_FOUND,
            format!("no handler for {other}"),
            None,
        ),
    }
}
