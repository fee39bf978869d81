//! A service's life over the real server: its URL, disabling it (refusals in kind,
//! nothing issued, no secret used), and deleting it (it stops answering, its issued
//! certificates stay revocable, its name and alias can be used again).

mod common;

use common::{Server, http};
use sceptic_proto::client::{self, RequestOptions, Requester};
use sceptic_proto::{ContentCipher, DigestAlg, FailInfo, KeyTransport, MessageType, PkiStatus};

/// Sends one PKCSReq for `cn` with `challenge`, encrypted to `ra`.
fn request(server: &Server, alias: &str, ra: &[u8], cn: &str, challenge: &str) -> client::Reply {
    let requester = Requester::generate(2048, cn);
    let csr = client::build_csr(&requester.key, &format!("CN={cn}"), Some(challenge), &[]);
    let options = RequestOptions {
        message_type: MessageType::PkcsReq,
        transaction_id: format!("{alias}-{cn}"),
        digest: DigestAlg::Sha256,
        cipher: ContentCipher::Aes128,
        key_transport: KeyTransport::Pkcs1v15,
    };
    let (body, nonce) = client::build_request(&requester, ra, &csr, &options);
    let (status, _, answer) = http(
        server.port,
        "POST",
        &format!("/scep/{alias}?operation=PKIOperation"),
        &[],
        &body,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let reply = client::read_cert_rep(&answer, &requester).unwrap();
    assert_eq!(reply.message.transaction_id, options.transaction_id);
    assert_eq!(reply.message.recipient_nonce.as_deref(), Some(&nonce[..]));
    reply
}

fn get_ca_caps(server: &Server, alias: &str) -> (u16, String) {
    let (status, _, body) = http(
        server.port,
        "GET",
        &format!("/scep/{alias}?operation=GetCACaps"),
        &[],
        &[],
    );
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn service_urls_come_from_the_service_then_the_system_url() {
    let server = Server::start("service-urls");
    let show = server.cli_ok(&["service", "show", "default"]);
    assert!(
        show.contains("service URL:        http://127.0.0.1:8080/scep/default"),
        "{show}"
    );

    server.cli_ok(&["system-url", "https://pki.example.com/"]);
    assert_eq!(
        server.cli_ok(&["system-url"]).trim(),
        "https://pki.example.com"
    );
    let show = server.cli_ok(&["service", "show", "default"]);
    assert!(
        show.contains("https://pki.example.com/scep/default  (the system URL)"),
        "{show}"
    );

    let added = server.cli_ok(&[
        "service",
        "add",
        "Shop floor",
        "--alias",
        "shop",
        "--base-url",
        "https://shop.example.com:8443/pki",
    ]);
    assert!(
        added.contains("https://shop.example.com:8443/pki/scep/shop"),
        "{added}"
    );
    server.cli_ok(&["service", "edit", "Shop floor", "--base-url", "system"]);
    let show = server.cli_ok(&["service", "show", "Shop floor"]);
    assert!(show.contains("https://pki.example.com/scep/shop"), "{show}");

    for bad in ["ftp://x", "https://", "https://a b", "https://h/?q=1"] {
        let out = server.cli(&["service", "edit", "default", "--base-url", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("must be http:// or https://"), "{err}");
    }
    let out = server.cli(&["service", "add", "x", "--alias", "with space"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("alias"));
}

#[test]
fn a_disabled_service_refuses_in_kind_and_uses_no_secret() {
    let server = Server::start("service-disabled");
    let ra = server.ra_cert("default");
    server.reconfigure(&["service", "disable", "default"]);

    let (status, body) = get_ca_caps(&server, "default");
    assert_eq!(status, 503);
    assert!(body.contains("\"default\" is disabled"), "{body}");
    let (status, _, body) = http(
        server.port,
        "GET",
        "/scep/default?operation=GetCACert",
        &[],
        &[],
    );
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = http(
        server.port,
        "POST",
        "/scep/default?operation=PKIOperation",
        &[],
        b"not a SCEP message",
    );
    assert_eq!(
        status, 503,
        "garbage to a disabled service is refused as disabled"
    );

    // A real request names its transaction: it gets a signed FAILURE that says why.
    let reply = request(&server, "default", &ra, "device-1", &server.secret);
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Failure));
    assert_eq!(reply.message.fail_info, Some(FailInfo::BadRequest));
    let text = reply.message.fail_info_text.unwrap_or_default();
    assert!(text.contains("is disabled"), "{text}");
    assert_eq!(server.count("SELECT COUNT(*) FROM certificates"), 0);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM secrets WHERE uses > 0"),
        0,
        "a disabled service used a secret"
    );
    assert!(
        server
            .cli_ok(&["service", "show", "default"])
            .contains("state:              disabled")
    );

    // Enabled again, the same single-use secret still works.
    server.reconfigure(&["service", "enable", "default"]);
    assert_eq!(get_ca_caps(&server, "default").0, 200);
    let reply = request(&server, "default", &ra, "device-2", &server.secret);
    assert_eq!(
        reply.message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        reply.message.fail_info_text
    );
    assert_eq!(reply.issued_certificates.len(), 1);
}

#[test]
fn a_deleted_service_stops_answering_and_its_certificates_stay_revocable() {
    let server = Server::start("service-deleted");
    server.reconfigure(&["service", "add", "lab", "--allow-unauthorised", "true"]);
    let ra = server.ra_cert("lab");
    let secret = server.new_secret("lab");
    let reply = request(&server, "lab", &ra, "lab-device", &secret);
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Success));
    let held = request(&server, "lab", &ra, "unknown-device", "no such secret");
    assert_eq!(held.message.pki_status, Some(PkiStatus::Pending));
    let spare = server.new_secret("lab");

    // Without a terminal and without --yes, nothing happens.
    let out = server.cli(&["service", "delete", "lab"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(get_ca_caps(&server, "lab").0, 200);

    let before = server.count("SELECT COUNT(*) FROM services");
    let out = server.cli_ok(&["service", "delete", "lab", "--yes"]);
    assert!(
        out.contains("1 held requests closed, 1 issued certificates kept"),
        "{out}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get_ca_caps(&server, "lab").0 != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "/scep/lab still answers"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        server.count("SELECT COUNT(*) FROM services"),
        before,
        "kept as a tombstone"
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM secrets WHERE service_id NOT IN (SELECT id FROM services WHERE deleted_at IS NULL)"), 0);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM requests WHERE status = 'pending'"),
        0
    );
    assert!(
        std::fs::read_dir(server.data_dir.join("keys"))
            .unwrap()
            .all(|f| !f
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("ra-2-")),
        "the RA key file was removed"
    );
    let out = server.cli(&["service", "show", "lab"]);
    assert!(!out.status.success());

    // Its certificate is still listed and can be revoked.
    let list = server.cli_ok(&["cert", "list"]);
    let line = list
        .lines()
        .find(|l| l.contains("CN=lab-device"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(line.contains("lab [deleted"), "{line}");
    let serial = line.split_whitespace().next().unwrap();
    server.cli_ok(&["cert", "revoke", serial, "--reason", "cessationOfOperation"]);

    // The name and alias are free again; the new service has a new RA, and the
    // old service's secret means nothing to it.
    server.reconfigure(&["service", "add", "lab"]);
    let new_ra = server.ra_cert("lab");
    assert_ne!(new_ra, ra);
    let reply = request(&server, "lab", &new_ra, "again", &spare);
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Failure));
}

