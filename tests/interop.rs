//! Real SCEP clients from the distribution enroll against a real sceptic server:
//! micromdm `scepclient` (POST, single DES, SHA-1, BER) and certmonger (GET,
//! AES-256, SHA-256). Neither is skipped: a missing client fails the test.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, openssl, openssl_verify, require_tool, scratch};

/// Upper bound for one client run.
const CLIENT_TIMEOUT: &str = "120";

struct ScepClientRun {
    dir: std::path::PathBuf,
    output: String,
}

/// One `scepclient` enrollment in a fresh directory (it reuses csr.pem otherwise).
fn scepclient(server: &Server, alias: &str, challenge: &str, cn: &str) -> ScepClientRun {
    require_tool("scepclient");
    let dir = scratch("scepclient");
    let out = Command::new("timeout")
        .arg(CLIENT_TIMEOUT)
        .arg("scepclient")
        .args(["-server-url", &server.url(alias), "-challenge", challenge])
        .args([
            "-private-key",
            "key.pem",
            "-certificate",
            "cert.pem",
            "-cn",
            cn,
            "-organization",
            "Example",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ScepClientRun { dir, output }
}

/// The certificate has the CSR's public key (the client's key.pem) and subject.
fn assert_issued_for(server: &Server, cert: &Path, key: &Path, subject_part: &str) {
    openssl_verify(&server.ca_pem(), cert);
    let cert_key = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]);
    let own_key = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    assert_eq!(
        cert_key, own_key,
        "the certificate must carry the requester's public key"
    );
    let subject = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert!(
        subject.contains(subject_part),
        "subject {subject:?} lacks {subject_part:?}"
    );
}

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

/// A private certmonger daemon on a private D-Bus, all state under `dir`
/// (CLIENTS.md). Runs `script` inside it and returns the daemon's output.
fn certmonger(dir: &Path, script: &str) -> String {
    require_tool("certmonger");
    require_tool("dbus-run-session");
    for sub in ["home", "cas", "requests", "local", "config", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("inner.sh"), script).unwrap();
    let d = dir.to_str().unwrap();
    let out = Command::new("timeout")
        .arg(CLIENT_TIMEOUT)
        .arg("dbus-run-session")
        .arg("--")
        .args(["certmonger", "-s", "-n", "-d", "1", "-c"])
        .arg(format!("bash {d}/inner.sh"))
        .env("HOME", format!("{d}/home"))
        .env("CERTMONGER_CAS_DIR", format!("{d}/cas"))
        .env("CERTMONGER_REQUESTS_DIR", format!("{d}/requests"))
        .env("CERTMONGER_LOCAL_CA_DIR", format!("{d}/local"))
        .env("CERTMONGER_CONFIG_DIR", format!("{d}/config"))
        .env("CERTMONGER_TMPDIR", format!("{d}/tmp"))
        .env("CERTMONGER_SYSTEM_LOCK_FILE", format!("{d}/lock"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn certmonger_request(server: &Server, challenge: &str, cn: &str) -> (std::path::PathBuf, String) {
    let dir = scratch("certmonger");
    let d = dir.to_str().unwrap();
    // No -N: the RA certificate in GetCACert is found by its key usage.
    let script = format!(
        "getcert add-scep-ca -s -c sceptic -u {url}\n\
         getcert request -s -c sceptic -k {d}/key.pem -f {d}/cert.pem -N 'CN={cn},O=Example' -L {challenge} -w -v\n\
         getcert list -s\n",
        url = server.url("default")
    );
    let output = certmonger(&dir, &script);
    (dir, output)
}

#[test]
fn certmonger_enrolls_by_get_with_aes256_and_is_refused_a_wrong_secret() {
    let server = Server::start("certmonger");
    let (dir, output) = certmonger_request(&server, &server.secret, "host-1");
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

    let (dir, output) = certmonger_request(&server, "wrong-secret", "host-2");
    assert!(output.contains("CA_REJECTED"), "{output}");
    assert!(!dir.join("cert.pem").exists());
    assert_eq!(server.count("select count(*) from certificates"), 1);
}
