//! Renewal and trusted certificates over the real server: `trusted-cert-policy`
//! authorises a request by its signer certificate (one this service issued, or one
//! an uploaded trusted certificate issued), for renewal only unless
//! allow-new-issuance is on; expired, revoked and foreign signers are refused.
//! The real clients renew as they do in the field: micromdm scepclient with a
//! RenewalReq, certmonger `getcert rekey` with a PKCSReq signed by the old
//! certificate.

mod common;

use std::path::{Path, PathBuf};

use common::{
    Server, assert_issued_for, certmonger, http, openssl, scepclient, scepclient_in, scratch,
};
use rsa::pkcs8::DecodePrivateKey;
use sceptic_proto::client::{self, RequestOptions, Requester};
use sceptic_proto::{
    ContentCipher, DigestAlg, FailInfo, KeyTransport, MessageType, PkiMessage, PkiStatus,
};

const WITH_RENEWAL: &[&str] = &[
    "--policy",
    "builtin:secret-policy",
    "--policy",
    "builtin:trusted-cert-policy,anchors=service-ca",
];

fn edit(server: &Server, args: &[&str]) {
    let mut all = vec!["service", "edit", "default"];
    all.extend_from_slice(args);
    server.reconfigure(&all);
}

fn caps(server: &Server) -> String {
    let body = http(
        server.port,
        "GET",
        "/scep/default?operation=GetCACaps",
        &[],
        &[],
    )
    .2;
    String::from_utf8(body).unwrap()
}

#[test]
fn scepclient_renews_with_its_certificate_only_where_renewal_is_authorised() {
    let server = Server::start("renew-scepclient");
    edit(
        &server,
        &["--client-ciphers", "aes128,aes192,aes256,des3,des"],
    );
    let first = scepclient(&server, "default", &server.secret, "renew-1");
    let cert = first.dir.join("cert.pem");
    assert!(cert.exists(), "{}", first.output);
    let original = std::fs::read(&cert).unwrap();
    assert!(!caps(&server).lines().any(|l| l == "Renewal"));

    // Only the secret policy: a RenewalReq without a secret is refused.
    let _ = std::fs::remove_file(first.dir.join("csr.pem"));
    let refused = scepclient_in(&first.dir, &server, "default", "", "renew-1");
    assert!(refused.contains("failInfo: badRequest"), "{refused}");
    assert_eq!(std::fs::read(&cert).unwrap(), original);

    edit(&server, WITH_RENEWAL);
    assert!(caps(&server).lines().any(|l| l == "Renewal"));
    let _ = std::fs::remove_file(first.dir.join("csr.pem"));
    let renewed = scepclient_in(&first.dir, &server, "default", "", "renew-1");
    let now = std::fs::read(&cert).unwrap();
    assert_ne!(now, original, "no new certificate: {renewed}");
    assert_issued_for(&server, &cert, &first.dir.join("key.pem"), "CN=renew-1");
    assert_eq!(
        server.count("select count(*) from transactions where message_type = 'RenewalReq' and status = 'issued'"),
        1
    );
}

/// certmonger enrolls with a secret, then `getcert rekey` (a new key, a PKCSReq
/// signed by the current certificate, no secret). Returns the output and the
/// directory with cert.pem and key.pem.
fn certmonger_enroll_then_rekey(server: &Server, cn: &str) -> (String, PathBuf) {
    let dir = scratch("certmonger-rekey");
    let d = dir.to_str().unwrap();
    let secret = server.new_secret("default");
    let script = format!(
        "getcert add-scep-ca -s -c sceptic -u {url}\n\
         getcert request -s -c sceptic -I cm -k {d}/key.pem -f {d}/cert.pem -N 'CN={cn}' -L {secret} -w\n\
         cp {d}/cert.pem {d}/first.pem\n\
         getcert rekey -s -i cm -w\n\
         getcert list -s\n",
        url = server.url("default")
    );
    (certmonger(&dir, &script), dir)
}

