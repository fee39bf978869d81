//! Manual approval, PENDING and polling, GetCert, GetCRL and revocation: with a
//! real polling client (certmonger) and, for exact checks, the crate's own client.

mod common;

use std::process::Command;

use common::{Server, certmonger, http, openssl, scratch};
use der::{Decode, Encode};
use sceptic_proto::client::{self, RequestOptions, Requester};
use sceptic_proto::{ContentCipher, DigestAlg, FailInfo, KeyTransport, MessageType, PkiStatus};

fn ca_cert(server: &Server) -> Vec<u8> {
    let pem = std::fs::read_to_string(server.ca_pem()).unwrap();
    der::pem::decode_vec(pem.as_bytes()).unwrap().1
}

/// One pkiMessage of `kind` with `inner` as its messageData.
fn send(
    server: &Server,
    who: &Requester,
    kind: MessageType,
    transaction_id: &str,
    inner: &[u8],
) -> client::Reply {
    let opts = RequestOptions {
        message_type: kind,
        transaction_id: transaction_id.to_owned(),
        digest: DigestAlg::Sha256,
        cipher: ContentCipher::Aes256,
        key_transport: KeyTransport::Pkcs1v15,
    };
    let (request, nonce) = client::build_request(who, &server.ra_cert("default"), inner, &opts);
    let (status, _, body) = http(
        server.port,
        "POST",
        "/scep/default?operation=PKIOperation",
        &[],
        &request,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let reply = client::read_cert_rep(&body, who).unwrap();
    assert_eq!(reply.message.transaction_id, transaction_id);
    assert_eq!(
        reply.message.recipient_nonce.as_deref(),
        Some(nonce.as_slice())
    );
    reply
}

/// CertPoll's messageData: the CA's name and the requested subject (RFC 8894 §3.3.3).
fn poll_body(server: &Server, subject: &str) -> Vec<u8> {
    let ca = x509_cert::Certificate::from_der(&ca_cert(server)).unwrap();
    let issuer = ca.tbs_certificate().subject().to_der().unwrap();
    let subject = sceptic_x509::name_der(subject).unwrap();
    client::issuer_and_subject(&issuer, &subject)
}

fn admin(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {token}");
    let (status, _, body) = http(
        server.admin_port,
        method,
        path,
        &[("Authorization", &auth)],
        body.as_bytes(),
    );
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn status(reply: &client::Reply) -> Option<PkiStatus> {
    reply.message.pki_status
}

#[test]
fn held_request_is_polled_approved_over_rest_and_survives_a_restart() {
    let mut server = Server::start("approval");
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--allow-unauthorised",
        "true",
        "--min-poll-interval",
        "300",
    ]);
    let device = Requester::generate(2048, "held-1");
    let csr = client::build_csr(
        &device.key,
        "CN=held-1,O=Example",
        None,
        &["held-1.example.net"],
    );

    let first = send(&server, &device, MessageType::PkcsReq, "tx-held-1", &csr);
    assert_eq!(status(&first), Some(PkiStatus::Pending));
    // The same PKCSReq again: the same request, still pending, not a second one.
    let again = send(&server, &device, MessageType::PkcsReq, "tx-held-1", &csr);
    assert_eq!(status(&again), Some(PkiStatus::Pending));
    assert_eq!(server.count("select count(*) from requests"), 1);

    // Polling sooner than the interval: FAILURE with the wait, the request stays.
    let early = send(
        &server,
        &device,
        MessageType::CertPoll,
        "tx-held-1",
        &poll_body(&server, "CN=held-1,O=Example"),
    );
    assert_eq!(status(&early), Some(PkiStatus::Failure));
    let text = early.message.fail_info_text.clone().unwrap_or_default();
    assert!(text.contains("poll again in"), "{text}");
    assert_eq!(
        server.count("select count(*) from requests where status = 'pending'"),
        1
    );
    assert!(server.audit_events().contains("poll-too-early"));

    // An unknown transaction: badCertId.
    let unknown = send(
        &server,
        &device,
        MessageType::CertPoll,
        "tx-nobody",
        &poll_body(&server, "CN=held-1,O=Example"),
    );
    assert_eq!(unknown.message.fail_info, Some(FailInfo::BadCertId));

    // The listing shows what an operator decides from.
    let listed = server.cli_ok(&["request", "list"]);
    assert!(
        listed.contains("CN=held-1")
            && listed.contains("dns:held-1.example.net")
            && listed.contains("rsa 2048"),
        "{listed}"
    );

    // Nothing is lost across a restart.
    server.restart();
    let (code, _) = admin(&server, "GET", "/api/v1/requests", "wrong-token", "");
    assert_eq!(code, 401);
    let (code, rows) = admin(
        &server,
        "GET",
        "/api/v1/requests?status=pending",
        &server.admin_token,
        "",
    );
    assert_eq!(code, 200);
    let id = rows[0]["id"].as_i64().unwrap();
    assert!(
        rows[0]["subject"].as_str().unwrap().contains("CN=held-1"),
        "{rows}"
    );
    let (code, body) = admin(
        &server,
        "POST",
        &format!("/api/v1/requests/{id}/reject"),
        &server.admin_token,
        "{\"reason\": 5}",
    );
    assert_eq!(
        (code, body["field"].as_str()),
        (400, Some("reason")),
        "{body}"
    );
    let (code, body) = admin(
        &server,
        "POST",
        &format!("/api/v1/requests/{id}/approve"),
        &server.admin_token,
        "",
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "issued");
    assert_eq!(body["decided_by"], "api:admin");

    // Held requests survive service edits too; lifting the interval lets the
    // client poll again at once.
    server.reconfigure(&["service", "edit", "default", "--min-poll-interval", "0"]);
    let done = send(
        &server,
        &device,
        MessageType::CertPoll,
        "tx-held-1",
        &poll_body(&server, "CN=held-1,O=Example"),
    );
    assert_eq!(
        status(&done),
        Some(PkiStatus::Success),
        "{:?}",
        done.message.fail_info_text
    );
    let issued = x509_cert::Certificate::from_der(&done.issued_certificates[0]).unwrap();
    let requested = x509_cert::request::CertReq::from_der(&csr).unwrap();
    assert_eq!(
        issued.tbs_certificate().subject_public_key_info(),
        &requested.info.public_key
    );
    let dir = scratch("held-cert");
    std::fs::write(
        dir.join("cert.pem"),
        der::pem::encode_string(
            "CERTIFICATE",
            der::pem::LineEnding::LF,
            &done.issued_certificates[0],
        )
        .unwrap(),
    )
    .unwrap();
    common::openssl_verify(&server.ca_pem(), &dir.join("cert.pem"));
    assert!(
        server.audit_events().contains("request-issued")
            || server.audit_events().contains("|issued|api:admin|")
    );

    // GetCert: the holder of the key gets its certificate back by issuer and serial.
    let ca = x509_cert::Certificate::from_der(&ca_cert(&server)).unwrap();
    let issuer = ca.tbs_certificate().subject().to_der().unwrap();
    let serial = issued.tbs_certificate().serial_number().as_bytes().to_vec();
    let fetched = send(
        &server,
        &device,
        MessageType::GetCert,
        "tx-getcert",
        &client::issuer_and_serial(&issuer, &serial),
    );
    assert_eq!(
        status(&fetched),
        Some(PkiStatus::Success),
        "{:?}",
        fetched.message.fail_info_text
    );
    assert_eq!(fetched.issued_certificates, done.issued_certificates);
    let stranger = Requester::generate(2048, "stranger");
    let refused = send(
        &server,
        &stranger,
        MessageType::GetCert,
        "tx-getcert-2",
        &client::issuer_and_serial(&issuer, &serial),
    );
    assert_eq!(refused.message.fail_info, Some(FailInfo::BadCertId));
    let missing = send(
        &server,
        &device,
        MessageType::GetCert,
        "tx-getcert-3",
        &client::issuer_and_serial(&issuer, &[0x42]),
    );
    assert_eq!(missing.message.fail_info, Some(FailInfo::BadCertId));
}

