//! `sceptic:net/http` against real sockets on 127.0.0.1: what the allow-list lets
//! through, and how every bound ends in an error for people, never a hang.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::*;
use crate::host::PluginIdentity;

/// A one-shot server: accepts one connection, returns what it read of the
/// request (up to the end of the headers and `Content-Length` of body), and
/// writes `answer`. None for `answer` accepts and never answers.
fn serve_once(answer: Option<Vec<u8>>) -> (u16, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let request = read_request(&mut stream);
        match answer {
            Some(bytes) => {
                stream.write_all(&bytes).unwrap();
            }
            // Hold the connection open past the client's timeout.
            None => std::thread::sleep(Duration::from_millis(1_500)),
        }
        request
    });
    (port, handle)
}

fn read_request(stream: &mut TcpStream) -> String {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap();
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + length || n == 0 {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

fn config(allowed: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(ALLOWED_HOSTS.to_owned(), allowed.to_owned())])
}

fn issuer_state(allowed: &str) -> PluginState {
    let identity = PluginIdentity {
        name: "test-issuer".into(),
        version: "0".into(),
        sha256: String::new(),
        wit: "0.2",
    };
    let mut state = PluginState::new(Arc::new(identity), "svc".into(), Arc::new(config(allowed)));
    let hosts = AllowedHosts::from_config(&config(allowed)).unwrap();
    state.http = Some(OutboundHttp::for_call(
        hosts,
        crate::limits::ISSUER_DEADLINE_MS,
    ));
    state
}

fn get(state: &mut PluginState, url: &str) -> Result<http::Response, String> {
    http::Host::request(state, "GET".into(), url.into(), Vec::new(), Vec::new())
}

#[test]
fn the_http_budget_leaves_the_plugin_part_of_any_deadline() {
    // The default: two seconds of ten for the plugin's own work.
    assert_eq!(
        http_call_budget_ms(crate::limits::ISSUER_DEADLINE_MS),
        8_000
    );
    // A long deadline still leaves two seconds; a short one a quarter.
    assert_eq!(
        http_call_budget_ms(crate::limits::MAX_ISSUER_DEADLINE_MS),
        28_000
    );
    assert_eq!(http_call_budget_ms(1_000), 750);
    assert_eq!(http_call_budget_ms(crate::limits::MIN_DEADLINE_MS), 38);
}

#[test]
fn an_allowed_host_gets_the_request_and_the_plugin_the_response() {
    let (port, server) = serve_once(Some(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"success\":false}".to_vec(),
    ));
    let mut state = issuer_state(&format!("ca.example:1, 127.0.0.1:{port}"));
    let response = http::Host::request(
        &mut state,
        "POST".into(),
        format!("http://127.0.0.1:{port}/api/v1/cfssl/sign"),
        vec![("Content-Type".into(), "application/json".into())],
        b"{\"certificate_request\":\"x\"}".to_vec(),
    )
    .unwrap();
    // An HTTP error status is a response, not an error: its body says why.
    assert_eq!(response.status, 400);
    assert_eq!(response.body, b"{\"success\":false}");
    assert!(
        response
            .headers
            .contains(&("content-type".into(), "application/json".into()))
    );
    let request = server.join().unwrap();
    assert!(
        request.starts_with("POST /api/v1/cfssl/sign HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with("{\"certificate_request\":\"x\"}"),
        "{request}"
    );
}

#[test]
fn a_chunked_response_arrives_decoded() {
    let (port, server) = serve_once(Some(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec(),
    ));
    let mut state = issuer_state(&format!("127.0.0.1:{port}"));
    let response = get(&mut state, &format!("http://127.0.0.1:{port}/")).unwrap();
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"hello world"[..])
    );
    server.join().unwrap();
}

