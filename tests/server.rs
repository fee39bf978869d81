//! The SCEP server over real HTTP, checked exactly with the crate's own client
//! (an independent pure-Rust implementation of the client side), plus plugin faults.

mod common;

use std::time::{Duration, Instant};

use common::{Server, header, http, openssl, scratch};
use der::Decode;
use sceptic_proto::client::{self, Quirks, RequestOptions, Requester};
use sceptic_proto::{ContentCipher, DigestAlg, FailInfo, KeyTransport, MessageType, PkiStatus};

fn options(cipher: ContentCipher, digest: DigestAlg) -> RequestOptions {
    RequestOptions {
        message_type: MessageType::PkcsReq,
        transaction_id: format!("test-{}", rand_suffix()),
        digest,
        cipher,
        key_transport: KeyTransport::Pkcs1v15,
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn post(server: &Server, alias: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http(
        server.port,
        "POST",
        &format!("/scep/{alias}/pkiclient.exe?operation=PKIOperation"),
        &[],
        body,
    )
}

/// A fresh requester asks `alias` for a certificate with `challenge`; returns the
/// requester (to read the reply) and the decoded reply.
fn enroll(
    server: &Server,
    alias: &str,
    cn: &str,
    challenge: &str,
    cipher: ContentCipher,
) -> client::Reply {
    let ra = server.ra_cert(alias);
    let requester = Requester::generate(2048, cn);
    let csr = client::build_csr(&requester.key, &format!("CN={cn}"), Some(challenge), &[]);
    let (request, _) =
        client::build_request(&requester, &ra, &csr, &options(cipher, DigestAlg::Sha256));
    let (status, _, body) = post(server, alias, &request);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    client::read_cert_rep(&body, &requester).unwrap()
}

#[test]
fn get_ca_caps_advertises_exactly_what_the_service_enforces() {
    let server = Server::start("caps");
    for suffix in ["", "/pkiclient.exe", "/cgi-bin/pkiclient.exe"] {
        let (status, headers, body) = http(
            server.port,
            "GET",
            &format!("/scep/default{suffix}?operation=GetCACaps"),
            &[],
            &[],
        );
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), Some("text/plain"));
        assert_eq!(
            body,
            b"AES\nDES3\nPOSTPKIOperation\nSCEPStandard\nSHA-1\nSHA-256\nSHA-512\n"
        );
    }
    // Without AES the service must not claim AES, nor SCEPStandard (which implies it).
    server.reconfigure(&["service", "edit", "default", "--client-ciphers", "des3"]);
    let (_, _, body) = http(
        server.port,
        "GET",
        "/scep/default?operation=GetCACaps",
        &[],
        &[],
    );
    assert_eq!(body, b"DES3\nPOSTPKIOperation\nSHA-1\nSHA-256\nSHA-512\n");
    let (status, _, body) = http(
        server.port,
        "GET",
        "/scep/nosuch?operation=GetCACaps",
        &[],
        &[],
    );
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("nosuch"));
}

#[test]
fn get_ca_cert_returns_ca_and_ra_for_any_message_value() {
    let server = Server::start("cacert");
    for message in ["", "&message=0", "&message=1", "&message=anything"] {
        let (status, headers, _) = http(
            server.port,
            "GET",
            &format!("/scep/default?operation=GetCACert{message}"),
            &[],
            &[],
        );
        assert_eq!(status, 200, "message {message:?}");
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/x-x509-ca-ra-cert")
        );
    }
    let certs = server.ca_certs("default");
    assert_eq!(certs.len(), 2, "CA and RA");
    let ca_pem = std::fs::read_to_string(server.ca_pem()).unwrap();
    assert_eq!(
        der::pem::decode_vec(ca_pem.as_bytes()).unwrap().1,
        certs[0],
        "CA first, as in ca.pem"
    );
    let dir = scratch("ra");
    let ra_file = dir.join("ra.der");
    std::fs::write(&ra_file, &certs[1]).unwrap();
    let ra_pem = openssl(&["x509", "-inform", "DER", "-in", ra_file.to_str().unwrap()]);
    std::fs::write(dir.join("ra.pem"), ra_pem).unwrap();
    common::openssl_verify(&server.ca_pem(), &dir.join("ra.pem"));
    let usage = openssl(&[
        "x509",
        "-in",
        dir.join("ra.pem").to_str().unwrap(),
        "-noout",
        "-ext",
        "keyUsage",
    ]);
    assert!(
        usage.contains("Digital Signature") && usage.contains("Key Encipherment"),
        "{usage}"
    );
}