#[test]
fn polls_past_the_maximum_fail_and_rejections_reach_the_client() {
    let server = Server::start("maxpoll");
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--allow-unauthorised",
        "true",
        "--max-poll-count",
        "2",
    ]);
    let device = Requester::generate(2048, "poller");
    let csr = client::build_csr(&device.key, "CN=poller", Some("wrong-secret"), &[]);
    assert_eq!(
        status(&send(
            &server,
            &device,
            MessageType::PkcsReq,
            "tx-poll",
            &csr
        )),
        Some(PkiStatus::Pending)
    );
    let body = poll_body(&server, "CN=poller");
    for _ in 0..2 {
        assert_eq!(
            status(&send(
                &server,
                &device,
                MessageType::CertPoll,
                "tx-poll",
                &body
            )),
            Some(PkiStatus::Pending)
        );
    }
    let over = send(&server, &device, MessageType::CertPoll, "tx-poll", &body);
    assert_eq!(status(&over), Some(PkiStatus::Failure));
    assert!(
        over.message
            .fail_info_text
            .unwrap_or_default()
            .contains("max poll count")
    );
    assert_eq!(
        server.count("select count(*) from requests where status = 'failed'"),
        1
    );

    let other = Requester::generate(2048, "rejected");
    let csr = client::build_csr(&other.key, "CN=rejected", None, &[]);
    assert_eq!(
        status(&send(&server, &other, MessageType::PkcsReq, "tx-rej", &csr)),
        Some(PkiStatus::Pending)
    );
    let id = server.count("select id from requests where transaction_id = 'tx-rej'");
    server.cli_ok(&[
        "request",
        "reject",
        &id.to_string(),
        "--reason",
        "not one of ours",
    ]);
    let answer = send(
        &server,
        &other,
        MessageType::CertPoll,
        "tx-rej",
        &poll_body(&server, "CN=rejected"),
    );
    assert_eq!(status(&answer), Some(PkiStatus::Failure));
    assert_eq!(
        answer.message.fail_info_text.as_deref(),
        Some("not one of ours")
    );
    assert!(server.audit_events().contains("request-rejected|cli:"));

    // With approval off, an unauthorised request is refused outright, as before.
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--allow-unauthorised",
        "false",
    ]);
    let late = Requester::generate(2048, "late");
    let csr = client::build_csr(&late.key, "CN=late", None, &[]);
    let refused = send(&server, &late, MessageType::PkcsReq, "tx-late", &csr);
    assert_eq!(refused.message.fail_info, Some(FailInfo::BadRequest));
}

