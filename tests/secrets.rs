//! Secrets and services side by side over the real server: each service's secrets,
//! issuer settings and algorithm lists apply to it alone; long-life secrets bind to
//! their first sender's key; a global secret makes the stored ones count for nothing.

mod common;

use common::{Server, http};
use sceptic_proto::client::{self, RequestOptions, Requester};
use sceptic_proto::{ContentCipher, DigestAlg, FailInfo, KeyTransport, MessageType, PkiStatus};

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// One PKCSReq from `requester` for `CN=cn` to `alias`, encrypted with `cipher`.
fn enroll(
    server: &Server,
    alias: &str,
    requester: &Requester,
    cn: &str,
    challenge: &str,
    cipher: ContentCipher,
) -> client::Reply {
    let csr = client::build_csr(&requester.key, &format!("CN={cn}"), Some(challenge), &[]);
    let options = RequestOptions {
        message_type: MessageType::PkcsReq,
        transaction_id: format!("{alias}-{cn}-{}", unique()),
        digest: DigestAlg::Sha256,
        cipher,
        key_transport: KeyTransport::Pkcs1v15,
    };
    let (body, _) = client::build_request(requester, &server.ra_cert(alias), &csr, &options);
    let (status, _, answer) = http(
        server.port,
        "POST",
        &format!("/scep/{alias}?operation=PKIOperation"),
        &[],
        &body,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    client::read_cert_rep(&answer, requester).unwrap()
}

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
        "service", "add", "vpn", "--client-ciphers", "aes256", "--issuer",
        "builtin:local-ca-issuer,validity-days=30", "--certificate-info", "cost centre 42",
    ]);
    let vpn_secret = server.new_secret("vpn");
    let default_secret = server.new_secret("default");
    let requester = Requester::generate(2048, "side");

    // Each secret works only at its own service.
    refused_with(
        &enroll(&server, "default", &requester, "a", &vpn_secret, ContentCipher::Aes256),
        FailInfo::BadRequest,
        "secret",
    );
    refused_with(
        &enroll(&server, "vpn", &requester, "b", &default_secret, ContentCipher::Aes256),
        FailInfo::BadRequest,
        "secret",
    );
    // vpn takes AES-256 only; its issuer gives 30-day certificates.
    refused_with(
        &enroll(&server, "vpn", &requester, "c", &vpn_secret, ContentCipher::Aes128),
        FailInfo::BadAlg,
        "aes128",
    );
    let vpn = issued(&enroll(&server, "vpn", &requester, "d", &vpn_secret, ContentCipher::Aes256));
    let default = issued(&enroll(&server, "default", &requester, "e", &default_secret, ContentCipher::Aes128));
    let days = |c: &sceptic_proto::CertificateInfo| (c.not_after - c.not_before) / 86_400;
    assert_eq!(days(&vpn), 30);
    assert_eq!(days(&default), 365);
    // Each RA is the service's own.
    assert_ne!(server.ra_cert("vpn"), server.ra_cert("default"));
    assert!(server.cli_ok(&["cert", "list", "--service", "vpn"]).contains("CN=d"));
    assert!(!server.cli_ok(&["cert", "list", "--service", "vpn"]).contains("CN=e"));
    // "Additional certificate information" is recorded with the vpn certificate only.
    let shown = server.cli_ok(&["cert", "show", &vpn.serial_hex]);
    assert!(shown.contains("cost centre 42"), "{shown}");
    let shown = server.cli_ok(&["cert", "show", &default.serial_hex]);
    assert!(!shown.contains("cost centre 42"), "{shown}");

    // Settings are checked when given, not when first used.
    let bad = server.cli(&["service", "edit", "vpn", "--ra-subject", "not a dn"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ra"), "{:?}", bad);
    let hostname = server.root.join("not-wasm.txt");
    std::fs::write(&hostname, "root:secret-looking-content").unwrap();
    let bad = server.cli(&["service", "edit", "vpn", "--policy", hostname.to_str().unwrap()]);
    let error = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(error.contains("not a WebAssembly component"), "{error}");
    assert!(!error.contains("0x72"), "the file's bytes must not be quoted: {error}");
}

#[test]
fn long_life_secrets_bind_to_their_first_sender_and_a_global_secret_rules_alone() {
    let server = Server::start("secret-modes");
    let out = server.cli_ok(&["secret", "generate", "--service", "default", "--long-life"]);
    let long_life = out.lines().last().unwrap().trim().to_owned();
    let first = Requester::generate(2048, "first");
    let other = Requester::generate(2048, "other");
    issued(&enroll(&server, "default", &first, "l1", &long_life, ContentCipher::Aes128));
    issued(&enroll(&server, "default", &first, "l2", &long_life, ContentCipher::Aes128));
    refused_with(
        &enroll(&server, "default", &other, "l3", &long_life, ContentCipher::Aes128),
        FailInfo::BadRequest,
        "bound to another sender",
    );
    let listed = server.cli_ok(&["secret", "list", "--service", "default"]);
    assert!(!listed.contains(&long_life), "secret list never shows values");

    // With a global secret set, only it counts: a stored unused secret is refused.
    let stored = server.new_secret("default");
    server.cli_ok(&["secret", "add", "--service", "default", "--value", "the-global-one", "--global"]);
    refused_with(
        &enroll(&server, "default", &other, "g1", &stored, ContentCipher::Aes128),
        FailInfo::BadRequest,
        "global secret",
    );
    issued(&enroll(&server, "default", &other, "g2", "the-global-one", ContentCipher::Aes128));
    issued(&enroll(&server, "default", &first, "g3", "the-global-one", ContentCipher::Aes128));
    assert!(!server.log_text().contains("the-global-one"), "a secret reached the log");
}