#[test]
fn certmonger_rekey_is_a_renewal_by_its_signer() {
    let server = Server::start("renew-certmonger");
    let (output, dir) = certmonger_enroll_then_rekey(&server, "cm-off");
    assert!(dir.join("first.pem").exists(), "{output}");
    let same = |dir: &Path| {
        std::fs::read(dir.join("first.pem")).unwrap()
            == std::fs::read(dir.join("cert.pem")).unwrap()
    };
    assert!(
        same(&dir),
        "rekey must be refused without trusted-cert-policy: {output}"
    );

    edit(&server, WITH_RENEWAL);
    let (output, dir) = certmonger_enroll_then_rekey(&server, "cm-on");
    assert!(output.contains("status: MONITORING"), "{output}");
    assert!(
        !same(&dir),
        "rekey must renew: {output}\n{}",
        server.log_text()
    );
    assert_issued_for(
        &server,
        &dir.join("cert.pem"),
        &dir.join("key.pem"),
        "CN=cm-on",
    );
}

/// An external CA made with openssl, and certificates it issues.
struct ExternalCa {
    dir: PathBuf,
}

impl ExternalCa {
    fn new(name: &str) -> Self {
        let dir = scratch(name);
        let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "30",
        ]);
        Self { dir }
    }

    fn pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A key and a certificate for `CN=cn` valid for `days` (negative: expired).
    fn issue(&self, cn: &str, days: i32) -> Requester {
        let p = |f: &str| self.dir.join(f).to_str().unwrap().to_owned();
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p(&format!("{cn}.key")),
            "-out",
            &p(&format!("{cn}.csr")),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p(&format!("{cn}.csr")),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-days",
            &days.to_string(),
            "-outform",
            "DER",
            "-out",
            &p(&format!("{cn}.der")),
        ]);
        let key = std::fs::read_to_string(self.dir.join(format!("{cn}.key"))).unwrap();
        Requester::with_certificate(
            rsa::PrivateKey::from_pkcs8_pem(&key).unwrap(),
            std::fs::read(self.dir.join(format!("{cn}.der"))).unwrap(),
        )
    }
}

