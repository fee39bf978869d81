//! The admin REST API against a real server: every CLI operation on services,
//! secrets and trusted certificates also works over REST (and the CLI sees what
//! REST did), refusals name their field, and a team-scoped token manages only
//! its own team's services.

mod common;

use std::time::{Duration, Instant};

use common::{Server, http};
use sceptic_proto::client::{self, Requester};
use sceptic_proto::{ContentCipher, PkiStatus};
use serde_json::{Value, json};

/// One admin API call; returns the status and the JSON body (Null if none).
fn api(server: &Server, token: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (status, _, body) = http(
        server.admin_port,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn admin(server: &Server, method: &str, path: &str, body: Value) -> (u16, Value) {
    let text = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    api(server, &server.admin_token, method, path, &text)
}

/// Waits until the running server answers GetCACaps for `alias` with `status`.
fn wait_for(server: &Server, alias: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (got, _, _) = http(
            server.port,
            "GET",
            &format!("/scep/{alias}?operation=GetCACaps"),
            &[],
            &[],
        );
        if got == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/scep/{alias} still answers {got}, not {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One PKCSReq for `cn` with `challenge` from a fresh key; returns the reply.
fn enroll(server: &Server, alias: &str, cn: &str, challenge: &str) -> client::Reply {
    let requester = Requester::generate(2048, cn);
    // A transactionID the test can find in the database again.
    let transaction_id = format!("{alias}-{cn}");
    common::pkcs_req_as(
        server,
        alias,
        &requester,
        cn,
        challenge,
        ContentCipher::Aes256,
        &transaction_id,
    )
}

fn serial_of(reply: &client::Reply) -> String {
    let cert =
        <x509_cert::Certificate as der::Decode>::from_der(&reply.issued_certificates[0]).unwrap();
    let bytes = cert.tbs_certificate().serial_number().as_bytes();
    let magnitude = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    hex::encode(magnitude)
}

#[test]
fn services_secrets_and_trusted_certificates_work_over_rest_as_on_the_cli() {
    let server = Server::start("api-crud");
    let (code, created) = admin(
        &server,
        "POST",
        "/api/v1/services",
        json!({
            "name": "Shop floor", "alias": "shop",
            "client_ciphers": ["aes128", "aes256"], "client_digests": "sha256,sha512",
            "reply_digest": "sha384", "max_poll_count": 5, "signer_digital_signature": false,
        }),
    );
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["alias"], "shop");
    assert_eq!(created["client_ciphers"], json!(["aes128", "aes256"]));
    assert_eq!(created["client_digests"], json!(["sha256", "sha512"]));
    assert_eq!(created["reply_digest"], "sha384");
    assert_eq!(created["max_poll_count"], 5);
    assert_eq!(created["url"], "http://127.0.0.1:8080/scep/shop");
    let credentials = &created["credentials"];
    let team = credentials["team_id"].as_i64().unwrap();
    let user = credentials["user_id"].as_i64().unwrap();
    assert_eq!(
        (created["team_id"].as_i64(), created["user_id"].as_i64()),
        (Some(team), Some(user))
    );
    assert!(
        credentials["token"]
            .as_str()
            .unwrap()
            .starts_with("sceptic_")
    );
    assert_eq!(credentials["team"], "Shop floor");

    let (code, list) = admin(&server, "GET", "/api/v1/services", Value::Null);
    assert_eq!(code, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Shop floor", "default"]);
    let (code, shown) = admin(&server, "GET", "/api/v1/services/Shop%20floor", Value::Null);
    assert_eq!(code, 200);
    assert_eq!(shown["ra_certificates"][0]["status"], "current");
    let show = server.cli_ok(&["service", "show", "Shop floor"]);
    assert!(show.contains("reply digest:       sha384"), "{show}");
    assert!(
        show.contains(&format!("team:               {team} (Shop floor)")),
        "{show}"
    );

    // PATCH is `service edit`: the CLI sees it.
    let (code, patched) = admin(
        &server,
        "PATCH",
        "/api/v1/services/Shop%20floor",
        json!({ "reply_cipher": "aes256", "strict_content_types": true, "base_url": "https://pki.example.com" }),
    );
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["url"], "https://pki.example.com/scep/shop");
    let show = server.cli_ok(&["service", "show", "Shop floor"]);
    assert!(show.contains("reply cipher:       aes256"), "{show}");
    assert!(
        show.contains("enforced:           strict-content-types"),
        "{show}"
    );
    assert!(show.contains("client ciphers:     aes128,aes256"), "{show}");
    admin(
        &server,
        "PATCH",
        "/api/v1/services/Shop%20floor",
        json!({ "base_url": null }),
    );
    assert!(
        server
            .cli_ok(&["service", "show", "Shop floor"])
            .contains("base URL:           (system URL)")
    );

    // Secrets: generated (value once), chosen (no value back), listed without values, deleted.
    let (code, generated) = admin(
        &server,
        "POST",
        "/api/v1/services/Shop%20floor/secrets",
        json!({ "kind": "single-use" }),
    );
    assert_eq!(code, 201, "{generated}");
    let secret = generated["value"].as_str().unwrap().to_owned();
    let (code, chosen) = admin(
        &server,
        "POST",
        "/api/v1/services/Shop%20floor/secrets",
        json!({ "kind": "long-life", "value": "a chosen long-life secret" }),
    );
    assert_eq!(code, 201, "{chosen}");
    assert!(chosen["value"].is_null());
    let (code, secrets) = admin(
        &server,
        "GET",
        "/api/v1/services/Shop%20floor/secrets",
        Value::Null,
    );
    assert_eq!(code, 200);
    assert_eq!(secrets.as_array().unwrap().len(), 2);
    assert!(!secrets.to_string().contains(&secret) && !secrets.to_string().contains("chosen"));
    let (code, _) = admin(
        &server,
        "DELETE",
        &format!("/api/v1/services/Shop%20floor/secrets/{}", chosen["id"]),
        Value::Null,
    );
    assert_eq!(code, 200);
    let listed = server.cli_ok(&["secret", "list", "--service", "Shop floor"]);
    assert!(
        listed.contains("single-use") && !listed.contains("long-life"),
        "{listed}"
    );
    assert!(server.audit_events().contains("secret-deleted"));

    // A service made over REST enrolls with a secret made over REST, and the
    // certificate records the service's team and user.
    wait_for(&server, "shop", 200);
    let reply = enroll(&server, "shop", "shop-device", &secret);
    assert_eq!(
        reply.message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        reply.message.fail_info_text
    );
    let serial = serial_of(&reply);
    let (code, certs) = admin(
        &server,
        "GET",
        "/api/v1/certificates?service=Shop+floor",
        Value::Null,
    );
    assert_eq!(code, 200);
    assert_eq!(certs[0]["team_id"].as_i64(), Some(team), "{certs}");
    assert_eq!(certs[0]["user_id"].as_i64(), Some(user), "{certs}");
    let shown: Value = serde_json::from_str(&server.cli_ok(&["cert", "show", &serial])).unwrap();
    assert_eq!(
        (shown["team_id"].as_i64(), shown["user_id"].as_i64()),
        (Some(team), Some(user))
    );

    // Disable and enable, seen by the running server.
    let (code, disabled) = admin(
        &server,
        "POST",
        "/api/v1/services/Shop%20floor/disable",
        Value::Null,
    );
    assert_eq!((code, &disabled["enabled"]), (200, &json!(false)));
    wait_for(&server, "shop", 503);
    assert!(
        server
            .cli_ok(&["service", "show", "Shop floor"])
            .contains("state:              disabled")
    );
    let (code, _) = admin(
        &server,
        "POST",
        "/api/v1/services/Shop%20floor/enable",
        Value::Null,
    );
    assert_eq!(code, 200);
    wait_for(&server, "shop", 200);

    // Trusted certificates: add a PEM, refuse it twice and refuse garbage, list, delete.
    let pem = std::fs::read_to_string(server.ca_pem()).unwrap();
    let path = "/api/v1/services/Shop%20floor/trusted-certificates";
    let (code, added) = admin(&server, "POST", path, json!({ "pem": pem }));
    assert_eq!(code, 201, "{added}");
    assert_eq!(added[0]["subject"], "CN=sceptic CA");
    let (code, again) = admin(&server, "POST", path, json!({ "pem": pem }));
    assert_eq!(code, 409, "{again}");
    let (code, garbage) = admin(
        &server,
        "POST",
        path,
        json!({ "pem": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n" }),
    );
    assert_eq!(
        (code, garbage["field"].as_str()),
        (400, Some("pem")),
        "{garbage}"
    );
    let trusted = server.cli_ok(&["trust", "list", "--service", "Shop floor"]);
    assert!(trusted.contains("CN=sceptic CA"), "{trusted}");
    let (code, _) = admin(
        &server,
        "DELETE",
        &format!("{path}/{}", added[0]["id"]),
        Value::Null,
    );
    assert_eq!(code, 200);
    let (_, listed) = admin(&server, "GET", path, Value::Null);
    assert_eq!(listed, json!([]));

    // A name or alias in use is a conflict; delete needs no confirmation over REST.
    let (code, clash) = admin(
        &server,
        "POST",
        "/api/v1/services",
        json!({ "name": "other", "alias": "shop" }),
    );
    assert_eq!(code, 409, "{clash}");
    let (code, deleted) = admin(
        &server,
        "DELETE",
        "/api/v1/services/Shop%20floor",
        Value::Null,
    );
    assert_eq!(code, 200, "{deleted}");
    assert_eq!(deleted["certificates_kept"], 1);
    let (code, _) = admin(&server, "GET", "/api/v1/services/Shop%20floor", Value::Null);
    assert_eq!(code, 404);
    wait_for(&server, "shop", 404);
    assert!(!server.cli_ok(&["service", "list"]).contains("Shop floor"));
}

#[test]
fn wrong_tokens_bad_json_and_bad_values_are_refused_naming_the_field() {
    let server = Server::start("api-refusals");
    let (code, _) = api(&server, "wrong-token", "GET", "/api/v1/services", "");
    assert_eq!(code, 401);
    let (code, _, _) = http(server.admin_port, "GET", "/api/v1/services", &[], &[]);
    assert_eq!(code, 401);

    let (code, body) = api(
        &server,
        &server.admin_token,
        "POST",
        "/api/v1/services",
        "{\"name\": ",
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    let cases = [
        (
            "POST",
            "/api/v1/services",
            json!({ "name": "x", "client_ciphers": ["rot13"] }),
            "client_ciphers",
        ),
        ("POST", "/api/v1/services", json!({ "alias": "x" }), "name"),
        (
            "POST",
            "/api/v1/services",
            json!({ "name": "n".repeat(129), "alias": "long" }),
            "name",
        ),
        (
            "POST",
            "/api/v1/services",
            json!({ "name": "default ", "alias": "spaced" }),
            "name",
        ),
        (
            "POST",
            "/api/v1/services",
            json!({ "name": "\u{202e}default", "alias": "rlo" }),
            "name",
        ),
        (
            "POST",
            "/api/v1/services",
            json!({ "name": "x", "alias": "a b" }),
            "alias",
        ),
        (
            "POST",
            "/api/v1/services",
            json!({ "name": "x", "team_id": 1 }),
            "user_id",
        ),
        (
            "POST",
            "/api/v1/services",
            json!({ "name": "x", "team_id": 1, "user_id": 999 }),
            "user_id",
        ),
        (
            "POST",
            "/api/v1/services",
            json!({ "name": "x", "policies": ["builtin:no-such-policy"] }),
            "policies",
        ),
        (
            "PATCH",
            "/api/v1/services/default",
            json!({ "policies": ["builtin:secret-policy,sceptic.fuel=10"] }),
            "policies",
        ),
        (
            "PATCH",
            "/api/v1/services/default",
            json!({ "issuer": "builtin:local-ca-issuer,sceptic.deadline-ms=999999" }),
            "issuer",
        ),
        (
            "PATCH",
            "/api/v1/services/default",
            json!({ "reply_digest": "md5" }),
            "reply_digest",
        ),
        (
            "PATCH",
            "/api/v1/services/default",
            json!({ "max_poll_count": -1 }),
            "max_poll_count",
        ),
        (
            "PATCH",
            "/api/v1/services/default",
            json!({ "post_only": "yes" }),
            "post_only",
        ),
        (
            "PATCH",
            "/api/v1/services/default",
            json!({ "ra_key_bits": 1024 }),
            "ra_key_bits",
        ),
        (
            "PATCH",
            "/api/v1/services/default",
            json!({ "base_url": "ftp://x" }),
            "base_url",
        ),
        (
            "PATCH",
            "/api/v1/services/default",
            json!({ "colour": "blue" }),
            "colour",
        ),
        ("PATCH", "/api/v1/services/default", json!({}), "settings"),
        (
            "POST",
            "/api/v1/services/default/secrets",
            json!({ "kind": "forever" }),
            "kind",
        ),
        (
            "POST",
            "/api/v1/services/default/secrets",
            json!({ "value": "" }),
            "value",
        ),
        (
            "DELETE",
            "/api/v1/services/default/secrets/abc",
            Value::Null,
            "id",
        ),
    ];
    for (method, path, body, field) in cases {
        let (code, answer) = admin(&server, method, path, body.clone());
        assert_eq!(
            (code, answer["field"].as_str()),
            (400, Some(field)),
            "{method} {path} {body}: {answer}"
        );
    }
    // Refusals whose reason matters as much as the field: an approval plugin
    // alone must not open the service; a setting given twice, a number with a
    // sign, a policy file that is not `.cel`, and a device as a component are
    // each refused, the device without being read.
    let cases = [
        (
            json!({ "approval": "builtin:approval-policy" }),
            "approval",
            "allow-unauthorised true",
        ),
        (
            json!({ "policies": ["builtin:secret-policy,a=1,a=2"] }),
            "policies",
            "given twice",
        ),
        (
            json!({ "policies": ["builtin:secret-policy,sceptic.fuel=+2000000"] }),
            "policies",
            "whole number",
        ),
        (
            json!({ "policies": ["builtin:secret-policy", "builtin:script-policy,file=/etc/passwd"] }),
            "policies",
            "ending in .cel",
        ),
        (
            json!({ "policies": ["/dev/zero"] }),
            "policies",
            "not a regular file",
        ),
        (
            json!({ "policies": ["/tmp/x\nok.wasm"] }),
            "policies",
            "control or invisible characters",
        ),
        (
            json!({ "policies": "builtin:secret-policy" }),
            "policies",
            "JSON array",
        ),
        (
            json!({ "policies": ["/tmp/ok.wasm,zz=\u{202e}x"] }),
            "policies",
            "control or invisible characters",
        ),
        (
            json!({ "policies": ["plugins/x.wasm"] }),
            "policies",
            "must be absolute",
        ),
        (
            json!({ "policies": ["builtin:secret-policy,=x"] }),
            "policies",
            "key=value",
        ),
        (
            json!({ "policies": ["builtin:secret-policy,sceptic.fuel=1_000_000__"] }),
            "policies",
            "whole number",
        ),
        (
            json!({ "policies": vec!["builtin:secret-policy"; 33] }),
            "policies",
            "at most 32",
        ),
    ];
    for (body, field, reason) in cases {
        let (code, answer) = admin(&server, "PATCH", "/api/v1/services/default", body.clone());
        assert_eq!(
            (code, answer["field"].as_str()),
            (400, Some(field)),
            "{body}: {answer}"
        );
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{body}: {answer}");
        assert!(
            !error.contains("root:"),
            "a file's text came back: {answer}"
        );
    }
    let (code, service) = admin(&server, "GET", "/api/v1/services/default", Value::Null);
    assert_eq!(code, 200);
    assert_eq!(service["allow_unauthorised"], json!(false), "{service}");

    let (code, _) = admin(
        &server,
        "PATCH",
        "/api/v1/services/nope",
        json!({ "post_only": true }),
    );
    assert_eq!(code, 404);
    let (code, _) = admin(
        &server,
        "DELETE",
        "/api/v1/services/default/secrets/999",
        Value::Null,
    );
    assert_eq!(code, 404);
    let (code, _) = admin(&server, "PUT", "/api/v1/services/default", Value::Null);
    assert_eq!(code, 405);
    // Nothing was created by the refused calls.
    assert_eq!(server.count("SELECT COUNT(*) FROM services"), 1);
    assert_eq!(server.count("SELECT COUNT(*) FROM teams"), 1);

    // The OpenAPI document needs no token, and every operation it lists is one
    // the router answers (the server's unit test holds the other direction).
    let (code, _, doc) = http(server.admin_port, "GET", "/api/v1/openapi.json", &[], &[]);
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = path
                .replace("{name}", "no-such-service")
                .replace("{id}", "424242")
                .replace("{serial}", "424242");
            let (code, answer) = admin(&server, &method.to_uppercase(), &concrete, Value::Null);
            let error = answer["error"].as_str().unwrap_or_default();
            assert!(
                code != 405 && !error.starts_with("no API operation"),
                "{method} {path} is documented but not routed: {code} {answer}"
            );
        }
    }
}

#[test]
fn a_team_token_manages_its_own_services_only() {
    let server = Server::start("api-teams");
    let (code, alpha) = admin(
        &server,
        "POST",
        "/api/v1/services",
        json!({ "name": "alpha", "allow_unauthorised": true }),
    );
    assert_eq!(code, 201, "{alpha}");
    let token = alpha["credentials"]["token"].as_str().unwrap().to_owned();
    let team = alpha["team_id"].as_i64().unwrap();
    // `service add` on the CLI makes its own team and token too.
    let added = server.cli_ok(&["service", "add", "beta", "--allow-unauthorised", "true"]);
    let beta_token = added.lines().last().unwrap().trim().to_owned();
    assert!(
        beta_token.starts_with("sceptic_") && beta_token != token,
        "{added}"
    );
    let team_api = |method: &str, path: &str, body: Value| {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        api(&server, &token, method, path, &text)
    };

    // Its own service: read it, manage its secrets and trusted certificates.
    let (code, list) = team_api("GET", "/api/v1/services", Value::Null);
    assert_eq!(code, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "alpha");
    let (code, secret) = team_api("POST", "/api/v1/services/alpha/secrets", json!({}));
    assert_eq!(code, 201, "{secret}");
    let (code, spare) = team_api(
        "POST",
        "/api/v1/services/alpha/secrets",
        json!({ "kind": "long-life" }),
    );
    assert_eq!(code, 201);
    let (code, _) = team_api(
        "DELETE",
        &format!("/api/v1/services/alpha/secrets/{}", spare["id"]),
        Value::Null,
    );
    assert_eq!(code, 200);
    let pem = std::fs::read_to_string(server.ca_pem()).unwrap();
    let (code, _) = team_api(
        "POST",
        "/api/v1/services/alpha/trusted-certificates",
        json!({ "pem": pem }),
    );
    assert_eq!(code, 201);
    assert!(
        server
            .audit_events()
            .contains(&format!("by api:team:{team}"))
    );

    // Another team's service, its secrets and trust, and service management: 403.
    for (method, path, body) in [
        ("GET", "/api/v1/services/beta", Value::Null),
        ("GET", "/api/v1/services/default/secrets", Value::Null),
        ("POST", "/api/v1/services/beta/secrets", json!({})),
        ("DELETE", "/api/v1/services/beta/secrets/1", Value::Null),
        (
            "GET",
            "/api/v1/services/beta/trusted-certificates",
            Value::Null,
        ),
        (
            "POST",
            "/api/v1/services/beta/trusted-certificates",
            json!({ "pem": pem }),
        ),
        ("POST", "/api/v1/services", json!({ "name": "mine" })),
        (
            "PATCH",
            "/api/v1/services/alpha",
            json!({ "post_only": true }),
        ),
        ("POST", "/api/v1/services/alpha/disable", Value::Null),
        ("DELETE", "/api/v1/services/alpha", Value::Null),
        ("GET", "/api/v1/requests?service=beta", Value::Null),
        ("GET", "/api/v1/certificates?service=beta", Value::Null),
    ] {
        let (code, answer) = team_api(method, path, body);
        assert_eq!(code, 403, "{method} {path}: {answer}");
        assert!(!answer["error"].as_str().unwrap().is_empty());
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM secrets WHERE service_id = (SELECT id FROM services WHERE name = 'beta')"), 0);

    // Certificates: it reads its team's, not another team's; it may not revoke.
    wait_for(&server, "alpha", 200);
    wait_for(&server, "beta", 200);
    let ours = enroll(
        &server,
        "alpha",
        "alpha-device",
        secret["value"].as_str().unwrap(),
    );
    assert_eq!(
        ours.message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        ours.message.fail_info_text
    );
    let theirs = enroll(&server, "default", "default-device", &server.secret);
    assert_eq!(theirs.message.pki_status, Some(PkiStatus::Success));
    let (code, certs) = team_api("GET", "/api/v1/certificates", Value::Null);
    assert_eq!(code, 200);
    assert_eq!(certs.as_array().unwrap().len(), 1, "{certs}");
    assert_eq!(certs[0]["serial"], serial_of(&ours));
    let (code, _) = team_api(
        "GET",
        &format!("/api/v1/certificates/{}", serial_of(&ours)),
        Value::Null,
    );
    assert_eq!(code, 200);
    let (code, _) = team_api(
        "GET",
        &format!("/api/v1/certificates/{}", serial_of(&theirs)),
        Value::Null,
    );
    assert_eq!(code, 403);
    let (code, _) = team_api(
        "POST",
        &format!("/api/v1/certificates/{}/revoke", serial_of(&ours)),
        json!({ "reason": "keyCompromise" }),
    );
    assert_eq!(code, 403);
    let (code, all) = admin(&server, "GET", "/api/v1/certificates", Value::Null);
    assert_eq!((code, all.as_array().unwrap().len()), (200, 2));

    // Held requests: it sees and decides its own, not another team's.
    let held = enroll(&server, "alpha", "alpha-unknown", "no such secret");
    assert_eq!(held.message.pki_status, Some(PkiStatus::Pending));
    let other = enroll(&server, "beta", "beta-unknown", "no such secret");
    assert_eq!(other.message.pki_status, Some(PkiStatus::Pending));
    let (code, rows) = team_api("GET", "/api/v1/requests?status=pending", Value::Null);
    assert_eq!(code, 200);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["service"], "alpha");
    let own = rows[0]["id"].as_i64().unwrap();
    let beta_id =
        server.count("SELECT id FROM requests WHERE transaction_id = 'beta-beta-unknown'");
    let (code, _) = team_api("GET", &format!("/api/v1/requests/{beta_id}"), Value::Null);
    assert_eq!(code, 403);
    let (code, _) = team_api(
        "POST",
        &format!("/api/v1/requests/{beta_id}/reject"),
        json!({ "reason": "no" }),
    );
    assert_eq!(code, 403);
    let (code, decided) = team_api(
        "POST",
        &format!("/api/v1/requests/{own}/reject"),
        json!({ "reason": "not ours" }),
    );
    assert_eq!(code, 200, "{decided}");
    assert_eq!(decided["decided_by"], format!("api:team:{team}"));

    // A service given to an existing team (no new credentials) is that team's too.
    let (code, gamma) = admin(
        &server,
        "POST",
        "/api/v1/services",
        json!({ "name": "gamma", "team_id": team, "user_id": alpha["user_id"] }),
    );
    assert_eq!(code, 201, "{gamma}");
    assert!(gamma["credentials"]["token"].is_null());
    let (code, _) = team_api("POST", "/api/v1/services/gamma/secrets", json!({}));
    assert_eq!(code, 201);
    let (code, _) = api(
        &server,
        &beta_token,
        "GET",
        "/api/v1/services/gamma/secrets",
        "",
    );
    assert_eq!(code, 403);
}