#[test]
fn service_plugins_lists_each_plugin_with_its_wit_version_and_hash() {
    let server = Server::start("service-plugins");
    let legacy = common::test_component("legacy-policy");
    server.cli_ok(&[
        "service",
        "edit",
        "default",
        "--policy",
        "builtin:secret-policy",
        "--policy",
        &format!(
            "{},prefix=CN=lab-,sceptic.deadline-ms=250,sceptic.fuel=2000000",
            legacy.display()
        ),
    ]);
    let out = server.cli_ok(&["service", "plugins", "default"]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(
        &rows[0][..4],
        ["policy 1", "secret-policy", "0.1.0", "0.2"],
        "{out}"
    );
    assert_eq!(rows[1][0], "policy 2");
    assert_eq!(
        rows[1][3], "0.1",
        "the legacy plugin is built against WIT v0.1: {out}"
    );
    assert_eq!(&rows[2][..2], ["issuer", "local-ca-issuer"], "{out}");
    for row in &rows {
        assert_eq!(row[4].len(), 64, "a SHA-256: {out}");
        assert!(row[4].chars().all(|c| c.is_ascii_hexdigit()));
    }
    // The limits each plugin's calls run under: defaults, or what its SPEC set
    // (an old-WIT plugin takes them too; they never reach the plugin).
    assert_eq!(rows[0][5], "deadline=1000ms memory=64MiB fuel=1000000000");
    assert_eq!(rows[1][5], "deadline=250ms memory=64MiB fuel=2000000");
    assert_eq!(rows[2][5], "deadline=10000ms memory=64MiB");
    assert!(rows[1][6].contains("sceptic.fuel=2000000"), "{out}");
}

#[test]
fn a_limit_setting_out_of_range_or_unknown_is_refused_by_name() {
    let server = Server::start("plugin-limits");
    for (flag, spec, expected) in [
        (
            "--policy",
            "builtin:secret-policy,sceptic.fuel=lots",
            "sceptic.fuel=\"lots\": must be a whole number from 1000 to 10000000000",
        ),
        (
            "--policy",
            "builtin:secret-policy,sceptic.deadline-ms=60000",
            "sceptic.deadline-ms=\"60000\": must be a whole number from 50 to 10000ms",
        ),
        (
            "--policy",
            "builtin:secret-policy,sceptic.memory-mib=0",
            "sceptic.memory-mib=\"0\": must be a whole number from 1 to 256MiB",
        ),
        (
            "--policy",
            "builtin:secret-policy,sceptic.colour=red",
            "sceptic.deadline-ms, sceptic.memory-mib, sceptic.fuel",
        ),
        (
            "--issuer",
            "builtin:local-ca-issuer,sceptic.fuel=5000",
            "sceptic.fuel is for policies",
        ),
        (
            "--issuer",
            "builtin:local-ca-issuer,sceptic.certificate-info=x",
            "plugin setting \"sceptic.certificate-info\"",
        ),
    ] {
        let refused = server.cli(&["service", "edit", "default", flag, spec]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{spec} was accepted");
        assert!(
            stderr.contains(expected),
            "{spec}: {expected:?} not in {stderr}"
        );
    }
    // In range, the same settings are taken.
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--issuer",
        "builtin:local-ca-issuer,sceptic.deadline-ms=20000,sceptic.memory-mib=32",
    ]);
    let out = server.cli_ok(&["service", "plugins", "default"]);
    assert!(out.contains("deadline=20000ms memory=32MiB"), "{out}");
}
