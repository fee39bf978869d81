//! The host side of WIT v0.2's `sceptic:net/http`: outbound HTTP for issuer
//! adapters (a CA with an HTTP API, e.g. CFSSL), and only to the hosts the
//! operator listed in the issuer's `allowed-hosts` setting.
//!
//! The epoch deadline cannot interrupt a host function, so this module bounds
//! its own time: every request has a connect and a total timeout, and all the
//! requests of one call share a budget that ends before the issuer's deadline.
//! The plugin then still has time to turn an error into a rejection with a reason
//! (the client gets FAILURE with failInfoText) instead of timing out.
//!
//! The client is `ureq` 3, with its default features off: a small, blocking
//! HTTP/1.1 client (no async runtime: issuer calls run on blocking threads, and
//! some run outside any runtime, e.g. `sceptic service edit`), with per-phase
//! timeouts, a response size limit, and no TLS. Redirects and proxies are turned
//! off here: each would send a request to a host that `allowed-hosts` did not name.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ureq::http::{Method, Uri};

use crate::bindings::v0_2::http;
use crate::host::PluginState;
use crate::limits::ISSUER_DEADLINE_MS;

/// The issuer setting that lists the hosts it may reach. The host reads it from
/// the operator's configuration; the plugin cannot change it.
pub const ALLOWED_HOSTS: &str = "allowed-hosts";

/// Time to establish a connection (and resolve a name). A CA on loopback or the
/// local network connects in milliseconds; two seconds survive one lost SYN (the
/// first retransmission is after one second) and still fail fast when the CA is
/// down.
pub const HTTP_CONNECT_TIMEOUT_MS: u64 = 2_000;

/// Time for one whole exchange: connect, send, response head and body. CFSSL
/// signs in milliseconds; five seconds tolerate a loaded CA, and a CA that
/// accepts but never answers costs the client five seconds, not a hang.
pub const HTTP_REQUEST_TIMEOUT_MS: u64 = 5_000;

/// What of the issuer's deadline the HTTP requests of one call leave for
/// instantiation, `init` and the plugin's own work after its last request (the
/// Python CFSSL adapter: 3 ms median), so a slow CA ends in the plugin's
/// rejection, with its reason, rather than a timeout. Two seconds, or a quarter
/// of a deadline shorter than eight.
pub const HTTP_PLUGIN_RESERVE_MS: u64 = 2_000;

/// Time all the requests of one call may take together: the issuer's deadline
/// less the plugin's reserve. With the default deadline, eight seconds.
pub const fn http_call_budget_ms(deadline_ms: u64) -> u64 {
    let quarter = deadline_ms / 4;
    let reserve = if quarter < HTTP_PLUGIN_RESERVE_MS {
        quarter
    } else {
        HTTP_PLUGIN_RESERVE_MS
    };
    deadline_ms - reserve
}

/// Requests one call may make. An adapter needs one or two per call (CFSSL: one);
/// four leave room for a lookup or a retry and stop a plugin that loops.
pub const MAX_HTTP_REQUESTS_PER_CALL: u32 = 4;

/// The largest response body the host reads. A CA answers with a certificate
/// or a chain in JSON, a few KiB; 1 MiB bounds what one request can make the
/// host hold and copy into the plugin's memory.
pub const MAX_HTTP_RESPONSE_BYTES: u64 = 1 << 20;

/// The largest request body. A CSR wrapped in JSON is a few KiB.
pub const MAX_HTTP_REQUEST_BYTES: usize = 1 << 20;

/// Headers one request may carry (besides the ones the host sets). An API call
/// needs a few: content type, accept, authorization.
pub const MAX_HTTP_REQUEST_HEADERS: usize = 32;

/// Headers the host sets itself, or that would change how the request is framed.
const HOST_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// What `request` answers during `init` (see net.wit).
const NOT_DURING_INIT: &str = "outbound HTTP is not available during init";

const _: () = assert!(HTTP_CONNECT_TIMEOUT_MS <= HTTP_REQUEST_TIMEOUT_MS);
// With the default deadline one request may take its whole timeout.
const _: () = assert!(HTTP_REQUEST_TIMEOUT_MS <= http_call_budget_ms(ISSUER_DEADLINE_MS));

/// The issuer's `allowed-hosts`: `host:port` entries, lower case, port as a number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    /// Reads the setting (commas or spaces between entries). Err tells the
    /// operator which entry is wrong; no setting allows no host.
    pub(crate) fn from_config(config: &BTreeMap<String, String>) -> Result<Self, String> {
        let Some(text) = config.get(ALLOWED_HOSTS) else {
            return Ok(Self::default());
        };
        let mut hosts = Vec::new();
        for entry in text.split([',', ' ', '\t']).filter(|e| !e.is_empty()) {
            let bad = || {
                format!("{ALLOWED_HOSTS} entry {entry:?} must be host:port, e.g. 127.0.0.1:8888")
            };
            let authority: ureq::http::uri::Authority = entry.parse().map_err(|_| bad())?;
            let port = authority.port_u16().ok_or_else(bad)?;
            if entry.contains('@') || authority.host().is_empty() {
                return Err(bad());
            }
            hosts.push(format!("{}:{port}", authority.host().to_ascii_lowercase()));
        }
        Ok(Self(hosts))
    }

    fn allows(&self, host_port: &str) -> bool {
        self.0.iter().any(|h| h == host_port)
    }

    fn describe(&self) -> String {
        if self.0.is_empty() {
            "it lists no host".into()
        } else {
            format!("it lists {}", self.0.join(", "))
        }
    }
}

