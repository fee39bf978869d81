//! A service's enforcement flags over the real server: each request below is
//! accepted with its flag off and refused with it on (a signed FAILURE whose text
//! names the flag), and "respect key usage" answers a signer that may not encipher
//! keys with a reply that `openssl cms -decrypt -pwri_password` opens.

mod common;

use std::path::Path;

use common::{Server, certmonger_request, http, openssl, openssl_verify, scratch};
use sceptic_proto::client::{self, RequestOptions, Requester};
use sceptic_proto::{
    ContentCipher, DigestAlg, FailInfo, KeyTransport, MessageType, PkiMessage, PkiStatus,
};

/// How a request reaches the server.
#[derive(Clone, Copy)]
enum Send<'a> {
    Post { content_type: Option<&'a str> },
    Get,
}

/// A PKCSReq for `csr_subject` with `challenge`, signed by `requester`, sent to
/// the default service. Returns the reply as received (decoded, not decrypted).
fn send(
    server: &Server,
    requester: &Requester,
    csr_key: &rsa::PrivateKey,
    csr_subject: &str,
    challenge: Option<&str>,
    how: Send<'_>,
) -> (PkiMessage, Vec<u8>) {
    let csr = client::build_csr(csr_key, csr_subject, challenge, &[]);
    let options = RequestOptions {
        message_type: MessageType::PkcsReq,
        transaction_id: format!("enforce-{csr_subject}-{}", unique()),
        digest: DigestAlg::Sha256,
        cipher: ContentCipher::Aes256,
        key_transport: KeyTransport::Pkcs1v15,
    };
    let (body, nonce) =
        client::build_request(requester, &server.ra_cert("default"), &csr, &options);
    let (status, _, answer) = match how {
        Send::Post { content_type } => {
            let headers: Vec<(&str, &str)> = content_type
                .map(|t| ("Content-Type", t))
                .into_iter()
                .collect();
            http(
                server.port,
                "POST",
                "/scep/default?operation=PKIOperation",
                &headers,
                &body,
            )
        }
        Send::Get => {
            let message = base64_url(&body);
            http(
                server.port,
                "GET",
                &format!("/scep/default/pkiclient.exe?operation=PKIOperation&message={message}"),
                &[],
                &[],
            )
        }
    };
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let message = sceptic_proto::decode_pki_message(&answer).expect("a signed CertRep");
    assert_eq!(message.transaction_id, options.transaction_id);
    assert_eq!(message.recipient_nonce.as_deref(), Some(&nonce[..]));
    (message, answer)
}

fn assert_success(reply: &(PkiMessage, Vec<u8>)) {
    assert_eq!(
        reply.0.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        reply.0.fail_info_text
    );
}

fn assert_refused_by_flag(reply: &(PkiMessage, Vec<u8>), flag: &str) {
    assert_eq!(reply.0.pki_status, Some(PkiStatus::Failure));
    assert_eq!(reply.0.fail_info, Some(FailInfo::BadRequest));
    let text = reply.0.fail_info_text.clone().unwrap_or_default();
    assert!(text.contains(flag), "the refusal names {flag}: {text}");
}

/// A requester whose self-signed certificate is made by openssl with `key_usage`
/// (an openssl `-addext keyUsage=` value).
fn requester_with_key_usage(cn: &str, key_usage: &str) -> Requester {
    let generated = Requester::generate(2048, cn);
    let dir = scratch("ku");
    let key = dir.join("key.pem");
    std::fs::write(&key, generated.private_key_pem()).unwrap();
    let cert = dir.join("cert.der");
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        &format!("/CN={cn}"),
        "-days",
        "1",
        "-addext",
        &format!("keyUsage=critical,{key_usage}"),
        "-outform",
        "DER",
        "-out",
        cert.to_str().unwrap(),
    ]);
    Requester::with_certificate(generated.key, std::fs::read(cert).unwrap())
}

fn edit(server: &Server, flag: &str, on: bool) {
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        flag,
        if on { "true" } else { "false" },
    ]);
}

