//! RA settings and rollover over the real server: a successor RA appears in
//! GetNextCACert (RFC 8894 §4.7) once the configured share of the current RA's
//! life is left, GetCACert keeps the current RA, and requests encrypted to
//! either RA are answered during the overlap.

mod common;

use std::time::{Duration, Instant};

use common::{Server, header, http, openssl, scratch};
use sceptic_proto::client::{self, RequestOptions, Requester};
use sceptic_proto::{ContentCipher, DigestAlg, KeyTransport, MessageType, PkiStatus};

fn caps(server: &Server) -> String {
    String::from_utf8(
        http(
            server.port,
            "GET",
            "/scep/default?operation=GetCACaps",
            &[],
            &[],
        )
        .2,
    )
    .unwrap()
}

/// PKCSReq encrypted to `ra`; returns the reply after checking it is a SUCCESS.
fn enroll_to(server: &Server, ra: &[u8], cn: &str) -> client::Reply {
    let requester = Requester::generate(2048, cn);
    let secret = server.new_secret("default");
    let csr = client::build_csr(&requester.key, &format!("CN={cn}"), Some(&secret), &[]);
    let options = RequestOptions {
        message_type: MessageType::PkcsReq,
        transaction_id: format!("ra-{cn}"),
        digest: DigestAlg::Sha256,
        cipher: ContentCipher::Aes128,
        key_transport: KeyTransport::Pkcs1v15,
    };
    let (body, _) = client::build_request(&requester, ra, &csr, &options);
    let answer = http(
        server.port,
        "POST",
        "/scep/default?operation=PKIOperation",
        &[],
        &body,
    )
    .2;
    let reply = client::read_cert_rep(&answer, &requester).unwrap();
    assert_eq!(
        reply.message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        reply.message.fail_info_text
    );
    reply
}

#[test]
fn a_successor_ra_is_offered_by_get_next_ca_cert_and_both_decrypt_during_the_overlap() {
    let server = Server::start("ra-rollover");
    assert!(!caps(&server).lines().any(|l| l == "GetNextCACert"));
    let (status, _, _) = http(
        server.port,
        "GET",
        "/scep/default?operation=GetNextCACert",
        &[],
        &[],
    );
    assert_eq!(status, 404);
    let old_ra = server.ra_cert("default");

    // The successor takes the settings in force when it is made.
    let bad = server.cli(&["service", "edit", "default", "--ra-key-bits", "1024"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--ra-key-bits"));
    server.reconfigure(&[
        "service",
        "edit",
        "default",
        "--ra-key-bits",
        "3072",
        "--ra-subject",
        "CN=Rollover RA,O=Example",
        "--ra-renew-at-percent",
        "100",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !caps(&server).lines().any(|l| l == "GetNextCACert") {
        assert!(
            Instant::now() < deadline,
            "no successor RA: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let (status, headers, body) = http(
        server.port,
        "GET",
        "/scep/default?operation=GetNextCACert",
        &[],
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/x-x509-next-ca-cert")
    );
    let dir = scratch("next-ca");
    let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    std::fs::write(dir.join("next.der"), &body).unwrap();
    // Signed by the current RA: openssl checks the signature with the RA
    // certificate GetCACert gave, then hands out the content.
    std::fs::write(dir.join("old-ra.der"), &old_ra).unwrap();
    openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        &p("old-ra.der"),
        "-out",
        &p("old-ra.pem"),
    ]);
    openssl(&[
        "cms",
        "-verify",
        "-noverify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        &p("next.der"),
        "-certfile",
        &p("old-ra.pem"),
        "-out",
        &p("content.der"),
    ]);
    let next = openssl(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        &p("content.der"),
        "-print_certs",
        "-text",
    ]);
    // RFC 4514 "CN=Rollover RA,O=Example" is O first in DER, as openssl prints it.
    assert!(
        next.contains("Subject: O=Example, CN=Rollover RA"),
        "{next}"
    );
    assert!(next.contains("Public-Key: (3072 bit)"), "{next}");
    assert!(
        next.contains("Digital Signature, Key Encipherment"),
        "{next}"
    );
    let successor = server.cli_ok(&["service", "show", "default"]);
    assert!(
        successor.contains("successor, offered by GetNextCACert"),
        "{successor}"
    );
    assert!(server.audit_events().contains("ra-successor"));

    // GetCACert keeps the current RA; requests to either RA are answered, and
    // replies are signed by the current one.
    assert_eq!(server.ra_cert("default"), old_ra);
    let new_ra = successor_der(&p("content.der"));
    assert_ne!(new_ra, old_ra, "the successor is a new RA certificate");
    for (ra, cn) in [(&old_ra, "to-old"), (&new_ra, "to-new")] {
        let reply = enroll_to(&server, ra, cn);
        assert_eq!(reply.message.signer_certificate_der, old_ra);
    }
    // One successor only, however many reloads pass.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(server.count("select count(*) from ra_keys"), 2);
}

/// The RA certificate among the GetNextCACert content's certificates (the one
/// with keyEncipherment, not the CA).
fn successor_der(content: &str) -> Vec<u8> {
    let pem = openssl(&["pkcs7", "-inform", "DER", "-in", content, "-print_certs"]);
    pem.split("-----END CERTIFICATE-----")
        .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
        .map(|c| {
            let block = format!(
                "{}-----END CERTIFICATE-----\n",
                &c[c.find("-----BEGIN").unwrap()..]
            );
            der::pem::decode_vec(block.as_bytes()).unwrap().1
        })
        .find(|der| {
            sceptic_proto::describe_certificate(der)
                .is_ok_and(|c| c.key_usage.iter().any(|u| u == "keyEncipherment"))
        })
        .expect("an RA certificate in GetNextCACert")
}