#[test]
fn exact_enrollment_by_post_and_by_get_with_ber_and_sans() {
    let server = Server::start("exact");
    let ra = server.ra_cert("default");
    let requester = Requester::generate(2048, "device-7");
    let csr = client::build_csr(
        &requester.key,
        "CN=device-7,O=Example",
        Some(&server.secret),
        &["device-7.example.net"],
    );
    let opts = options(ContentCipher::Aes256, DigestAlg::Sha256);
    // BER as Apple and Go clients send it: indefinite lengths, chunked content.
    let ber = Quirks {
        ber: true,
        unsorted_attributes: true,
        ..Quirks::default()
    };
    let (request, nonce) = client::build_request_with(&requester, &ra, &csr, &opts, &ber);
    let (status, headers, body) = post(&server, "default", &request);
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/x-pki-message")
    );
    let reply = client::read_cert_rep(&body, &requester).unwrap();
    assert_eq!(
        reply.message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        reply.message.fail_info_text
    );
    assert_eq!(reply.message.transaction_id, opts.transaction_id);
    assert_eq!(
        reply.message.recipient_nonce.as_deref(),
        Some(nonce.as_slice())
    );
    assert_ne!(reply.message.sender_nonce, nonce);
    assert_eq!(
        reply.cipher,
        Some(ContentCipher::Aes256),
        "answered in the request's cipher"
    );
    assert_eq!(reply.issued_certificates.len(), 1);
    let issued = x509_cert::Certificate::from_der(&reply.issued_certificates[0]).unwrap();
    let requested = x509_cert::request::CertReq::from_der(&csr).unwrap();
    assert_eq!(issued.tbs_certificate().subject(), &requested.info.subject);
    assert_eq!(
        issued.tbs_certificate().subject_public_key_info(),
        &requested.info.public_key
    );
    let dir = scratch("issued");
    std::fs::write(dir.join("cert.der"), &reply.issued_certificates[0]).unwrap();
    let text = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        dir.join("cert.der").to_str().unwrap(),
        "-text",
        "-noout",
    ]);
    assert!(text.contains("DNS:device-7.example.net"), "{text}");
    let pem = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        dir.join("cert.der").to_str().unwrap(),
    ]);
    std::fs::write(dir.join("cert.pem"), pem).unwrap();
    common::openssl_verify(&server.ca_pem(), &dir.join("cert.pem"));

    // By GET, 3DES with SHA-512, the message percent-encoded (certmonger's form).
    let secret = server.new_secret("default");
    let requester = Requester::generate(2048, "device-8");
    let csr = client::build_csr(&requester.key, "CN=device-8", Some(&secret), &[]);
    let opts = options(ContentCipher::Des3, DigestAlg::Sha512);
    let (request, _) = client::build_request(&requester, &ra, &csr, &opts);
    let b64 = base64_standard(&request);
    let escaped = b64
        .replace('+', "%2B")
        .replace('/', "%2f")
        .replace('=', "%3D");
    let target = format!("/scep/default?operation=PKIOperation&message={escaped}");
    assert!(target.len() > 3_000);
    let (status, _, body) = http(server.port, "GET", &target, &[], &[]);
    assert_eq!(status, 200);
    let reply = client::read_cert_rep(&body, &requester).unwrap();
    assert_eq!(
        reply.message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        reply.message.fail_info_text
    );
    assert_eq!(reply.cipher, Some(ContentCipher::Des3));
    assert_eq!(server.count("select count(*) from certificates"), 2);
}

