//! The admin REST API under `/api/v1` (JSON), on its own listener, separate from
//! the SCEP one (default 127.0.0.1 only). Every call needs `Authorization: Bearer
//! TOKEN`; tokens are stored as keyed digests and compared in constant time.
//! Errors are JSON `{"error": "...", "field": "..."}` that name what is wrong.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::App;
use crate::decisions::{self, DecisionError};

type Reply = Response<Full<Bytes>>;

/// Largest JSON body the API reads.
const MAX_JSON_BYTES: usize = 64 * 1024;

fn json_reply(status: StatusCode, body: Value) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: impl Into<String>, field: Option<&str>) -> Reply {
    let mut body = json!({ "error": message.into() });
    if let Some(field) = field {
        body["field"] = json!(field);
    }
    json_reply(status, body)
}

/// Serves the admin API until the process ends.
pub async fn serve_admin(app: Arc<App>, listener: TcpListener) -> anyhow::Result<()> {
    crate::accept_loop(listener, "admin", move |req, _peer| route(app.clone(), req)).await
}

fn authorised(app: &App, req: &Request<Incoming>) -> bool {
    let Some(token) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    app.store
        .check_admin_token(&app.digester, token.trim())
        .unwrap_or_else(|e| {
            tracing::error!("checking an admin token failed: {e}");
            false
        })
}

async fn read_json(req: Request<Incoming>) -> Result<Value, Reply> {
    let bytes = Limited::new(req.into_body(), MAX_JSON_BYTES)
        .collect()
        .await
        .map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {e}"),
                None,
            )
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
            None,
        )
    })
}

fn string_field(body: &Value, field: &str, required: bool) -> Result<Option<String>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("{field} is required"),
            Some(field),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("{field} must be a string"),
            Some(field),
        )),
    }
}

fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| v.to_owned())
    })
}

fn decision_reply(result: Result<Value, DecisionError>) -> Reply {
    match result {
        Ok(body) => json_reply(StatusCode::OK, body),
        Err(DecisionError::NotFound(m)) => error(StatusCode::NOT_FOUND, m, None),
        Err(DecisionError::Conflict(m)) => error(StatusCode::CONFLICT, m, None),
        Err(DecisionError::Invalid { field, message }) => {
            error(StatusCode::BAD_REQUEST, message, Some(field))
        }
        Err(DecisionError::Failed(m)) => error(StatusCode::BAD_GATEWAY, m, None),
    }
}

/// Runs a blocking decision (it may call the issuer plugin) off the async threads.
async fn blocking(
    app: &Arc<App>,
    work: impl FnOnce(&App) -> Result<Value, DecisionError> + Send + 'static,
) -> Reply {
    let app = app.clone();
    match tokio::task::spawn_blocking(move || work(&app)).await {
        Ok(result) => decision_reply(result),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the operation failed: {e}"),
            None,
        ),
    }
}

async fn route(app: Arc<App>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    if !authorised(&app, &req) {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token (Authorization: Bearer TOKEN; `sceptic admin-token` makes a new one)",
            None,
        ));
    }
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    let actor = "api:admin".to_owned();
    Ok(match (method, segments.as_slice()) {
        (Method::GET, ["api", "v1", "requests"]) => {
            let service = query_param(&req, "service");
            let status = query_param(&req, "status");
            blocking(&app, move |app| {
                decisions::list_requests(app, service.as_deref(), status.as_deref())
            })
            .await
        }
        (Method::GET, ["api", "v1", "requests", id]) => match id.parse::<i64>() {
            Ok(id) => blocking(&app, move |app| decisions::show_request(app, id)).await,
            Err(_) => error(
                StatusCode::BAD_REQUEST,
                "the request id must be a number",
                Some("id"),
            ),
        },
        (Method::POST, ["api", "v1", "requests", id, verb @ ("approve" | "reject")]) => {
            let Ok(id) = id.parse::<i64>() else {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    "the request id must be a number",
                    Some("id"),
                ));
            };
            let approve = *verb == "approve";
            let body = match read_json(req).await {
                Ok(body) => body,
                Err(reply) => return Ok(reply),
            };
            let reason = match string_field(&body, "reason", !approve) {
                Ok(reason) => reason.unwrap_or_default(),
                Err(reply) => return Ok(reply),
            };
            if approve {
                blocking(&app, move |app| decisions::approve(app, id, &actor)).await
            } else {
                blocking(&app, move |app| decisions::reject(app, id, &actor, &reason)).await
            }
        }
        (Method::GET, ["api", "v1", "certificates"]) => {
            let service = query_param(&req, "service");
            blocking(&app, move |app| {
                decisions::list_certificates(app, service.as_deref())
            })
            .await
        }
        (Method::GET, ["api", "v1", "certificates", serial]) => {
            let serial = serial.to_string();
            blocking(&app, move |app| decisions::show_certificate(app, &serial)).await
        }
        (Method::POST, ["api", "v1", "certificates", serial, "revoke"]) => {
            let serial = serial.to_string();
            let body = match read_json(req).await {
                Ok(body) => body,
                Err(reply) => return Ok(reply),
            };
            let reason = match string_field(&body, "reason", false) {
                Ok(reason) => reason.unwrap_or_else(|| "unspecified".into()),
                Err(reply) => return Ok(reply),
            };
            blocking(&app, move |app| {
                decisions::revoke(app, &serial, &reason, &actor)
            })
            .await
        }
        (_, ["api", "v1", ..]) => error(
            StatusCode::NOT_FOUND,
            format!("no API operation {} {path}", req.method()),
            None,
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "the admin API lives under /api/v1",
            None,
        ),
    })
}