#[test]
fn revoked_serials_appear_in_a_crl_whose_number_increases() {
    let server = Server::start("crl");
    let ca_der = ca_cert(&server);
    let ca = x509_cert::Certificate::from_der(&ca_der).unwrap();
    let issuer = ca.tbs_certificate().subject().to_der().unwrap();
    let mut serials = Vec::new();
    for n in 0..2 {
        let device = Requester::generate(2048, &format!("crl-{n}"));
        let secret = server.new_secret("default");
        let csr = client::build_csr(&device.key, &format!("CN=crl-{n}"), Some(&secret), &[]);
        let reply = send(
            &server,
            &device,
            MessageType::PkcsReq,
            &format!("tx-crl-{n}"),
            &csr,
        );
        let cert = x509_cert::Certificate::from_der(&reply.issued_certificates[0]).unwrap();
        serials.push(hex_upper(cert.tbs_certificate().serial_number().as_bytes()));
    }
    let dir = scratch("crl");
    let crl_number = |crl: &[u8]| -> String {
        std::fs::write(dir.join("crl.der"), crl).unwrap();
        let text = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            dir.join("crl.der").to_str().unwrap(),
            "-CAfile",
            server.ca_pem().to_str().unwrap(),
            "-noout",
            "-text",
        ]);
        text.lines()
            .skip_while(|l| !l.contains("X509v3 CRL Number"))
            .nth(1)
            .unwrap()
            .trim()
            .to_owned()
            + "\n"
            + &text
    };
    server.cli_ok(&[
        "cert",
        "revoke",
        &serials[0].to_ascii_lowercase(),
        "--reason",
        "keyCompromise",
    ]);
    // Over HTTP.
    let (code, headers, first) = http(server.port, "GET", "/crl/default.crl", &[], &[]);
    assert_eq!(code, 200);
    assert_eq!(
        common::header(&headers, "content-type"),
        Some("application/pkix-crl")
    );
    let first_text = crl_number(&first);
    let verify = Command::new("openssl")
        .args([
            "crl",
            "-inform",
            "DER",
            "-in",
            dir.join("crl.der").to_str().unwrap(),
            "-CAfile",
            server.ca_pem().to_str().unwrap(),
            "-noout",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("verify OK"),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        first_text.contains(&serials[0]) && first_text.contains("Key Compromise"),
        "{first_text}"
    );
    assert!(!first_text.contains(&serials[1]));

    // Revoke the second (REST this time); GetCRL over SCEP lists both, with a higher number.
    let (code, body) = admin(
        &server,
        "POST",
        &format!("/api/v1/certificates/{}/revoke", serials[1]),
        &server.admin_token,
        "{\"reason\":\"superseded\"}",
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = admin(
        &server,
        "POST",
        "/api/v1/certificates/00/revoke",
        &server.admin_token,
        "{\"reason\":\"bogus\"}",
    );
    assert_eq!((code, body["field"].as_str()), (400, Some("reason")));
    let asker = Requester::generate(2048, "crl-asker");
    let ca_serial = ca.tbs_certificate().serial_number().as_bytes().to_vec();
    let reply = send(
        &server,
        &asker,
        MessageType::GetCrl,
        "tx-getcrl",
        &client::issuer_and_serial(&issuer, &ca_serial),
    );
    assert_eq!(
        status(&reply),
        Some(PkiStatus::Success),
        "{:?}",
        reply.message.fail_info_text
    );
    let second_text = crl_number(&reply.crls[0]);
    assert!(second_text.contains(&serials[0]) && second_text.contains(&serials[1]));
    let number = |t: &str| {
        t.lines()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap_or_else(|_| {
                u64::from_str_radix(t.lines().next().unwrap().trim_start_matches("0x"), 16).unwrap()
            })
    };
    assert!(
        number(&second_text) > number(&first_text),
        "{} !> {}",
        number(&second_text),
        number(&first_text)
    );
    let listed = server.cli_ok(&["cert", "list"]);
    assert_eq!(listed.matches("\ttrue").count(), 2, "{listed}");
}

fn hex_upper(bytes: &[u8]) -> String {
    let trimmed: &[u8] = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    trimmed.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn certmonger_waits_while_pending_then_gets_the_approved_certificate_or_the_refusal() {
    let server = Server::start("certmonger-approval");
    server.reconfigure(&["service", "edit", "default", "--allow-unauthorised", "true"]);
    let dir = scratch("certmonger-approval");
    let d = dir.to_str().unwrap();
    // certmonger runs the script with a clean environment: name the data directory.
    let sceptic = format!(
        "{} --data-dir {}",
        common::sceptic_bin(),
        server.data_dir.display()
    );
    // `getcert list` is read while the request is held, after the approval, and
    // after a rejection of a second request. Each wait is bounded.
    let script = format!(
        r#"set -u
getcert add-scep-ca -s -c sceptic -u {url}
getcert request -s -c sceptic -k {d}/key1.pem -f {d}/cert1.pem -N 'CN=approved-host,O=Example' -I one
getcert request -s -c sceptic -k {d}/key2.pem -f {d}/cert2.pem -N 'CN=rejected-host,O=Example' -I two
wait_for() {{ for i in $(seq 1 60); do getcert list -s -i "$1" | grep -q "status: $2" && return 0; sleep 0.5; done; return 1; }}
wait_for one CA_WORKING && echo "ONE-PENDING-OK"
wait_for two CA_WORKING && echo "TWO-PENDING-OK"
getcert list -s -i one | sed 's/^/ONE: /'
{sceptic} request list
{sceptic} request approve $({sceptic} request list | awk '/approved-host/ {{print $1}}')
{sceptic} request reject $({sceptic} request list | awk '/rejected-host/ {{print $1}}') --reason 'not in inventory'
getcert resubmit -s -i one
getcert resubmit -s -i two
wait_for one MONITORING && echo "ONE-ISSUED-OK"
wait_for two CA_REJECTED && echo "TWO-REJECTED-OK"
getcert list -s
"#,
        url = server.url("default")
    );
    let output = certmonger(&dir, &script);
    for marker in [
        "ONE-PENDING-OK",
        "TWO-PENDING-OK",
        "ONE-ISSUED-OK",
        "TWO-REJECTED-OK",
    ] {
        assert!(output.contains(marker), "{marker} missing:\n{output}");
    }
    common::openssl_verify(&server.ca_pem(), &dir.join("cert1.pem"));
    assert!(!dir.join("cert2.pem").exists());
    // certmonger shows the refusal as CA_REJECTED with its own text for the failInfo;
    // the operator's reason is in the audit log.
    assert!(
        output.contains("ca-error:"),
        "certmonger shows the CA's refusal:\n{output}"
    );
    assert!(server.audit_events().contains("not in inventory"));
}

#[test]
fn an_issuer_that_answers_pending_is_asked_again_when_the_client_polls() {
    let server = Server::start("deferred");
    let deferred = common::test_component("deferred-issuer");
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--issuer",
        deferred.to_str().unwrap(),
    ]);
    let device = Requester::generate(2048, "deferred-1");
    let csr = client::build_csr(&device.key, "CN=deferred-1", Some(&server.secret), &[]);
    let first = send(&server, &device, MessageType::PkcsReq, "tx-deferred", &csr);
    assert_eq!(
        status(&first),
        Some(PkiStatus::Pending),
        "{:?}",
        first.message.fail_info_text
    );
    assert_eq!(
        server.count("select count(*) from requests where status = 'issuing'"),
        1
    );
    let polled = send(
        &server,
        &device,
        MessageType::CertPoll,
        "tx-deferred",
        &poll_body(&server, "CN=deferred-1"),
    );
    assert_eq!(
        status(&polled),
        Some(PkiStatus::Success),
        "{:?}",
        polled.message.fail_info_text
    );
    let dir = scratch("deferred-cert");
    let pem = der::pem::encode_string(
        "CERTIFICATE",
        der::pem::LineEnding::LF,
        &polled.issued_certificates[0],
    )
    .unwrap();
    std::fs::write(dir.join("cert.pem"), pem).unwrap();
    common::openssl_verify(&server.ca_pem(), &dir.join("cert.pem"));
    assert_eq!(
        server.count("select count(*) from requests where status = 'issued'"),
        1
    );
    // The certificate is recorded once.
    assert_eq!(server.count("select count(*) from certificates"), 1);
}