#[test]
fn refusals_are_signed_failures_and_garbage_is_a_400() {
    let server = Server::start("refusals");
    let ra = server.ra_cert("default");
    let requester = Requester::generate(2048, "device-9");

    // Wrong secret: FAILURE badRequest, signed, addressed to the request.
    let csr = client::build_csr(&requester.key, "CN=device-9", Some("wrong"), &[]);
    let opts = options(ContentCipher::Aes128, DigestAlg::Sha1);
    let (request, nonce) = client::build_request(&requester, &ra, &csr, &opts);
    let (status, _, body) = post(&server, "default", &request);
    assert_eq!(status, 200);
    let reply = client::read_cert_rep(&body, &requester).unwrap();
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Failure));
    assert_eq!(reply.message.fail_info, Some(FailInfo::BadRequest));
    assert_eq!(reply.message.transaction_id, opts.transaction_id);
    assert_eq!(
        reply.message.recipient_nonce.as_deref(),
        Some(nonce.as_slice())
    );

    // Single DES on a default service: badAlg.
    let csr = client::build_csr(&requester.key, "CN=device-9", Some(&server.secret), &[]);
    let (request, _) = client::build_request(
        &requester,
        &ra,
        &csr,
        &options(ContentCipher::Des, DigestAlg::Sha256),
    );
    let (_, _, body) = post(&server, "default", &request);
    let reply = client::read_cert_rep(&body, &requester).unwrap();
    assert_eq!(reply.message.fail_info, Some(FailInfo::BadAlg));

    // Encrypted to another RA: badMessageCheck.
    let other_ra = Requester::generate(2048, "not-our-ra");
    let (request, _) = client::build_request(
        &requester,
        &other_ra.certificate_der,
        &csr,
        &options(ContentCipher::Aes256, DigestAlg::Sha256),
    );
    let (_, _, body) = post(&server, "default", &request);
    let reply = client::read_cert_rep(&body, &requester).unwrap();
    assert_eq!(reply.message.fail_info, Some(FailInfo::BadMessageCheck));

    // Not a SCEP message at all: 400 with a reason, not a 500.
    let (status, _, body) = post(&server, "default", b"definitely not CMS");
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("malformed"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, _) = http(
        server.port,
        "GET",
        "/scep/default?operation=PKIOperation&message=%%%",
        &[],
        &[],
    );
    assert_eq!(status, 400);

    // A body announced larger than the limit is refused before it is read.
    let huge = "POST /scep/default?operation=PKIOperation HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775807\r\n\r\n";
    let started = Instant::now();
    assert!(common::raw_status(server.port, huge.as_bytes()).contains(" 413 "));
    assert!(started.elapsed() < Duration::from_secs(5));
    // A broken chunked body is a bad request, not "too large".
    let chunked = "POST /scep/default?operation=PKIOperation HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n";
    assert!(common::raw_status(server.port, chunked.as_bytes()).contains(" 400 "));

    // None of it spent the secret: it still enrolls.
    let (request, _) = client::build_request(
        &requester,
        &ra,
        &csr,
        &options(ContentCipher::Aes256, DigestAlg::Sha256),
    );
    let (_, _, body) = post(&server, "default", &request);
    let reply = client::read_cert_rep(&body, &requester).unwrap();
    assert_eq!(
        reply.message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        reply.message.fail_info_text
    );
}

/// Each service runs the fault policy under limits set in its SPEC, so each
/// fault is the one its limit names: a loop with the most fuel meets its
/// deadline, the same loop with little fuel runs dry, the hoarder meets a
/// 16 MiB cap.
const FAULT_SERVICES: &[(&str, &str, &str)] = &[
    (
        "loop",
        "fault=loop,sceptic.deadline-ms=300,sceptic.fuel=10000000000",
        "timeout",
    ),
    ("fuel", "fault=loop,sceptic.fuel=5000000", "out-of-fuel"),
    ("trap", "fault=trap", "trap"),
    (
        "memory",
        "fault=memory,sceptic.memory-mib=16",
        "out-of-memory",
    ),
];