#[test]
fn post_only_and_strict_content_types_refuse_in_kind_and_certmonger_sees_it() {
    let server = Server::start("enforce-transport");
    let plain = |cn: &str, how| {
        let requester = Requester::generate(2048, cn);
        let secret = server.new_secret("default");
        send(
            &server,
            &requester,
            &requester.key,
            &format!("CN={cn}"),
            Some(&secret),
            how,
        )
    };
    let octet = Send::Post {
        content_type: Some("application/octet-stream"),
    };
    let pki = Send::Post {
        content_type: Some("application/x-pki-message; charset=binary"),
    };

    // Off (the default): GET and any content type are served.
    assert_success(&plain("get-1", Send::Get));
    assert_success(&plain("octet-1", octet));
    assert_success(&plain("none-1", Send::Post { content_type: None }));

    edit(&server, "--post-only", true);
    assert_refused_by_flag(&plain("get-2", Send::Get), "post-only");
    assert_success(&plain("post-2", octet));
    let caps = http(
        server.port,
        "GET",
        "/scep/default?operation=GetCACaps",
        &[],
        &[],
    )
    .2;
    assert!(
        String::from_utf8_lossy(&caps)
            .lines()
            .any(|l| l == "POSTPKIOperation")
    );
    // certmonger always uses GET: it is refused, and says so.
    let secret = server.new_secret("default");
    let (dir, output) = certmonger_request(&server, "default", &secret, "cm-post-only");
    assert!(output.contains("CA_REJECTED"), "{output}");
    assert!(!dir.join("cert.pem").exists());
    edit(&server, "--post-only", false);

    edit(&server, "--strict-content-types", true);
    assert_refused_by_flag(&plain("octet-3", octet), "strict-content-types");
    assert_refused_by_flag(
        &plain("none-3", Send::Post { content_type: None }),
        "strict-content-types",
    );
    assert_success(&plain("pki-3", pki));
    assert_success(&plain("get-3", Send::Get));

    // Six certificates: the refused requests issued nothing and spent no secret.
    assert_eq!(server.count("select count(*) from certificates"), 6);
    assert_eq!(
        server.count("select count(*) from secrets where used_at is null and kind = 'single-use'"),
        // init's secret, certmonger's and the three refused requests' secrets.
        5
    );
}

#[test]
fn signer_key_usage_and_self_signed_match_are_enforced_when_on() {
    let server = Server::start("enforce-signer");
    let post = Send::Post { content_type: None };
    let with_ku = |cn: &str| {
        let requester = requester_with_key_usage(cn, "keyEncipherment");
        let secret = server.new_secret("default");
        send(
            &server,
            &requester,
            &requester.key,
            &format!("CN={cn}"),
            Some(&secret),
            post,
        )
    };
    let mismatched_subject = |cn: &str| {
        let requester = Requester::generate(2048, cn);
        let secret = server.new_secret("default");
        send(
            &server,
            &requester,
            &requester.key,
            &format!("CN={cn}-other"),
            Some(&secret),
            post,
        )
    };
    let mismatched_key = |cn: &str| {
        let requester = Requester::generate(2048, cn);
        let other = Requester::generate(2048, cn);
        let secret = server.new_secret("default");
        send(
            &server,
            &requester,
            &other.key,
            &format!("CN={cn}"),
            Some(&secret),
            post,
        )
    };

    assert_success(&with_ku("ku-1"));
    assert_success(&mismatched_subject("subject-1"));
    assert_success(&mismatched_key("key-1"));

    edit(&server, "--signer-digital-signature", true);
    assert_refused_by_flag(&with_ku("ku-2"), "signer-digital-signature");
    edit(&server, "--self-signed-matches-csr", true);
    assert_refused_by_flag(&mismatched_subject("subject-2"), "self-signed-matches-csr");
    assert_refused_by_flag(&mismatched_key("key-2"), "self-signed-matches-csr");
    // A signer that follows every rule still enrolls.
    let requester = requester_with_key_usage("good", "digitalSignature,keyEncipherment");
    let secret = server.new_secret("default");
    assert_success(&send(
        &server,
        &requester,
        &requester.key,
        "CN=good",
        Some(&secret),
        post,
    ));

    let show = server.cli_ok(&["service", "show", "default"]);
    assert!(
        show.contains("enforced:           signer-digital-signature, self-signed-matches-csr"),
        "{show}"
    );
    assert_eq!(server.count("select count(*) from certificates"), 4);
}

/// The certificate inside a SUCCESS whose envelope is encrypted to `password`,
/// opened with openssl alone: verify the RA's signature, decrypt with the
/// password (RFC 3211), read the degenerate SignedData.
fn open_with_password(dir: &Path, reply: &[u8], password: &str) -> std::path::PathBuf {
    let reply_file = dir.join("reply.der");
    std::fs::write(&reply_file, reply).unwrap();
    let envelope = dir.join("envelope.der");
    let degenerate = dir.join("degenerate.der");
    let cert = dir.join("cert.pem");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    openssl(&[
        "cms",
        "-verify",
        "-noverify",
        "-inform",
        "DER",
        "-in",
        &path(&reply_file),
        "-out",
        &path(&envelope),
    ]);
    openssl(&[
        "cms",
        "-decrypt",
        "-pwri_password",
        password,
        "-inform",
        "DER",
        "-in",
        &path(&envelope),
        "-out",
        &path(&degenerate),
    ]);
    let pem = openssl(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        &path(&degenerate),
        "-print_certs",
    ]);
    std::fs::write(&cert, pem).unwrap();
    cert
}

