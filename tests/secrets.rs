//! Secrets and services side by side over the real server: each service's secrets,
//! issuer settings and algorithm lists apply to it alone; long-life secrets bind to
//! their first sender's key; a global secret makes the stored ones count for nothing.

mod common;

use common::{Server, pkcs_req};
use sceptic_proto::client::{self, Requester};
use sceptic_proto::{ContentCipher, FailInfo, PkiStatus};

fn refused_with(reply: &client::Reply, fail_info: FailInfo, text_part: &str) {
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Failure));
    assert_eq!(reply.message.fail_info, Some(fail_info));
    let text = reply.message.fail_info_text.clone().unwrap_or_default();
    assert!(text.contains(text_part), "{text:?} lacks {text_part:?}");
}

fn issued(reply: &client::Reply) -> sceptic_proto::CertificateInfo {
    assert_eq!(
        reply.message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        reply.message.fail_info_text
    );
    sceptic_proto::describe_certificate(&reply.issued_certificates[0]).unwrap()
}

#[test]
fn two_services_keep_their_own_secrets_issuers_and_algorithms() {
    let server = Server::start("side-by-side");
    server.reconfigure(&[
        "service",
        "add",
        "vpn",
        "--client-ciphers",
        "aes256",
        "--issuer",
        "builtin:local-ca-issuer,validity-days=30",
        "--certificate-info",
        "cost centre 42",
    ]);
    let vpn_secret = server.new_secret("vpn");
    let default_secret = server.new_secret("default");
    let requester = Requester::generate(2048, "side");

    // Each secret works only at its own service.
    refused_with(
        &pkcs_req(
            &server,
            "default",
            &requester,
            "a",
            &vpn_secret,
            ContentCipher::Aes256,
        ),
        FailInfo::BadRequest,
        "secret",
    );
    refused_with(
        &pkcs_req(
            &server,
            "vpn",
            &requester,
            "b",
            &default_secret,
            ContentCipher::Aes256,
        ),
        FailInfo::BadRequest,
        "secret",
    );
    // vpn takes AES-256 only; its issuer gives 30-day certificates.
    refused_with(
        &pkcs_req(
            &server,
            "vpn",
            &requester,
            "c",
            &vpn_secret,
            ContentCipher::Aes128,
        ),
        FailInfo::BadAlg,
        "aes128",
    );
    let vpn = issued(&pkcs_req(
        &server,
        "vpn",
        &requester,
        "d",
        &vpn_secret,
        ContentCipher::Aes256,
    ));
    let default = issued(&pkcs_req(
        &server,
        "default",
        &requester,
        "e",
        &default_secret,
        ContentCipher::Aes128,
    ));
    let days = |c: &sceptic_proto::CertificateInfo| (c.not_after - c.not_before) / 86_400;
    assert_eq!(days(&vpn), 30);
    assert_eq!(days(&default), 365);
    // Each RA is the service's own.
    assert_ne!(server.ra_cert("vpn"), server.ra_cert("default"));
    assert!(
        server
            .cli_ok(&["cert", "list", "--service", "vpn"])
            .contains("CN=d")
    );
    assert!(
        !server
            .cli_ok(&["cert", "list", "--service", "vpn"])
            .contains("CN=e")
    );
    // "Additional certificate information" is recorded with the vpn certificate only.
    let shown = server.cli_ok(&["cert", "show", &vpn.serial_hex]);
    assert!(shown.contains("cost centre 42"), "{shown}");
    let shown = server.cli_ok(&["cert", "show", &default.serial_hex]);
    assert!(!shown.contains("cost centre 42"), "{shown}");

    // Settings are checked when given, not when first used.
    let bad = server.cli(&["service", "edit", "vpn", "--ra-subject", "not a dn"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("ra"),
        "{:?}",
        bad
    );
    let hostname = server.root.join("not-wasm.txt");
    std::fs::write(&hostname, "root:secret-looking-content").unwrap();
    let bad = server.cli(&[
        "service",
        "edit",
        "vpn",
        "--policy",
        hostname.to_str().unwrap(),
    ]);
    let error = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(error.contains("not a WebAssembly component"), "{error}");
    assert!(
        !error.contains("0x72"),
        "the file's bytes must not be quoted: {error}"
    );
}

#[test]
fn long_life_secrets_bind_to_their_first_sender_and_a_global_secret_rules_alone() {
    let server = Server::start("secret-modes");
    let out = server.cli_ok(&["secret", "generate", "--service", "default", "--long-life"]);
    let long_life = out.lines().last().unwrap().trim().to_owned();
    let first = Requester::generate(2048, "first");
    let other = Requester::generate(2048, "other");
    issued(&pkcs_req(
        &server,
        "default",
        &first,
        "l1",
        &long_life,
        ContentCipher::Aes128,
    ));
    issued(&pkcs_req(
        &server,
        "default",
        &first,
        "l2",
        &long_life,
        ContentCipher::Aes128,
    ));
    refused_with(
        &pkcs_req(
            &server,
            "default",
            &other,
            "l3",
            &long_life,
            ContentCipher::Aes128,
        ),
        FailInfo::BadRequest,
        "bound to another sender",
    );
    let listed = server.cli_ok(&["secret", "list", "--service", "default"]);
    assert!(
        !listed.contains(&long_life),
        "secret list never shows values"
    );

    // With a global secret set, only it counts: a stored unused secret is refused.
    let stored = server.new_secret("default");
    server.cli_ok(&[
        "secret",
        "add",
        "--service",
        "default",
        "--value",
        "the-global-one",
        "--global",
    ]);
    refused_with(
        &pkcs_req(
            &server,
            "default",
            &other,
            "g1",
            &stored,
            ContentCipher::Aes128,
        ),
        FailInfo::BadRequest,
        "global secret",
    );
    issued(&pkcs_req(
        &server,
        "default",
        &other,
        "g2",
        "the-global-one",
        ContentCipher::Aes128,
    ));
    issued(&pkcs_req(
        &server,
        "default",
        &first,
        "g3",
        "the-global-one",
        ContentCipher::Aes128,
    ));
    assert!(
        !server.log_text().contains("the-global-one"),
        "a secret reached the log"
    );
}
