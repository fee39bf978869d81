//! A real external CA behind an issuer written in Python: `cfssl serve` on
//! 127.0.0.1, the example adapter plugins/examples/cfssl-issuer-python built with
//! componentize-py, and micromdm's `scepclient` enrolling through sceptic.
//! Support: tests/common/cfssl.rs. scripts/setup installs `cfssl` (Debian's
//! golang-cfssl) and componentize-py.

#[path = "common/cfssl.rs"]
mod cfssl_ca;
mod common;

use std::time::{Duration, Instant};

use cfssl_ca::{Cfssl, issuer_spec, pem_der, python_issuer, reconfigure_slowly};
use common::{Server, openssl, openssl_verify, scepclient, scratch};

/// What "promptly" means for a FAILURE when CFSSL is down: the host refuses a
/// closed port at once and bounds a silent CA by its request timeout (5 s); the
/// rest is scepclient's own RSA work and process start on a loaded machine.
const PROMPT_FAILURE: Duration = Duration::from_secs(30);

/// How soon a service that could not load because CFSSL was down must load once
/// CFSSL is back: the host retries after 2 s and doubles the wait (at most 60 s);
/// CFSSL returns right after the first failed load, so the first or second retry
/// finds it, with margin for a loaded machine.
const RECOVERY: Duration = Duration::from_secs(45);

#[test]
fn a_python_issuer_enrolls_through_cfssl_and_fails_fast_without_it() {
    let mut cfssl = Cfssl::start();
    let server = Server::start("cfssl");
    let authority = format!("127.0.0.1:{}", cfssl.port);
    // The RA certificate comes from sceptic's local CA, the client certificates
    // from CFSSL: two roots, which the issuer check refuses unless told that this
    // is intended. scepclient takes both from GetCACert and only needs single DES.
    reconfigure_slowly(
        &server,
        &[
            "service",
            "edit",
            "default",
            "--issuer",
            &issuer_spec(&cfssl.url(), &authority),
            "--skip-issuer-check",
            "true",
            "--client-ciphers",
            "aes128,aes192,aes256,des3,des",
        ],
    );
    let ca_certs = server.ca_certs("default");
    assert_eq!(ca_certs.len(), 2, "the CFSSL CA, then the RA");
    assert_eq!(
        ca_certs[0],
        pem_der(&cfssl.ca_pem()),
        "GetCACert leads with CFSSL's CA"
    );

    let enrolled = scepclient(&server, "default", &server.secret, "cfssl-device-1");
    let cert = enrolled.dir.join("cert.pem");
    assert!(
        cert.exists(),
        "no certificate: {}\n{}",
        enrolled.output,
        server.log_text()
    );
    openssl_verify(&cfssl.ca_pem(), &cert);
    let cert_key = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]);
    let own_key = openssl(&[
        "pkey",
        "-in",
        enrolled.dir.join("key.pem").to_str().unwrap(),
        "-pubout",
    ]);
    assert_eq!(cert_key, own_key, "the certificate carries the CSR's key");
    // The CSR's subject, as scepclient wrote it (it adds OU=MDM and C=US).
    let subject = |what: &str, file: &str| {
        let path = enrolled.dir.join(file);
        let line = openssl(&[
            what,
            "-in",
            path.to_str().unwrap(),
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253",
        ]);
        line.trim().trim_start_matches("subject=").to_owned()
    };
    assert_eq!(subject("x509", "cert.pem"), subject("req", "csr.pem"));
    assert!(subject("x509", "cert.pem").starts_with("CN=cfssl-device-1,"));
    assert_eq!(server.count("select count(*) from certificates"), 1);

    // CFSSL goes away: the next client gets FAILURE at once, not a hang.
    cfssl.stop();
    let secret = server.new_secret("default");
    let started = Instant::now();
    let refused = scepclient(&server, "default", &secret, "cfssl-device-2");
    let took = started.elapsed();
    eprintln!("scepclient got its answer {took:?} after CFSSL stopped");
    assert!(took < PROMPT_FAILURE, "took {took:?}");
    assert!(
        refused.output.contains("failInfo: badRequest"),
        "{}",
        refused.output
    );
    assert!(!refused.dir.join("cert.pem").exists());
    let audit = server.audit_events();
    assert!(
        audit.contains(&format!(
            "CFSSL at http://{authority} cannot be reached: cannot reach {authority}"
        )),
        "the reason reaches the audit log:\n{audit}"
    );
    // The server keeps serving.
    let (status, _, body) = common::http(server.port, "GET", "/health", &[], &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(server.ca_certs("default").len(), 2);

    // sceptic starts while CFSSL is still down: the service cannot load (its CA
    // certificate comes from CFSSL), /health says why, and once CFSSL is back the
    // server loads it by itself, with no edit and no restart.
    let mut server = server;
    server.restart();
    let (status, _, body) = common::http(server.port, "GET", "/health", &[], &[]);
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("default: not loaded (tried again within"),
        "{body}"
    );
    // The reason is the admin's: the public answer points there.
    assert!(!body.contains("named no CA certificate"), "{body}");
    let (status, report) = server.health_report();
    assert_eq!(status, 503, "{report}");
    assert!(report.contains("named no CA certificate"), "{report}");
    cfssl.resume();
    let deadline = Instant::now() + RECOVERY;
    loop {
        let (status, _, body) = common::http(server.port, "GET", "/health", &[], &[]);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still down {RECOVERY:?} after CFSSL came back: {}\n{}",
            String::from_utf8_lossy(&body),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let secret = server.new_secret("default");
    let enrolled = scepclient(&server, "default", &secret, "cfssl-device-3");
    let cert = enrolled.dir.join("cert.pem");
    assert!(cert.exists(), "no certificate: {}", enrolled.output);
    openssl_verify(&cfssl.ca_pem(), &cert);
}

