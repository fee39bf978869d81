//! The admin API's HTTP plumbing: JSON answers and errors, reading a JSON body
//! field by field (so a wrong value names its field), path and query decoding,
//! and running a blocking operation off the async threads.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::App;
use crate::decisions::DecisionError;

pub(crate) type Reply = Response<Full<Bytes>>;

/// Largest JSON body the API reads (a bundle of trusted certificates fits).
const MAX_JSON_BYTES: usize = 256 * 1024;

pub(crate) fn json_reply(status: StatusCode, body: Value) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>, field: Option<&str>) -> Reply {
    let mut body = json!({ "error": message.into() });
    if let Some(field) = field {
        body["field"] = json!(field);
    }
    json_reply(status, body)
}

pub(crate) fn bad_field(field: &str, message: impl std::fmt::Display) -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        format!("{field}: {message}"),
        Some(field),
    )
}

/// Input the API refuses before doing anything (bad JSON, a bad or unknown
/// field): a 400 naming the field, if there is one.
#[derive(Debug)]
pub(crate) struct Refusal {
    field: Option<String>,
    message: String,
}

impl Refusal {
    pub(crate) fn field(field: &str, message: impl std::fmt::Display) -> Self {
        Self {
            field: Some(field.to_owned()),
            message: format!("{field}: {message}"),
        }
    }

    fn general(message: String) -> Self {
        Self {
            field: None,
            message,
        }
    }

    pub(crate) fn reply(self) -> Reply {
        error(StatusCode::BAD_REQUEST, self.message, self.field.as_deref())
    }
}

/// A decision's outcome as the answer: `ok` on success, else the status its
/// kind of error means. Client mistakes are 4xx; only the server's own are 5xx.
pub(crate) fn outcome(ok: StatusCode, result: Result<Value, DecisionError>) -> Reply {
    match result {
        Ok(body) => json_reply(ok, body),
        Err(DecisionError::NotFound(m)) => error(StatusCode::NOT_FOUND, m, None),
        Err(DecisionError::Conflict(m)) => error(StatusCode::CONFLICT, m, None),
        Err(DecisionError::Invalid { field, message }) => bad_field(field, message),
        Err(DecisionError::Forbidden(m)) => error(StatusCode::FORBIDDEN, m, None),
        Err(DecisionError::Failed(m)) => error(StatusCode::BAD_GATEWAY, m, None),
        Err(DecisionError::Internal(m)) => {
            tracing::error!("admin API: {m}");
            error(StatusCode::INTERNAL_SERVER_ERROR, m, None)
        }
    }
}

/// Runs blocking work (the store, plugin loading, key generation, the issuer)
/// on tokio's blocking pool and answers with its outcome.
pub(crate) async fn blocking(
    app: &std::sync::Arc<App>,
    ok: StatusCode,
    work: impl FnOnce(&App) -> Result<Value, DecisionError> + Send + 'static,
) -> Reply {
    let app = app.clone();
    match tokio::task::spawn_blocking(move || work(&app)).await {
        Ok(result) => outcome(ok, result),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the operation failed: {e}"),
            None,
        ),
    }
}

/// The body as JSON; an empty body reads as `{}`.
pub(crate) async fn read_json(req: Request<Incoming>) -> Result<Value, Refusal> {
    let bytes = Limited::new(req.into_body(), MAX_JSON_BYTES)
        .collect()
        .await
        .map_err(|e| {
            Refusal::general(format!(
                "could not read the body (at most {MAX_JSON_BYTES} bytes): {e}"
            ))
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Refusal::general(format!("the body is not valid JSON: {e}")))
}

/// A JSON object's fields, taken one by one; what is left over is unknown.
pub(crate) struct Fields(Map<String, Value>);

impl Fields {
    pub(crate) async fn read(req: Request<Incoming>) -> Result<Self, Refusal> {
        match read_json(req).await? {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(Refusal::general("the body must be a JSON object".into())),
        }
    }

    /// The raw value; JSON `null` reads as present (`Some(Value::Null)`).
    pub(crate) fn take(&mut self, field: &str) -> Option<Value> {
        self.0.remove(field)
    }

    /// A field's value, with `null` read as absent.
    fn present(&mut self, field: &str) -> Option<Value> {
        self.take(field).filter(|v| !v.is_null())
    }

    pub(crate) fn string(&mut self, field: &str) -> Result<Option<String>, Refusal> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Refusal::field(field, "must be a string")),
        }
    }

    pub(crate) fn bool(&mut self, field: &str) -> Result<Option<bool>, Refusal> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(Refusal::field(field, "must be true or false")),
        }
    }

    /// A whole number from 0 to `max`.
    pub(crate) fn number(&mut self, field: &str, max: u64) -> Result<Option<u64>, Refusal> {
        match self.present(field) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(Refusal::field(
                    field,
                    format!("must be a whole number from 0 to {max}"),
                )),
            },
        }
    }

    /// An id: a whole number from 1.
    pub(crate) fn id(&mut self, field: &str) -> Result<Option<i64>, Refusal> {
        match self.present(field) {
            None => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(Refusal::field(
                    field,
                    "must be an id (a whole number from 1)",
                )),
            },
        }
    }

    /// A list of strings: a JSON array, or one comma-separated string.
    pub(crate) fn list(&mut self, field: &str) -> Result<Option<Vec<String>>, Refusal> {
        match self.present(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.split(',').map(str::to_owned).collect())),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    _ => Err(Refusal::field(field, "must be a list of strings")),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(Refusal::field(field, "must be a list of strings")),
        }
    }

    /// A list that must be a JSON array: its items have commas of their own
    /// (plugin SPECs), so one comma-separated string would be ambiguous.
    pub(crate) fn array(&mut self, field: &str) -> Result<Option<Vec<String>>, Refusal> {
        if matches!(self.0.get(field), Some(Value::String(_))) {
            return Err(Refusal::field(
                field,
                "must be a JSON array of strings, one plugin SPEC each (a SPEC has commas \
                 of its own, so a single string is not split)",
            ));
        }
        self.list(field)
    }

    /// Refuses any field not taken: a misspelt setting is an error, not a no-op.
    pub(crate) fn finish(self) -> Result<(), Refusal> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(key) => Err(Refusal::field(
                key,
                "unknown field (GET /api/v1/openapi.json lists the fields each call takes)",
            )),
        }
    }
}

/// Percent-decoding of one path segment or query value (`+` is a space only in
/// a query). `None` when the result is not UTF-8 or an escape is broken.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A query parameter, decoded.
pub(crate) fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v, true).unwrap_or_else(|| v.to_owned()))
    })
}

/// A path parameter that must be an id.
pub(crate) fn id_param(text: &str, what: &str) -> Result<i64, Refusal> {
    text.parse::<i64>().map_err(|_| {
        Refusal::field(
            "id",
            format!("the {what} id must be a number, not {text:?}"),
        )
    })
}