#[test]
fn faulting_policies_deny_within_their_limits_and_others_keep_serving() {
    let server = Server::start("faults");
    let fault = common::fault_component();
    for (service, settings, _) in FAULT_SERVICES {
        server.cli_ok(&[
            "service",
            "add",
            service,
            "--policy",
            &format!("{},{settings}", fault.display()),
        ]);
    }
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--client-ciphers",
        "aes256,aes128",
    ]);
    let limits = server.cli_ok(&["service", "plugins", "memory"]);
    assert!(
        limits.contains("deadline=1000ms memory=16MiB fuel=1000000000"),
        "{limits}"
    );
    for (service, _, _) in FAULT_SERVICES {
        let secret = server.new_secret(service);
        let started = Instant::now();
        let reply = enroll(&server, service, service, &secret, ContentCipher::Aes256);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{service} took {:?}",
            started.elapsed()
        );
        assert_eq!(
            reply.message.pki_status,
            Some(PkiStatus::Failure),
            "{service}"
        );
        assert_eq!(
            reply.message.fail_info,
            Some(FailInfo::BadRequest),
            "{service}"
        );

        // The next good request, on another service, succeeds.
        let secret = server.new_secret("default");
        let reply = enroll(&server, "default", "good", &secret, ContentCipher::Aes256);
        assert_eq!(
            reply.message.pki_status,
            Some(PkiStatus::Success),
            "after {service}: {:?}",
            reply.message.fail_info_text
        );
    }
    let audit = server.audit_events();
    for (service, _, kind) in FAULT_SERVICES {
        assert!(
            audit.lines().any(|l| l.starts_with(&format!("{service}|plugin-fault|fault_policy@file|{kind}"))),
            "no {kind} fault audited for {service}:\n{audit}"
        );
    }
    assert!(audit.contains("memory cap of 16 MiB"), "{audit}");
    // An operator reads the same from the CLI.
    let shown = server.cli_ok(&["audit", "--service", "fuel", "--event", "plugin-fault"]);
    let line = shown.lines().nth(1).unwrap_or_else(|| panic!("{shown}"));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        (fields[1], fields[3], fields[4]),
        ("fuel", "plugin-fault", "fault_policy@file"),
        "{shown}"
    );
    assert!(fields[5].starts_with("out-of-fuel: "), "{shown}");
    assert_eq!(
        shown.lines().count(),
        2,
        "one fault on service fuel: {shown}"
    );
    assert!(audit.contains("fuel (5000000)"), "{audit}");
    assert_eq!(server.count("select count(*) from certificates"), 4);
}

#[test]
fn concurrent_uses_of_one_single_use_secret_issue_one_certificate() {
    const RACERS: usize = 50;
    let server = Server::start("race");
    let ra = server.ra_cert("default");
    // Requests are built first so that they reach the server together.
    let requests: Vec<_> = (0..RACERS)
        .map(|i| {
            let requester = Requester::generate(2048, &format!("racer-{i}"));
            let csr = client::build_csr(
                &requester.key,
                &format!("CN=racer-{i}"),
                Some(&server.secret),
                &[],
            );
            let (request, _) = client::build_request(
                &requester,
                &ra,
                &csr,
                &options(ContentCipher::Aes256, DigestAlg::Sha256),
            );
            (requester, request)
        })
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(RACERS));
    let port = server.port;
    let outcomes: Vec<_> = requests
        .into_iter()
        .map(|(requester, request)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let (_, _, body) = http(
                    port,
                    "POST",
                    "/scep/default?operation=PKIOperation",
                    &[],
                    &request,
                );
                client::read_cert_rep(&body, &requester)
                    .unwrap()
                    .message
                    .pki_status
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let successes = outcomes
        .iter()
        .filter(|s| **s == Some(PkiStatus::Success))
        .count();
    assert_eq!(successes, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|s| matches!(s, Some(PkiStatus::Success | PkiStatus::Failure)))
    );
    assert_eq!(server.count("select count(*) from certificates"), 1);
    assert_eq!(
        server.count("select count(*) from secrets where used_at is not null"),
        1
    );
}

fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_plugin_that_keeps_faulting_is_quarantined_and_health_names_it() {
    let server = Server::start("quarantine");
    let fault = common::fault_component();
    let spec = format!("{},fault=trap", fault.display());
    server.reconfigure(&["service", "add", "trap", "--policy", &spec]);
    let secret = server.new_secret("trap");
    // limits::QUARANTINE_AFTER_FAULTS is 5: five traps, then it is not called.
    for i in 0..5 {
        let reply = enroll(
            &server,
            "trap",
            &format!("t{i}"),
            &secret,
            ContentCipher::Aes128,
        );
        let text = reply.message.fail_info_text.unwrap_or_default();
        assert!(text.contains("trapped"), "{text}");
    }
    let (status, _, body) = http(server.port, "GET", "/health", &[], &[]);
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("trap: plugin fault_policy@file quarantined"),
        "{body}"
    );
    let reply = enroll(&server, "trap", "t5", &secret, ContentCipher::Aes128);
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Failure));
    let text = reply.message.fail_info_text.unwrap_or_default();
    assert!(text.contains("quarantined"), "{text}");
    assert!(
        server
            .audit_events()
            .lines()
            .any(|l| l.starts_with("trap|plugin-fault|fault_policy@file|quarantined")),
        "{}",
        server.audit_events()
    );
    // Other services keep serving; an edit reloads the plugin and lifts it.
    let good = server.new_secret("default");
    let reply = enroll(&server, "default", "fine", &good, ContentCipher::Aes128);
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Success));
    server.reconfigure(&[
        "service",
        "edit",
        "trap",
        "--policy",
        &format!("{},fault=none", fault.display()),
    ]);
    let (status, _, body) = http(server.port, "GET", "/health", &[], &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn precompiled_plugins_are_kept_privately_and_a_damaged_one_is_compiled_again() {
    use std::os::unix::fs::PermissionsExt;
    let mut server = Server::start("plugin-cache");
    let cache = server.data_dir.join("plugin-cache");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert!(files.len() >= 2, "{files:?}");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    // A damaged file is not trusted: it is replaced, and the server still serves.
    std::fs::write(&files[0], b"not a precompiled component").unwrap();
    server.restart();
    let secret = server.new_secret("default");
    let reply = enroll(
        &server,
        "default",
        "after-restart",
        &secret,
        ContentCipher::Aes128,
    );
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Success));
    assert_ne!(
        std::fs::read(&files[0]).unwrap(),
        b"not a precompiled component"
    );
}

