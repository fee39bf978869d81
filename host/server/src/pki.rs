//! Certificates sceptic makes for itself: the local CA at `init`, and each
//! service's RA certificate (at creation and at every rollover).

use std::time::{Duration, SystemTime};

use anyhow::Context;
use der::{Decode, Encode};
use sceptic_keys::{RsaKey, SignatureDigest};
use sceptic_x509::CertificateTemplate;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// Lifetime of the CA made at `init`.
pub const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Lifetime of an RA certificate; replaced long before the CA expires.
pub const RA_LIFETIME: Duration = Duration::from_secs(2 * 365 * 86_400);
/// Backdating of our own certificates, for peers whose clocks run slow.
const BACKDATE: Duration = Duration::from_secs(300);

fn random_serial() -> Vec<u8> {
    let mut random = [0u8; sceptic_x509::SERIAL_RANDOM_BYTES];
    sceptic_keys::fill_random(&mut random);
    sceptic_x509::serial_from_random(random)
}

fn spki(key: &RsaKey) -> anyhow::Result<SubjectPublicKeyInfoOwned> {
    Ok(SubjectPublicKeyInfoOwned::from_der(
        &key.public_key_spki_der(),
    )?)
}

fn sign(template: &CertificateTemplate, signer: &RsaKey) -> anyhow::Result<Vec<u8>> {
    let tbs = sceptic_x509::tbs_certificate_der(template)?;
    let signature = signer.sign(SignatureDigest::Sha256, &tbs)?;
    Ok(sceptic_x509::assemble_certificate(
        &tbs,
        &sceptic_x509::sha256_with_rsa(),
        &signature,
    )?)
}

/// A self-signed CA certificate for `key`.
pub fn self_signed_ca(key: &RsaKey, subject: &str) -> anyhow::Result<Vec<u8>> {
    let name = sceptic_x509::name_der(subject).map_err(anyhow::Error::msg)?;
    let now = SystemTime::now();
    let template = CertificateTemplate {
        serial: random_serial(),
        issuer: name.clone(),
        issuer_key_id: None,
        subject: name,
        subject_public_key_info: spki(key)?,
        not_before: now - BACKDATE,
        not_after: now + CA_LIFETIME,
        ca: Some(Some(0)),
        key_usage: sceptic_x509::key_usage_from_names([
            "keyCertSign",
            "cRLSign",
            "digitalSignature",
        ])
        .map_err(anyhow::Error::msg)?,
        extended_key_usage: Vec::new(),
        extra_extensions: Vec::new(),
    };
    sign(&template, key)
}

/// An RA certificate for `ra_key`, issued by the CA. RFC 8894 §2.1 has the RA sign
/// replies and decrypt requests: digitalSignature and keyEncipherment.
pub fn ra_certificate(
    ca_key: &RsaKey,
    ca_certificate: &[u8],
    ra_key: &RsaKey,
    subject: &str,
) -> anyhow::Result<(Vec<u8>, i64)> {
    let ca =
        x509_cert::Certificate::from_der(ca_certificate).context("reading the CA certificate")?;
    let ca_spki = ca.tbs_certificate().subject_public_key_info();
    let ca_not_after = ca.tbs_certificate().validity().not_after.to_system_time();
    let now = SystemTime::now();
    let not_after = (now + RA_LIFETIME).min(ca_not_after);
    let template = CertificateTemplate {
        serial: random_serial(),
        issuer: ca.tbs_certificate().subject().to_der()?,
        issuer_key_id: Some(sceptic_x509::key_identifier(ca_spki)),
        subject: sceptic_x509::name_der(subject).map_err(anyhow::Error::msg)?,
        subject_public_key_info: spki(ra_key)?,
        not_before: now - BACKDATE,
        not_after,
        ca: None,
        key_usage: sceptic_x509::key_usage_from_names(["digitalSignature", "keyEncipherment"])
            .map_err(anyhow::Error::msg)?,
        extended_key_usage: Vec::new(),
        extra_extensions: Vec::new(),
    };
    let unix = not_after
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok((sign(&template, ca_key)?, unix))
}

/// PEM of a DER certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).expect("PEM of DER")
}