#[test]
fn a_host_not_in_allowed_hosts_is_refused_without_a_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut state = issuer_state("127.0.0.1:1");
    let err = get(&mut state, &format!("http://127.0.0.1:{port}/")).unwrap_err();
    assert!(
        err.contains(&format!(
            "127.0.0.1:{port} is not in this issuer's allowed-hosts"
        )) && err.contains("it lists 127.0.0.1:1"),
        "{err}"
    );
    // The same host on the default port is another host:port.
    let err = get(&mut state, "http://127.0.0.1/").unwrap_err();
    assert!(err.contains("127.0.0.1:80 is not in"), "{err}");
    let err = get(&mut issuer_state(""), "http://127.0.0.1:1/").unwrap_err();
    assert!(err.contains("it lists no host"), "{err}");
    assert!(listener.accept().is_err(), "nothing may have connected");
}

#[test]
fn no_https_no_credentials_and_no_host_set_headers() {
    // A fresh call each time: every attempt counts against the call's requests.
    let state = || issuer_state("127.0.0.1:1 127.0.0.1:443");
    let err = get(&mut state(), "https://127.0.0.1/").unwrap_err();
    assert!(err.contains("plain http:// only"), "{err}");
    let err = get(&mut state(), "http://user:pw@127.0.0.1:1/").unwrap_err();
    assert!(err.contains("no user name or password"), "{err}");
    let err = get(&mut state(), "ftp://127.0.0.1:1/").unwrap_err();
    assert!(err.contains("must start with http://"), "{err}");
    let err = http::Host::request(
        &mut state(),
        "GET".into(),
        "http://127.0.0.1:1/".into(),
        vec![("Host".into(), "elsewhere".into())],
        Vec::new(),
    )
    .unwrap_err();
    assert!(err.contains("sets the Host header itself"), "{err}");
    let err = http::Host::request(
        &mut state(),
        "GET".into(),
        "http://127.0.0.1:1/".into(),
        vec![("x-a".into(), "1\r\nx-b: 2".into())],
        Vec::new(),
    )
    .unwrap_err();
    assert!(err.contains("cannot be sent"), "{err}");
}