/// One call's outbound HTTP: where it may go, and what it has left. Lent to the
/// call after `init`.
pub(crate) struct OutboundHttp {
    allowed: AllowedHosts,
    budget_ends: Instant,
    budget_ms: u64,
    requests_left: u32,
    request_timeout: Duration,
    connect_timeout: Duration,
}

impl OutboundHttp {
    /// The budget counts from now: create it when the call starts, which has
    /// `deadline_ms` in all.
    pub(crate) fn for_call(allowed: AllowedHosts, deadline_ms: u64) -> Self {
        let budget_ms = http_call_budget_ms(deadline_ms);
        Self {
            allowed,
            budget_ends: Instant::now() + Duration::from_millis(budget_ms),
            budget_ms,
            requests_left: MAX_HTTP_REQUESTS_PER_CALL,
            request_timeout: Duration::from_millis(HTTP_REQUEST_TIMEOUT_MS),
            connect_timeout: Duration::from_millis(HTTP_CONNECT_TIMEOUT_MS),
        }
    }

    fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<http::Response, String> {
        if self.requests_left == 0 {
            return Err(format!(
                "this call already made {MAX_HTTP_REQUESTS_PER_CALL} HTTP requests, the most the host allows in one call"
            ));
        }
        self.requests_left -= 1;
        let (uri, target) = checked_url(url, &self.allowed)?;
        let left = self.budget_ends.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "this call used up its {} ms for HTTP requests",
                self.budget_ms
            ));
        }
        let timeout = self.request_timeout.min(left);
        let request = build_request(method, uri, headers, body)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .max_idle_connections(0)
            .user_agent("sceptic")
            .timeout_global(Some(timeout))
            .timeout_resolve(Some(self.connect_timeout.min(timeout)))
            .timeout_connect(Some(self.connect_timeout.min(timeout)))
            .build();
        let failed = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => {
                format!("{target} did not answer within {} ms", timeout.as_millis())
            }
            ureq::Error::BodyExceedsLimit(_) => format!(
                "the response from {target} is larger than {} KiB, the most the host reads",
                MAX_HTTP_RESPONSE_BYTES >> 10
            ),
            ureq::Error::Io(e) => format!("cannot reach {target}: {e}"),
            ureq::Error::HostNotFound => format!("cannot resolve the host of {target}"),
            other => format!("the HTTP exchange with {target} failed: {other}"),
        };
        let response = ureq::Agent::new_with_config(config)
            .run(request)
            .map_err(failed)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let body = response
            .into_body()
            .with_config()
            .limit(MAX_HTTP_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(failed)?;
        Ok(http::Response {
            status,
            headers,
            body,
        })
    }
}

/// The URL as a `Uri` and its `host:port`, if the issuer may reach it. The very
/// `Uri` checked here is the one sent: no second parser can read it differently.
fn checked_url(url: &str, allowed: &AllowedHosts) -> Result<(Uri, String), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{url}: the host's HTTP client speaks plain http:// only (no TLS); reach the CA on loopback or a trusted network"
            ));
        }
        _ => return Err(format!("{url:?} must start with http://")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{url:?} names no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "{url:?}: no user name or password in the URL; send an authorization header"
        ));
    }
    let target = format!(
        "{}:{}",
        authority.host().to_ascii_lowercase(),
        authority.port_u16().unwrap_or(80)
    );
    if !allowed.allows(&target) {
        return Err(format!(
            "{target} is not in this issuer's {ALLOWED_HOSTS} setting ({}); the operator adds it to the issuer's settings: {ALLOWED_HOSTS}={target}",
            allowed.describe()
        ));
    }
    Ok((uri, target))
}

fn build_request(
    method: &str,
    uri: Uri,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<ureq::http::Request<Vec<u8>>, String> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("{method:?} is not an HTTP method"))?;
    if headers.len() > MAX_HTTP_REQUEST_HEADERS {
        return Err(format!(
            "{} headers; the host sends at most {MAX_HTTP_REQUEST_HEADERS}",
            headers.len()
        ));
    }
    if body.len() > MAX_HTTP_REQUEST_BYTES {
        return Err(format!(
            "a request body of {} bytes; the host sends at most {} KiB",
            body.len(),
            MAX_HTTP_REQUEST_BYTES >> 10
        ));
    }
    let mut builder = ureq::http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        if HOST_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("the host sets the {name} header itself"));
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    // The http crate refuses header names and values that are not valid (e.g. a
    // line break that would smuggle in another header).
    builder
        .body(body)
        .map_err(|e| format!("the request cannot be sent: {e}"))
}

impl http::Host for PluginState {
    fn request(
        &mut self,
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<http::Response, String> {
        let outbound = self.http.as_mut().ok_or(NOT_DURING_INIT)?;
        let started = Instant::now();
        let result = outbound.send(&method, &url, &headers, body);
        let (plugin, service) = (&*self.identity, &*self.service);
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(r) => tracing::debug!(%plugin, service, ms, "{method} {url}: {}", r.status),
            Err(e) => tracing::warn!(%plugin, service, ms, "{method} {url}: {e}"),
        }
        result
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