/// Live swap (issue: plugin platform): the chain changes while 200 enrollments
/// run; none fails because of it, and requests after the swap follow the new
/// chain. In-flight requests finish on the table they started with.
#[test]
fn swapping_a_policy_under_load_fails_no_request_and_the_new_policy_applies_after() {
    let server = Server::start("swap");
    server.cli_ok(&[
        "secret",
        "add",
        "--service",
        "default",
        "--value",
        "swap-load-secret",
        "--global",
    ]);
    let policy = server.root.join("no-blocked.cel");
    std::fs::write(
        &policy,
        "request.csr.subject.startsWith(\"CN=blocked\") ? \"deny:blocked by the new policy\" : true\n",
    )
    .unwrap();
    let ra = server.ra_cert("default");
    // Key generation is client work: a few requesters, many transactions.
    let requesters: Vec<Requester> = (0..4)
        .map(|i| Requester::generate(2048, &format!("load-{i}")))
        .collect();
    let port = server.port;
    // When the swap is done; the loader keeps going until it has made at least
    // 200 enrollments and 50 of them after the swap (bounded in count and time).
    let swapped: std::sync::Arc<std::sync::Mutex<Option<Instant>>> = Default::default();
    let swapped_seen = swapped.clone();
    let loader = std::thread::spawn(move || {
        let mut outcomes = Vec::new();
        let started = Instant::now();
        for i in 0..2_000 {
            let after = swapped_seen
                .lock()
                .unwrap()
                .map(|at| outcomes.iter().filter(|(t, _)| *t > at).count());
            if (i >= 200 && after.is_some_and(|n| n >= 50))
                || started.elapsed() > Duration::from_secs(240)
            {
                break;
            }
            let requester = &requesters[i % requesters.len()];
            let csr = client::build_csr(
                &requester.key,
                &format!("CN=load-{i}"),
                Some("swap-load-secret"),
                &[],
            );
            let mut opts = options(ContentCipher::Aes128, DigestAlg::Sha256);
            opts.transaction_id = format!("swap-{i}");
            let (body, _) = client::build_request(requester, &ra, &csr, &opts);
            let (status, _, answer) = http(
                port,
                "POST",
                "/scep/default?operation=PKIOperation",
                &[],
                &body,
            );
            let reply = (status == 200)
                .then(|| client::read_cert_rep(&answer, requester).ok())
                .flatten();
            outcomes.push((Instant::now(), reply.and_then(|r| r.message.pki_status)));
            std::thread::sleep(Duration::from_millis(10));
        }
        outcomes
    });
    std::thread::sleep(Duration::from_millis(300));
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--policy",
        "builtin:secret-policy",
        "--policy",
        &format!("builtin:script-policy,file={}", policy.display()),
    ]);
    let swapped_at = Instant::now();
    *swapped.lock().unwrap() = Some(swapped_at);
    let outcomes = loader.join().unwrap();
    let after = outcomes.iter().filter(|(at, _)| *at > swapped_at).count();
    let before = outcomes.len() - after;
    assert!(outcomes.len() >= 200, "only {} enrollments", outcomes.len());
    assert!(
        after >= 50 && before > 0,
        "the swap must land mid-load ({before} before, {after} after)"
    );
    let failed = outcomes
        .iter()
        .filter(|(_, o)| *o != Some(PkiStatus::Success))
        .count();
    assert_eq!(failed, 0, "requests failed during the swap: {outcomes:?}");
    assert!(server.log_text().contains("service configuration reloaded"));

    let blocked = enroll(
        &server,
        "default",
        "blocked-1",
        "swap-load-secret",
        ContentCipher::Aes128,
    );
    assert_eq!(blocked.message.pki_status, Some(PkiStatus::Failure));
    let text = blocked.message.fail_info_text.unwrap_or_default();
    assert!(text.contains("blocked by the new policy"), "{text}");
}

#[test]
fn sighup_reloads_files_a_configuration_names_and_a_broken_one_changes_nothing() {
    let server = Server::start("sighup");
    let policy = server.root.join("gate.cel");
    std::fs::write(&policy, "true\n").unwrap();
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--policy",
        "builtin:secret-policy",
        "--policy",
        &format!("builtin:script-policy,file={}", policy.display()),
    ]);
    let try_enroll = |cn: &str| {
        let secret = server.new_secret("default");
        enroll(&server, "default", cn, &secret, ContentCipher::Aes128)
    };
    assert_eq!(
        try_enroll("before").message.pki_status,
        Some(PkiStatus::Success)
    );

    // The file changes; the database does not. SIGHUP makes the server read it.
    std::fs::write(&policy, "\"deny:closed for maintenance\"\n").unwrap();
    server.hang_up();
    let reply = try_enroll("after");
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Failure));
    assert!(
        reply
            .message
            .fail_info_text
            .unwrap_or_default()
            .contains("closed for maintenance")
    );

    // A file that no longer loads: the previous configuration keeps serving.
    std::fs::write(&policy, "request.csr.no_such_field\n").unwrap();
    server.hang_up();
    let reply = try_enroll("still-closed");
    assert!(
        reply
            .message
            .fail_info_text
            .unwrap_or_default()
            .contains("closed for maintenance")
    );
    let log = server.log_text();
    assert!(log.contains("the previous one keeps serving"), "{log}");
    assert!(log.contains("SIGHUP: not reloaded: default"), "{log}");
    // Still serving, so 200, but the operator is told the edit did not take.
    let (status, _, body) = common::http(server.port, "GET", "/health", &[], &[]);
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("default: serving its previous configuration")
            && !body.contains("no_such_field"),
        "{body}"
    );
    let (status, report) = server.health_report();
    assert_eq!(status, 200, "{report}");
    assert!(
        report.contains("default: serving its previous configuration")
            && report.contains("no_such_field"),
        "{report}"
    );
}

