//! Real SCEP clients from the distribution enroll against a real sceptic server:
//! micromdm `scepclient` (POST, single DES, SHA-1, BER) and certmonger (GET,
//! AES-256, SHA-256). Neither is skipped: a missing client fails the test.

mod common;

use common::{Server, assert_issued_for, certmonger_request, scepclient};

#[test]
fn scepclient_needs_des_allowed_then_enrolls_by_post() {
    let server = Server::start("scepclient");
    // scepclient always encrypts with single DES, which a new service refuses.
    let refused = scepclient(&server, "default", &server.secret, "dev-1");
    assert!(
        refused.output.contains("failInfo: badAlg"),
        "{}",
        refused.output
    );
    assert!(!refused.dir.join("cert.pem").exists());
    assert!(
        server
            .log_text()
            .contains("--client-ciphers aes128,aes192,aes256,des3,des")
    );
    // The refusal did not spend the secret.
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--client-ciphers",
        "aes128,aes192,aes256,des3,des",
    ]);
    let enrolled = scepclient(&server, "default", &server.secret, "dev-1");
    let cert = enrolled.dir.join("cert.pem");
    assert!(cert.exists(), "no certificate: {}", enrolled.output);
    assert_issued_for(&server, &cert, &enrolled.dir.join("key.pem"), "CN=dev-1");
    let log = server.log_text();
    let issued = log
        .lines()
        .find(|l| l.contains("certificate delivered"))
        .expect("a delivery log line");
    assert!(
        issued.contains("method=\"POST\"") || issued.contains("method=POST"),
        "{issued}"
    );
    assert!(
        issued.contains("cipher=\"des\"") || issued.contains("cipher=des"),
        "{issued}"
    );

    // The same single-use secret again: refused, nothing issued.
    let reused = scepclient(&server, "default", &server.secret, "dev-2");
    assert!(
        reused.output.contains("failInfo: badRequest"),
        "{}",
        reused.output
    );
    assert!(!reused.dir.join("cert.pem").exists());
    // A wrong secret: refused with badRequest.
    let wrong = scepclient(&server, "default", "not-a-secret", "dev-3");
    assert!(
        wrong.output.contains("failInfo: badRequest"),
        "{}",
        wrong.output
    );
    assert_eq!(server.count("select count(*) from certificates"), 1);
    assert!(
        !log.contains(&server.secret),
        "a secret value reached the log"
    );
}

#[test]
fn certmonger_enrolls_by_get_with_aes256_and_is_refused_a_wrong_secret() {
    let server = Server::start("certmonger");
    let (dir, output) = certmonger_request(&server, "default", &server.secret, "host-1");
    assert!(output.contains("status: MONITORING"), "{output}");
    assert_issued_for(
        &server,
        &dir.join("cert.pem"),
        &dir.join("key.pem"),
        "CN=host-1",
    );
    let log = server.log_text();
    let issued = log
        .lines()
        .find(|l| l.contains("certificate delivered"))
        .expect("a delivery log line");
    assert!(issued.contains("GET"), "certmonger uses GET: {issued}");
    assert!(
        issued.contains("aes256"),
        "certmonger uses AES-256 when advertised: {issued}"
    );

    let (dir, output) = certmonger_request(&server, "default", "wrong-secret", "host-2");
    assert!(output.contains("CA_REJECTED"), "{output}");
    assert!(!dir.join("cert.pem").exists());
    assert_eq!(server.count("select count(*) from certificates"), 1);
}