/// A PKCSReq for `subject` with no secret, signed by `signer`'s certificate.
fn request_by(server: &Server, signer: &Requester, subject: &str) -> PkiMessage {
    let csr = client::build_csr(&signer.key, subject, None, &[]);
    let options = RequestOptions {
        message_type: MessageType::PkcsReq,
        transaction_id: format!("renew-{subject}-{}", unique()),
        digest: DigestAlg::Sha256,
        cipher: ContentCipher::Aes256,
        key_transport: KeyTransport::Pkcs1v15,
    };
    let (body, _) = client::build_request(signer, &server.ra_cert("default"), &csr, &options);
    let (status, _, answer) = http(
        server.port,
        "POST",
        "/scep/default?operation=PKIOperation",
        &[],
        &body,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let reply = client::read_cert_rep(&answer, signer).unwrap();
    if reply.message.pki_status == Some(PkiStatus::Success) {
        let issued = &reply.issued_certificates[0];
        let described = sceptic_proto::describe_certificate(issued).unwrap();
        assert_eq!(described.subject, subject.trim_start_matches('/'));
    }
    reply.message
}

/// A fresh transactionID suffix: a repeated ID from the same signer is a retry,
/// answered with the first outcome.
fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn assert_refused(message: &PkiMessage, text_part: &str) {
    assert_eq!(
        message.pki_status,
        Some(PkiStatus::Failure),
        "{:?}",
        message.fail_info_text
    );
    assert_eq!(message.fail_info, Some(FailInfo::BadRequest));
    let text = message.fail_info_text.clone().unwrap_or_default();
    assert!(text.contains(text_part), "{text:?} lacks {text_part:?}");
}

fn assert_issued(message: &PkiMessage) {
    assert_eq!(
        message.pki_status,
        Some(PkiStatus::Success),
        "{:?}",
        message.fail_info_text
    );
}

fn trust_add(server: &Server, pem: &Path) -> String {
    server.cli_ok(&[
        "trust",
        "add",
        "--service",
        "default",
        pem.to_str().unwrap(),
    ])
}

#[test]
fn trusted_certificates_authorise_renewal_and_new_issuance_only_when_allowed() {
    let server = Server::start("trusted");
    edit(
        &server,
        &[
            "--policy",
            "builtin:secret-policy",
            "--policy",
            "builtin:trusted-cert-policy,anchors=trusted",
        ],
    );
    let partner = ExternalCa::new("partner-ca");
    let device = partner.issue("dev", 10);

    // Not trusted yet: a foreign signer is refused.
    assert_refused(&request_by(&server, &device, "CN=dev"), "trusted");
    let added = trust_add(&server, &partner.pem());
    assert!(added.contains("CN=partner-ca"), "{added}");
    let listed = server.cli_ok(&["trust", "list", "--service", "default"]);
    assert!(listed.contains("CN=partner-ca"), "{listed}");
    let again = server.cli(&[
        "trust",
        "add",
        "--service",
        "default",
        partner.pem().to_str().unwrap(),
    ]);
    assert!(
        !again.status.success(),
        "the same certificate twice is refused"
    );
    // The trust store is read per request: no reload needed, but wait one anyway
    // so the test does not depend on it.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    assert_issued(&request_by(&server, &device, "CN=dev"));
    // Another subject is new issuance: not authorised by the certificate alone.
    let other = request_by(&server, &device, "CN=someone-else");
    assert_eq!(other.pki_status, Some(PkiStatus::Failure));
    edit(
        &server,
        &[
            "--policy",
            "builtin:secret-policy",
            "--policy",
            "builtin:trusted-cert-policy,anchors=trusted,allow-new-issuance=true",
        ],
    );
    assert_issued(&request_by(&server, &device, "CN=someone-else"));

    // Expired, and issued by an untrusted CA: refused with the reason.
    let expired = partner.issue("old", -1);
    assert_refused(&request_by(&server, &expired, "CN=old"), "expired");
    let stranger = ExternalCa::new("stranger-ca").issue("dev", 10);
    assert_refused(
        &request_by(&server, &stranger, "CN=dev"),
        "trusted certificate",
    );

    // Deleting the trusted certificate withdraws the authorisation.
    let id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    server.cli_ok(&["trust", "delete", "--service", "default", &id]);
    assert_refused(
        &request_by(&server, &device, "CN=dev"),
        "no trusted certificates",
    );
    assert!(server.audit_events().contains("trust-deleted"));
}

#[test]
fn a_revoked_certificate_stops_authorising_renewal_at_once() {
    let server = Server::start("renew-revoked");
    edit(&server, WITH_RENEWAL);
    let requester = Requester::generate(2048, "rev");
    let csr = client::build_csr(&requester.key, "CN=rev", Some(&server.secret), &[]);
    let options = RequestOptions {
        message_type: MessageType::PkcsReq,
        transaction_id: "revoked-first".into(),
        digest: DigestAlg::Sha256,
        cipher: ContentCipher::Aes128,
        key_transport: KeyTransport::Pkcs1v15,
    };
    let (body, _) = client::build_request(&requester, &server.ra_cert("default"), &csr, &options);
    let answer = http(
        server.port,
        "POST",
        "/scep/default?operation=PKIOperation",
        &[],
        &body,
    )
    .2;
    let reply = client::read_cert_rep(&answer, &requester).unwrap();
    let issued = reply.issued_certificates[0].clone();
    let holder = Requester::with_certificate(requester.key, issued.clone());

    // RenewalReq (17) signed by the issued certificate: allowed.
    let renew = |holder: &Requester, id: &str| {
        let csr = client::build_csr(&holder.key, "CN=rev", None, &[]);
        let options = RequestOptions {
            message_type: MessageType::RenewalReq,
            transaction_id: id.into(),
            digest: DigestAlg::Sha256,
            cipher: ContentCipher::Aes128,
            key_transport: KeyTransport::Pkcs1v15,
        };
        let (body, _) = client::build_request(holder, &server.ra_cert("default"), &csr, &options);
        let answer = http(
            server.port,
            "POST",
            "/scep/default?operation=PKIOperation",
            &[],
            &body,
        )
        .2;
        client::read_cert_rep(&answer, holder).unwrap().message
    };
    assert_issued(&renew(&holder, "renew-ok"));

    let serial = sceptic_proto::describe_certificate(&issued)
        .unwrap()
        .serial_hex;
    server.cli_ok(&["cert", "revoke", &serial, "--reason", "keyCompromise"]);
    assert_refused(&renew(&holder, "renew-revoked"), "revoked");
}