#[test]
fn an_unreachable_host_fails_at_once_and_a_silent_one_within_the_timeout() {
    // A port nothing listens on: refused at once.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (silent, server) = serve_once(None);
    let mut state = issuer_state(&format!("127.0.0.1:{closed},127.0.0.1:{silent}"));
    let started = Instant::now();
    let err = get(&mut state, &format!("http://127.0.0.1:{closed}/")).unwrap_err();
    assert!(
        err.starts_with(&format!("cannot reach 127.0.0.1:{closed}")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));

    state.http.as_mut().unwrap().request_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = get(&mut state, &format!("http://127.0.0.1:{silent}/")).unwrap_err();
    assert_eq!(
        err,
        format!("127.0.0.1:{silent} did not answer within 300 ms")
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    server.join().unwrap();
}

#[test]
fn a_response_over_the_limit_is_an_error() {
    let big = MAX_HTTP_RESPONSE_BYTES as usize + 1;
    let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {big}\r\n\r\n").into_bytes();
    answer.resize(answer.len() + big, b'x');
    let (port, server) = serve_once(Some(answer));
    let mut state = issuer_state(&format!("127.0.0.1:{port}"));
    let err = get(&mut state, &format!("http://127.0.0.1:{port}/")).unwrap_err();
    assert!(err.contains("larger than 1024 KiB"), "{err}");
    let _ = server.join();
}

#[test]
fn redirects_are_returned_not_followed() {
    let (port, server) = serve_once(Some(
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ));
    let mut state = issuer_state(&format!("127.0.0.1:{port} 127.0.0.1:1"));
    let response = get(&mut state, &format!("http://127.0.0.1:{port}/")).unwrap();
    assert_eq!(response.status, 302);
    server.join().unwrap();
}

#[test]
fn a_call_makes_a_bounded_number_of_requests_within_its_budget() {
    let mut state = issuer_state("127.0.0.1:1");
    for _ in 0..MAX_HTTP_REQUESTS_PER_CALL {
        // Refused by the allow-list, but each attempt counts.
        assert!(get(&mut state, "http://127.0.0.1:2/").is_err());
    }
    let err = get(&mut state, "http://127.0.0.1:1/").unwrap_err();
    assert!(err.contains("already made 4 HTTP requests"), "{err}");

    let mut state = issuer_state("127.0.0.1:1");
    state.http.as_mut().unwrap().budget_ends = Instant::now();
    let err = get(&mut state, "http://127.0.0.1:1/").unwrap_err();
    assert!(err.contains("used up its 8000 ms"), "{err}");
}

#[test]
fn there_is_no_http_during_init() {
    let mut state = issuer_state("127.0.0.1:1");
    state.http = None;
    assert_eq!(
        get(&mut state, "http://127.0.0.1:1/").unwrap_err(),
        NOT_DURING_INIT
    );
}

#[test]
fn allowed_hosts_entries_are_host_and_port() {
    let hosts =
        AllowedHosts::from_config(&config("CA.Example:8888, 127.0.0.1:08889 [::1]:80")).unwrap();
    assert_eq!(hosts.0, ["ca.example:8888", "127.0.0.1:8889", "[::1]:80"]);
    for bad in ["127.0.0.1", "http://127.0.0.1:80", "u@127.0.0.1:80", ":80"] {
        let err = AllowedHosts::from_config(&config(bad)).unwrap_err();
        assert!(err.contains("must be host:port"), "{bad}: {err}");
    }
    assert_eq!(
        AllowedHosts::from_config(&BTreeMap::new()).unwrap().0,
        Vec::<String>::new()
    );
}

/// A component that imports `sceptic:net/http@0.2.0` links as an issuer and
/// never as a policy: policies do not reach the network.
#[test]
fn only_the_issuer_linker_provides_http() {
    let bytes = component_importing_http_request();
    let engine = crate::PluginEngine::new().unwrap();
    let component = wasmtime::component::Component::new(&engine.engine, &bytes).unwrap();
    engine.issuer_linker.instantiate_pre(&component).unwrap();
    let err = engine
        .policy_linker
        .instantiate_pre(&component)
        .err()
        .expect("a policy must not get http");
    assert!(
        format!("{err:#}").contains("sceptic:net/http@0.2.0"),
        "{err:#}"
    );
}

/// A component whose only import is net.wit's `http` instance with `request`
/// (an empty instance would match even a missing one).
fn component_importing_http_request() -> Vec<u8> {
    use wasm_encoder::{
        ComponentImportSection, ComponentTypeRef, ComponentTypeSection, ComponentValType as V,
        InstanceType, PrimitiveValType as P, TypeBounds,
    };
    let mut http = InstanceType::new();
    http.ty().defined_type().list(P::U8); // 0: body
    http.ty().defined_type().tuple([P::String, P::String]); // 1
    http.ty().defined_type().list(V::Type(1)); // 2: headers
    http.ty().defined_type().record([
        ("status", V::Primitive(P::U16)),
        ("headers", V::Type(2)),
        ("body", V::Type(0)),
    ]); // 3
    http.export("response", ComponentTypeRef::Type(TypeBounds::Eq(3))); // 4
    http.ty()
        .defined_type()
        .result(Some(V::Type(4)), Some(V::Primitive(P::String))); // 5
    http.ty()
        .function()
        .params([
            ("method", V::Primitive(P::String)),
            ("url", V::Primitive(P::String)),
            ("headers", V::Type(2)),
            ("body", V::Type(0)),
        ])
        .result(Some(V::Type(5))); // 6
    http.export("request", ComponentTypeRef::Func(6));
    let mut types = ComponentTypeSection::new();
    types.instance(&http);
    let mut imports = ComponentImportSection::new();
    imports.import("sceptic:net/http@0.2.0", ComponentTypeRef::Instance(0));
    let mut component = wasm_encoder::Component::new();
    component.section(&types).section(&imports);
    component.finish()
}
