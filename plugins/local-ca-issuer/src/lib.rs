//! `local-ca-issuer`: the built-in CA. It builds each certificate from the CSR and
//! its own configuration, and asks the host to sign it with the service's CA key,
//! which it never sees.
//!
//! The subject is kept byte for byte as requested; subjectAltName comes from the
//! CSR's extensionRequest; key usage, extended key usage and validity come from the
//! configuration:
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `validity-days` | `365` | lifetime of issued certificates |
//! | `backdate-minutes` | `5` | notBefore this far in the past, for clients with slow clocks |
//! | `key-usage` | `digitalSignature,keyEncipherment` | RFC 5280 names, comma-separated |
//! | `extended-key-usage` | `clientAuth` | names or dotted OIDs; empty for none |

wit_bindgen::generate!({
    world: "issuer-plugin",
    path: "../../wit/v0.1",
    generate_all,
});

use std::time::{Duration, UNIX_EPOCH};

use der::{Decode, Encode, Reader, SliceReader};
use exports::sceptic::plugin::issuer::Guest;
use sceptic::host::{config, signing};
use sceptic::types::types::{Denial, FailInfo, IssueResult, Request};
use sceptic_x509::x509_cert;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::Extension;

const KNOWN_KEYS: &[&str] = &[
    "validity-days",
    "backdate-minutes",
    "key-usage",
    "extended-key-usage",
];
const DEFAULT_VALIDITY_DAYS: u64 = 365;
const DEFAULT_BACKDATE_MINUTES: u64 = 5;
const DEFAULT_KEY_USAGE: &str = "digitalSignature,keyEncipherment";
const DEFAULT_EXTENDED_KEY_USAGE: &str = "clientAuth";
/// extensionRequest (PKCS#9, RFC 2985 §5.4.2).
const EXTENSION_REQUEST: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");

struct Settings {
    validity: Duration,
    backdate: Duration,
    key_usage: x509_cert::ext::pkix::KeyUsage,
    extended_key_usage: Vec<der::oid::ObjectIdentifier>,
}

fn number(key: &str, default: u64, max: u64) -> Result<u64, String> {
    match config::get(key) {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if n >= 1 && n <= max => Ok(n),
            _ => Err(format!(
                "{key} must be a whole number from 1 to {max}, not {text:?}"
            )),
        },
    }
}

fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn settings() -> Result<Settings, String> {
    if let Some(key) = config::keys()
        .into_iter()
        .find(|k| !KNOWN_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "local-ca-issuer has no setting {key:?} (known: {})",
            KNOWN_KEYS.join(", ")
        ));
    }
    let days = number("validity-days", DEFAULT_VALIDITY_DAYS, 36_500)?;
    let backdate = number("backdate-minutes", DEFAULT_BACKDATE_MINUTES, 1_440)?;
    let key_usage = config::get("key-usage").unwrap_or_else(|| DEFAULT_KEY_USAGE.into());
    let eku =
        config::get("extended-key-usage").unwrap_or_else(|| DEFAULT_EXTENDED_KEY_USAGE.into());
    Ok(Settings {
        validity: Duration::from_secs(days * 86_400),
        backdate: Duration::from_secs(backdate * 60),
        key_usage: sceptic_x509::key_usage_from_names(list(&key_usage))?,
        extended_key_usage: sceptic_x509::extended_key_usage_from_names(list(&eku))?,
    })
}

/// The CSR's subject (raw DER), public key and requested extensions.
fn read_csr(csr: &[u8]) -> der::Result<(Vec<u8>, SubjectPublicKeyInfoOwned, Vec<Extension>)> {
    // The subject is read raw from the CertificationRequestInfo so that it is
    // copied exactly, whatever order its attributes are in.
    let mut outer = SliceReader::new(csr)?;
    let (subject, spki) = outer.sequence(|request| {
        let info: der::asn1::AnyRef<'_> = request.decode()?;
        let mut fields = SliceReader::new(info.value())?;
        let _version: u8 = fields.decode()?;
        let subject: der::asn1::AnyRef<'_> = fields.decode()?;
        let spki: SubjectPublicKeyInfoOwned = fields.decode()?;
        let rest = request.remaining_len();
        request.drain(rest)?;
        Ok::<_, der::Error>((subject.to_der()?, spki))
    })?;
    let parsed = x509_cert::request::CertReq::from_der(csr)?;
    let mut extensions = Vec::new();
    for attribute in parsed.info.attributes.iter() {
        if attribute.oid == EXTENSION_REQUEST {
            for value in attribute.values.iter() {
                extensions.extend(value.decode_as::<Vec<Extension>>()?);
            }
        }
    }
    Ok((subject, spki, extensions))
}

fn rejected(fail_info: FailInfo, reason: String) -> IssueResult {
    IssueResult::Rejected(Denial { fail_info, reason })
}

struct LocalCa;

impl Guest for LocalCa {
    fn init() -> Result<(), String> {
        settings().map(|_| ())
    }

    fn ca_certificates() -> Vec<Vec<u8>> {
        vec![signing::issuing_key().certificate()]
    }

    fn issue(request: Request) -> IssueResult {
        let settings = match settings() {
            Ok(s) => s,
            Err(e) => return rejected(FailInfo::BadRequest, format!("issuer configuration: {e}")),
        };
        let (subject, spki, requested) = match read_csr(&request.csr.der) {
            Ok(parts) => parts,
            Err(e) => return rejected(FailInfo::BadRequest, format!("unreadable CSR: {e}")),
        };
        let key = signing::issuing_key();
        let ca = match x509_cert::Certificate::from_der(&key.certificate()) {
            Ok(ca) => ca,
            Err(e) => {
                return rejected(
                    FailInfo::BadRequest,
                    format!("unreadable CA certificate: {e}"),
                );
            }
        };
        let issuer = match ca.tbs_certificate().subject().to_der() {
            Ok(issuer) => issuer,
            Err(e) => return rejected(FailInfo::BadRequest, format!("CA subject: {e}")),
        };
        let ca_spki = ca.tbs_certificate().subject_public_key_info().clone();
        let received = UNIX_EPOCH + Duration::from_secs(request.received_at.max(0) as u64);
        let template = sceptic_x509::CertificateTemplate {
            serial: signing::random_serial(),
            issuer,
            issuer_key_id: Some(sceptic_x509::key_identifier(&ca_spki)),
            subject,
            subject_public_key_info: spki,
            not_before: received - settings.backdate,
            not_after: received + settings.validity,
            ca: None,
            key_usage: settings.key_usage,
            extended_key_usage: settings.extended_key_usage,
            extra_extensions: sceptic_x509::subject_alt_name(&requested)
                .into_iter()
                .collect(),
        };
        let tbs = match sceptic_x509::tbs_certificate_der(&template) {
            Ok(tbs) => tbs,
            Err(e) => {
                return rejected(
                    FailInfo::BadRequest,
                    format!("cannot build the certificate: {e}"),
                );
            }
        };
        match key.sign_certificate(&tbs) {
            Ok(certificate) => IssueResult::Issued(certificate),
            Err(e) => rejected(
                FailInfo::BadRequest,
                format!("the host refused to sign: {e}"),
            ),
        }
    }

    fn poll(ticket: String) -> IssueResult {
        // This CA decides at once; it never hands out tickets.
        rejected(
            FailInfo::BadCertId,
            format!("no pending request {ticket:?}"),
        )
    }
}

export!(LocalCa);