/// Issuer faults (issue: plugin platform): an issuer that returns garbage, one
/// that traps until it is quarantined, and one whose `init` fails at load. The
/// server keeps serving the other services; the audit log and /health say what
/// happened.
#[test]
fn faulting_issuers_are_refused_audited_quarantined_and_others_keep_serving() {
    let mut server = Server::start("issuer-faults");
    let issuer = common::test_component("fault-issuer");
    for fault in ["garbage", "trap"] {
        server.cli_ok(&[
            "service",
            "add",
            fault,
            "--issuer",
            &format!("{},fault={fault}", issuer.display()),
            "--skip-issuer-check",
            "true",
        ]);
    }
    // Any edit: `reconfigure` waits until the server has loaded the new services.
    server.reconfigure(&["service", "edit", "default", "--max-poll-count", "0"]);
    let secret = server.new_secret("garbage");
    let reply = enroll(&server, "garbage", "g", &secret, ContentCipher::Aes128);
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Failure));
    let text = reply.message.fail_info_text.unwrap_or_default();
    assert!(text.contains("unreadable certificate"), "{text}");
    assert_eq!(
        server.count("select count(*) from secrets where used_at is not null"),
        0
    );

    let secret = server.new_secret("trap");
    for i in 0..5 {
        let reply = enroll(
            &server,
            "trap",
            &format!("t{i}"),
            &secret,
            ContentCipher::Aes128,
        );
        assert_eq!(reply.message.pki_status, Some(PkiStatus::Failure));
    }
    let reply = enroll(&server, "trap", "t5", &secret, ContentCipher::Aes128);
    assert!(
        reply
            .message
            .fail_info_text
            .unwrap_or_default()
            .contains("quarantined")
    );
    let (status, _, body) = http(server.port, "GET", "/health", &[], &[]);
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 503);
    assert!(
        body.contains("trap: issuer fault_issuer@file quarantined"),
        "{body}"
    );
    let audit = server.audit_events();
    assert!(
        audit
            .lines()
            .any(|l| l.starts_with("trap|plugin-fault|fault_issuer@file|trap")),
        "{audit}"
    );
    assert!(
        audit
            .lines()
            .any(|l| l.starts_with("trap|plugin-fault|fault_issuer@file|quarantined")),
        "{audit}"
    );

    // An init that fails at load (the CLI would refuse this setting, so it is
    // written straight into the database): the service is not loaded, /health
    // names it, and the others serve.
    let spec = format!(
        "{{\"plugin\":\"{}\",\"config\":{{\"fault\":\"init\"}}}}",
        issuer.display()
    );
    let update = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"update services set issuer=?, generation=generation+1 where name='garbage'\", (sys.argv[2],)); c.commit()")
        .arg(server.data_dir.join("sceptic.db"))
        .arg(&spec)
        .status()
        .unwrap();
    assert!(update.success());
    server.restart();
    let (status, _, body) = http(server.port, "GET", "/health", &[], &[]);
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 503);
    assert!(body.contains("garbage: not loaded"), "{body}");
    assert!(!body.contains("init refuses on purpose"), "{body}");
    let (status, report) = server.health_report();
    assert_eq!(status, 503, "{report}");
    assert!(report.contains("init refuses on purpose"), "{report}");
    let (status, _, body) = http(
        server.port,
        "GET",
        "/scep/garbage?operation=GetCACaps",
        &[],
        &[],
    );
    assert_eq!(status, 503);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("did not load") && !body.contains("init refuses on purpose"),
        "{body}"
    );
    let good = server.new_secret("default");
    let reply = enroll(
        &server,
        "default",
        "still-fine",
        &good,
        ContentCipher::Aes128,
    );
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Success));
}