#[test]
fn respect_key_usage_encrypts_to_the_challenge_password() {
    let server = Server::start("enforce-pwri");
    let post = Send::Post { content_type: None };
    let signing_only = |cn: &str| requester_with_key_usage(cn, "digitalSignature");

    // Off: the reply is encrypted to the signer's key whatever its keyUsage says.
    let requester = signing_only("pwri-1");
    let secret = server.new_secret("default");
    let (_, bytes) = send(
        &server,
        &requester,
        &requester.key,
        "CN=pwri-1",
        Some(&secret),
        post,
    );
    let reply = client::read_cert_rep(&bytes, &requester).unwrap();
    assert_eq!(reply.issued_certificates.len(), 1);

    edit(&server, "--respect-key-usage", true);
    let requester = signing_only("pwri-2");
    let secret = server.new_secret("default");
    let answer = send(
        &server,
        &requester,
        &requester.key,
        "CN=pwri-2",
        Some(&secret),
        post,
    );
    assert_success(&answer);
    assert!(
        client::read_cert_rep(&answer.1, &requester).is_err(),
        "the signer's key must not open a password-encrypted reply"
    );
    let dir = scratch("pwri");
    let cert = open_with_password(&dir, &answer.1, &secret);
    openssl_verify(&server.ca_pem(), &cert);
    let text = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-subject"]);
    assert!(text.contains("CN = pwri-2"), "{text}");

    // A signer that may encipher keys still gets a reply to its key.
    let requester = Requester::generate(2048, "pwri-3");
    let secret = server.new_secret("default");
    let (_, bytes) = send(
        &server,
        &requester,
        &requester.key,
        "CN=pwri-3",
        Some(&secret),
        post,
    );
    assert_eq!(
        client::read_cert_rep(&bytes, &requester)
            .unwrap()
            .issued_certificates
            .len(),
        1
    );

    // No challengePassword: nothing to encrypt to, so it is refused before issuing.
    let requester = signing_only("pwri-4");
    let answer = send(&server, &requester, &requester.key, "CN=pwri-4", None, post);
    assert_refused_by_flag(&answer, "respect-key-usage");
    assert_eq!(server.count("select count(*) from certificates"), 3);
    assert!(
        !server.log_text().contains(&secret),
        "a secret reached the log"
    );
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// URL-safe base64 without padding, as micromdm scepclient sends it.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn algorithm_lists_shape_caps_refusals_and_replies() {
    let server = Server::start("algorithms");
    let caps = |server: &Server| {
        let body = http(
            server.port,
            "GET",
            "/scep/default?operation=GetCACaps",
            &[],
            &[],
        )
        .2;
        String::from_utf8(body).unwrap()
    };
    let enroll = |cn: &str, digest: DigestAlg, cipher: ContentCipher| {
        let requester = Requester::generate(2048, cn);
        let secret = server.new_secret("default");
        let csr = client::build_csr(&requester.key, &format!("CN={cn}"), Some(&secret), &[]);
        let options = RequestOptions {
            message_type: MessageType::PkcsReq,
            transaction_id: format!("alg-{cn}-{}", unique()),
            digest,
            cipher,
            key_transport: KeyTransport::Pkcs1v15,
        };
        let (body, _) =
            client::build_request(&requester, &server.ra_cert("default"), &csr, &options);
        let (status, _, answer) = http(
            server.port,
            "POST",
            "/scep/default?operation=PKIOperation",
            &[],
            &body,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        client::read_cert_rep(&answer, &requester).unwrap()
    };
    assert!(caps(&server).lines().any(|l| l == "SHA-1"));
    let reply = enroll("sha1", DigestAlg::Sha1, ContentCipher::Aes256);
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Success));
    assert_eq!(
        reply.message.digest,
        DigestAlg::Sha256,
        "SHA-1 is answered with SHA-256"
    );
    assert_eq!(
        reply.cipher,
        Some(ContentCipher::Aes256),
        "answered in the request's cipher"
    );

    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--client-digests",
        "sha256,sha512",
        "--reply-digest",
        "sha512",
        "--reply-cipher",
        "aes128",
    ]);
    let advertised = caps(&server);
    assert!(!advertised.lines().any(|l| l == "SHA-1"), "{advertised}");
    assert!(advertised.lines().any(|l| l == "SHA-512"), "{advertised}");
    assert!(
        advertised.lines().any(|l| l == "SCEPStandard"),
        "{advertised}"
    );
    let refused = enroll("sha1-refused", DigestAlg::Sha1, ContentCipher::Aes256);
    assert_eq!(refused.message.pki_status, Some(PkiStatus::Failure));
    assert_eq!(refused.message.fail_info, Some(FailInfo::BadAlg));
    assert!(
        server
            .log_text()
            .contains("--client-digests sha256,sha512,sha1")
    );
    let reply = enroll("sha256", DigestAlg::Sha256, ContentCipher::Aes256);
    assert_eq!(reply.message.pki_status, Some(PkiStatus::Success));
    assert_eq!(
        reply.message.digest,
        DigestAlg::Sha512,
        "the service's reply digest"
    );
    assert_eq!(
        reply.cipher,
        Some(ContentCipher::Aes128),
        "the service's reply cipher"
    );

    // Bad values are refused with the setting named, and nothing changes.
    let out = server.cli(&["service", "edit", "default", "--reply-cipher", "des"]);
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        error.contains("--reply-cipher: unknown value \"des\""),
        "{error}"
    );
    let show = server.cli_ok(&["service", "show", "default"]);
    assert!(show.contains("reply cipher:       aes128"), "{show}");
    assert!(show.contains("client digests:     sha256,sha512"), "{show}");
}
