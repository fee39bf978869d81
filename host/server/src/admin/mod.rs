//! The admin REST API under `/api/v1` (JSON), on its own listener, separate from
//! the SCEP one (default 127.0.0.1 only). Every call but the OpenAPI document needs
//! `Authorization: Bearer TOKEN`; tokens are stored as keyed digests and compared
//! in constant time. A full admin token may do everything; a team-scoped one only
//! manages its team's services (see `manage::Access`). Errors are JSON
//! `{"error": "...", "field": "..."}` that name what is wrong.

mod decide;
mod http;
mod services;
mod table;

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{ALLOW, AUTHORIZATION, HeaderValue};
use hyper::{Request, StatusCode};
use sceptic_store::TokenScope;
use tokio::net::TcpListener;

use crate::App;
use crate::manage::Access;
use http::{Reply, error};
use table::Matched;

/// The OpenAPI 3 document of this API (checked in beside the crate).
pub(crate) const OPENAPI: &str = include_str!("../../openapi.json");

/// Who is calling: what they may do and how the audit trail names them.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub access: Access,
    pub actor: String,
}

/// Serves the admin API until the process ends.
pub async fn serve_admin(app: Arc<App>, listener: TcpListener) -> anyhow::Result<()> {
    crate::accept_loop(listener, "admin", move |req, _peer| route(app.clone(), req)).await
}

fn caller(app: &App, req: &Request<Incoming>) -> Option<Caller> {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    let scope = app
        .store
        .token_scope(&app.digester, token.trim())
        .unwrap_or_else(|e| {
            tracing::error!("checking an admin token failed: {e}");
            None
        })?;
    Some(match scope {
        TokenScope::Admin => Caller {
            access: Access::Full,
            actor: "api:admin".into(),
        },
        TokenScope::Team(team) => Caller {
            access: Access::Team(team),
            actor: format!("api:team:{team}"),
        },
    })
}

async fn route(app: Arc<App>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let (route, params) = match table::find(&method, &path) {
        Matched::Route(route, params) => (route, params),
        Matched::Method(allowed) => {
            let mut reply = error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{path} takes {}, not {method}", allowed.join(", ")),
                None,
            );
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                reply.headers_mut().insert(ALLOW, value);
            }
            return Ok(reply);
        }
        Matched::BadEncoding => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "the path is not valid percent-encoded UTF-8",
                None,
            ));
        }
        Matched::Nothing => {
            return Ok(error(
                StatusCode::NOT_FOUND,
                format!(
                    "no API operation {method} {path}; GET /api/v1/openapi.json lists them \
                     (the admin API lives under /api/v1)"
                ),
                None,
            ));
        }
    };
    if route == "GET /api/v1/openapi.json" {
        let mut reply = http::json_reply(StatusCode::OK, serde_json::Value::Null);
        *reply.body_mut() =
            http_body_util::Full::new(hyper::body::Bytes::from_static(OPENAPI.as_bytes()));
        return Ok(reply);
    }
    let Some(caller) = caller(&app, &req) else {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (Authorization: Bearer TOKEN; `sceptic admin-token` makes a new one)",
            None,
        ));
    };
    if route == "GET /api/v1/health" {
        // Every service's state and reasons: an admin's view, not a team's.
        return Ok(match caller.access {
            Access::Full => {
                let health = crate::health::Health::of(&app.table(), true);
                http::json_reply(health.status(), health.json())
            }
            Access::Team(_) => error(
                StatusCode::FORBIDDEN,
                "the health report covers every service; it needs a full admin token",
                None,
            ),
        });
    }
    Ok(if route.contains("/services") {
        services::handle(app, caller, route, params, req).await
    } else {
        decide::handle(app, caller, route, params, req).await
    })
}