#[test]
fn an_issuer_url_outside_allowed_hosts_is_refused() {
    let server = Server::start("cfssl-allowed");
    // Nothing needs to listen: the refusal comes before any connection. (One
    // case only: each costs a compilation of the Python component.)
    let url = "http://127.0.0.1:9";
    let refused = server.cli(&[
        "service",
        "edit",
        "default",
        "--issuer",
        &issuer_spec(url, "localhost:9"),
        "--skip-issuer-check",
        "true",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "an unlisted host was accepted");
    assert!(
        stderr.contains("127.0.0.1:9 is not among them; add allowed-hosts=127.0.0.1:9"),
        "{stderr}"
    );
    // The host refuses an entry that is not host:port, whatever the plugin.
    let refused = server.cli(&[
        "service",
        "edit",
        "default",
        "--issuer",
        &issuer_spec(url, "http://127.0.0.1:9"),
        "--skip-issuer-check",
        "true",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("must be host:port"), "{stderr}");
    // Nothing changed: the default service still issues from the local CA.
    let issuer = server.cli_ok(&["service", "list"]);
    assert!(
        issuer.contains("issuer=builtin:local-ca-issuer"),
        "{issuer}"
    );
}

/// What one call into the Python issuer costs in the host, against a real CFSSL:
/// a fresh instance, `init`, then `issue` (one HTTP exchange, CFSSL's RSA
/// signature) or `poll` (no HTTP: the instance and `init` alone), beside CFSSL's
/// own time for the same sign request. Prints the numbers; asserts none. Run:
/// `cargo test -p sceptic --test cfssl -- --ignored --nocapture python_issuer_cost`
#[test]
#[ignore = "a measurement, not a test: run it by name"]
fn python_issuer_cost() {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use common::plugin_calls::{policy_request, print_cost};
    use sceptic_plugins::{CaSigner, IssueOutcome, Issuer, PluginEngine};

    let cfssl = Cfssl::start();
    let dir = scratch("cfssl-cost");
    let d = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &d("k.pem"),
        "-out",
        &d("c.pem"),
        "-subj",
        "/CN=unused local CA",
        "-days",
        "2",
    ]);
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &d("dev.pem"),
        "-subj",
        "/CN=cost-1/O=Example",
        "-outform",
        "DER",
        "-out",
        &d("csr.der"),
    ]);
    let key = Arc::new(sceptic_keys::RsaKey::load(&dir.join("k.pem")).unwrap());
    let signer = Arc::new(CaSigner::new(pem_der(&dir.join("c.pem")), key).unwrap());
    let engine = PluginEngine::new().unwrap();
    let config = BTreeMap::from([
        ("url".to_owned(), cfssl.url()),
        (
            "allowed-hosts".to_owned(),
            format!("127.0.0.1:{}", cfssl.port),
        ),
    ]);
    let started = Instant::now();
    let issuer = Issuer::load(
        &engine,
        python_issuer().to_str().unwrap(),
        config,
        "default",
        signer,
    )
    .unwrap();
    println!("load (compile + link + init): {:?}", started.elapsed());
    let csr_der = std::fs::read(dir.join("csr.der")).unwrap();
    let request = policy_request("CN=cost-1,O=Example", 2048, csr_der.clone());
    let name: Arc<str> = "default".into();
    print_cost("Python issuer poll (instance + init, no HTTP)", || {
        assert!(matches!(
            issuer.poll(name.clone(), "x"),
            Ok(IssueOutcome::Rejected { .. })
        ));
        None
    });
    print_cost("Python issuer issue (instance + init + CFSSL sign)", || {
        let outcome = issuer.issue(name.clone(), &request);
        assert!(
            matches!(outcome, Ok(IssueOutcome::Issued(_))),
            "{outcome:?}"
        );
        None
    });
    let pem =
        der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &csr_der).unwrap();
    let body = serde_json::json!({ "certificate_request": pem }).to_string();
    print_cost("CFSSL sign alone (Rust test client)", || {
        let (status, _, _) = common::http(
            cfssl.port,
            "POST",
            "/api/v1/cfssl/sign",
            &[],
            body.as_bytes(),
        );
        assert_eq!(status, 200);
        None
    });
}
