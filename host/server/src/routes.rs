//! HTTP routing and the SCEP operations that need no cryptography of the request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::enroll::pki_operation;
use crate::reply::{Origin, PkiReply};
use crate::runtime::ServiceRuntime;
use crate::{App, MAX_BODY_BYTES, client_address};

pub(crate) type Reply = Response<Full<Bytes>>;

/// The path prefix of every SCEP service: `/scep/{alias}`.
const SCEP_PREFIX: &str = "/scep/";

/// Where each service's CA publishes its CRL: `/crl/{alias}.crl`.
const CRL_PREFIX: &str = "/crl/";

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A refusal for people: plain text that says what happened and what to do.
fn text(status: StatusCode, message: impl Into<String>) -> Reply {
    let mut message = message.into();
    message.push('\n');
    reply(status, "text/plain; charset=utf-8", message)
}

/// Query parameters, undecoded (`message` has its own decoding rules, see
/// `sceptic_proto::decode_get_message`).
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

pub async fn route(
    app: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Reply, Infallible> {
    let path = req.uri().path();
    if path == "/health" {
        return Ok(health(&app));
    }
    if let Some(file) = path.strip_prefix(CRL_PREFIX) {
        return Ok(crl(app, file).await);
    }
    let Some(rest) = path.strip_prefix(SCEP_PREFIX) else {
        return Ok(text(
            StatusCode::NOT_FOUND,
            format!("no such path {path:?}; SCEP services are at /scep/ALIAS"),
        ));
    };
    // Any suffix after the alias is accepted: clients append /pkiclient.exe or
    // /cgi-bin/pkiclient.exe by habit.
    let alias = rest.split('/').next().unwrap_or_default();
    let table = app.table();
    let Some(rt) = table.by_alias.get(alias).cloned() else {
        // The reason stays with the operator (log, admin API): it can quote
        // plugin errors and file paths.
        if table.broken.contains_key(alias) {
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "service {alias:?} is not available: its configuration did not load; \
                     it is tried again by itself ({})",
                    crate::health::WHY_ELSEWHERE
                ),
            ));
        }
        return Ok(text(
            StatusCode::NOT_FOUND,
            format!("no SCEP service with alias {alias:?}"),
        ));
    };
    let query = req.uri().query().unwrap_or_default().to_owned();
    let operation = query_param(&query, "operation").unwrap_or_default();
    // A disabled service refuses everything. A PKIOperation that names its
    // transaction is refused in kind, with a signed FAILURE (see `enroll`).
    if !rt.service.enabled && operation != "PKIOperation" {
        return Ok(text(StatusCode::SERVICE_UNAVAILABLE, disabled_reason(&rt)));
    }
    let method = req.method().clone();
    if method != Method::GET && method != Method::POST {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "SCEP uses GET and POST",
        ));
    }
    Ok(match operation {
        // RFC 8894 §3.5.1: one capability per line.
        "GetCACaps" => reply(StatusCode::OK, "text/plain", rt.caps.clone()),
        // §4.2.1.2: CA and RA certificates as a degenerate certs-only SignedData.
        // Any `message` value is accepted (certmonger sends message=0, then 1).
        "GetCACert" => reply(
            StatusCode::OK,
            "application/x-x509-ca-ra-cert",
            rt.ca_certs_body.clone(),
        ),
        // §4.7: the RA's successor (with the CA certificates), signed by the
        // current RA, while one exists; GetCACaps offers it only then.
        "GetNextCACert" => match &rt.next_ca_body {
            Some(body) => reply(
                StatusCode::OK,
                "application/x-x509-next-ca-cert",
                body.clone(),
            ),
            None => text(
                StatusCode::NOT_FOUND,
                "this service has no next CA certificate yet (GetCACaps lists GetNextCACert once it has)",
            ),
        },
        "PKIOperation" => {
            let content_type = req
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let body = if method == Method::POST {
                match read_body(req).await {
                    Ok(body) => body,
                    Err(reply) => return Ok(reply),
                }
            } else {
                let Some(message) = query_param(&query, "message") else {
                    return Ok(text(
                        StatusCode::BAD_REQUEST,
                        "PKIOperation by GET needs a message= parameter",
                    ));
                };
                match sceptic_proto::decode_get_message(message) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        return Ok(text(StatusCode::BAD_REQUEST, e.to_string()));
                    }
                }
            };
            let origin = Origin {
                method: if method == Method::POST {
                    "POST"
                } else {
                    "GET"
                },
                client_address: client_address(peer),
                content_type,
            };
            let Ok(_permit) = app.permits.acquire().await else {
                return Ok(text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server is shutting down",
                ));
            };
            let worker_app = app.clone();
            match tokio::task::spawn_blocking(move || {
                pki_operation(&worker_app, &rt, &body, &origin)
            })
            .await
            {
                Ok(PkiReply::CertRep(der)) => {
                    reply(StatusCode::OK, "application/x-pki-message", der)
                }
                Ok(PkiReply::BadRequest(reason)) => text(StatusCode::BAD_REQUEST, reason),
                Ok(PkiReply::Unavailable(reason)) => text(StatusCode::SERVICE_UNAVAILABLE, reason),
                Err(e) => {
                    // A panic in the pipeline is a bug; the client still gets an
                    // answer that says so, and the server keeps serving.
                    tracing::error!("PKIOperation worker failed: {e}");
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the server could not process this request; see its log",
                    )
                }
            }
        }
        "" => text(
            StatusCode::BAD_REQUEST,
            "missing operation= (GetCACaps, GetCACert, GetNextCACert, PKIOperation)",
        ),
        other => text(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown operation {other:?} (GetCACaps, GetCACert, GetNextCACert, PKIOperation)"
            ),
        ),
    })
}

/// The CRL of a service's CA over plain HTTP (RFC 5280 §5, `application/pkix-crl`).
async fn crl(app: Arc<App>, file: &str) -> Reply {
    let alias = file.strip_suffix(".crl").unwrap_or(file).to_owned();
    let Some(rt) = app.table().by_alias.get(&alias).cloned() else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no SCEP service with alias {alias:?}"),
        );
    };
    let worker = app.clone();
    match tokio::task::spawn_blocking(move || crate::crl::current_crl(&worker, &rt)).await {
        Ok(Ok(der)) => reply(StatusCode::OK, "application/pkix-crl", der),
        Ok(Err(e)) => {
            tracing::error!("making the CRL failed: {e:#}");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the CRL is not available right now; see the server log",
            )
        }
        Err(e) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the CRL task failed: {e}"),
        ),
    }
}

/// The POST body (RFC 8894 §4.1: the binary pkiMessage whatever Content-Type says),
/// within [`MAX_BODY_BYTES`] and [`crate::BODY_READ_TIMEOUT`].
async fn read_body(req: Request<Incoming>) -> Result<Vec<u8>, Reply> {
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    let read = tokio::time::timeout(
        crate::BODY_READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY_BYTES).collect(),
    );
    match read.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )),
        Ok(Err(e)) => Err(text(
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {e}"),
        )),
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {:?}",
                crate::BODY_READ_TIMEOUT
            ),
        )),
    }
}

fn health(app: &App) -> Reply {
    let health = crate::health::Health::of(&app.table(), false);
    text(health.status(), health.text())
}

/// What every refusal of a disabled service says.
pub fn disabled_reason(rt: &ServiceRuntime) -> String {
    format!(
        "SCEP service {:?} is disabled; an operator can enable it with `sceptic service enable {}`",
        rt.service.name, rt.service.name
    )
}
