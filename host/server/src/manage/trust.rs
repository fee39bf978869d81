//! A service's trusted certificates, the anchors `trusted-cert-policy` checks
//! signers against (`anchors=trusted`): add them from PEM (one or more) or DER,
//! list and delete them.

use sceptic_store::{Service, TrustedCertificate};
use sha2::{Digest, Sha256};

use super::{Manager, Result, store_error};
use crate::decisions::DecisionError;

/// The DER certificates in a PEM bundle or a DER file.
pub fn read_certificates(bytes: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(vec![bytes.to_vec()]);
    };
    if !text.contains("-----BEGIN") {
        return Ok(vec![bytes.to_vec()]);
    }
    let mut certificates = Vec::new();
    for block in text.split_inclusive("-----END CERTIFICATE-----") {
        let Some(start) = block.find("-----BEGIN CERTIFICATE-----") else {
            continue;
        };
        let (_, der) = der::pem::decode_vec(&block.as_bytes()[start..])
            .map_err(|e| format!("a PEM certificate block is unreadable: {e}"))?;
        certificates.push(der);
    }
    if certificates.is_empty() {
        return Err("no -----BEGIN CERTIFICATE----- block found".into());
    }
    Ok(certificates)
}

/// Parses one certificate into the row the store keeps.
fn trusted_row(
    service_id: i64,
    der: Vec<u8>,
    by: &str,
) -> std::result::Result<TrustedCertificate, String> {
    let info = sceptic_proto::describe_certificate(&der)
        .map_err(|r| format!("not an X.509 certificate: {}", r.reason))?;
    Ok(TrustedCertificate {
        id: 0,
        service_id,
        subject: info.subject,
        issuer: info.issuer,
        serial: info.serial_hex,
        not_before: info.not_before,
        not_after: info.not_after,
        sha256: hex::encode(Sha256::digest(&der)),
        der,
        added_at: 0,
        added_by: by.to_owned(),
    })
}

pub fn list_trusted(m: &Manager<'_>, service: &str) -> Result<(Service, Vec<TrustedCertificate>)> {
    let s = m.managed(service)?;
    let rows = m.store.trusted_certificates(s.id).map_err(store_error)?;
    Ok((s, rows))
}

/// Trusts every certificate in `bytes` (PEM, one or more, or DER) for the service.
/// All are read and checked first, so an unreadable or already trusted one adds
/// none. Returns the added rows with their ids.
pub fn add_trusted(
    m: &Manager<'_>,
    service: &str,
    bytes: &[u8],
) -> Result<Vec<TrustedCertificate>> {
    let s = m.managed(service)?;
    let invalid = |message: String| DecisionError::Invalid {
        field: "pem",
        message,
    };
    let mut rows = Vec::new();
    for der in read_certificates(bytes).map_err(invalid)? {
        let row = trusted_row(s.id, der, &m.actor).map_err(invalid)?;
        if rows
            .iter()
            .any(|r: &TrustedCertificate| r.sha256 == row.sha256)
        {
            return Err(invalid(format!("{} is given twice", row.subject)));
        }
        rows.push(row);
    }
    let existing = m.store.trusted_certificates(s.id).map_err(store_error)?;
    if let Some(old) = existing
        .iter()
        .find(|old| rows.iter().any(|r| r.sha256 == old.sha256))
    {
        return Err(DecisionError::Conflict(format!(
            "{} is already trusted by service {:?} (trusted certificate {}); nothing was added",
            old.subject, s.name, old.id
        )));
    }
    for row in &mut rows {
        row.id = m.store.add_trusted_certificate(row).map_err(store_error)?;
        row.added_at = sceptic_store::now();
    }
    Ok(rows)
}

pub fn delete_trusted(m: &Manager<'_>, service: &str, id: i64) -> Result<()> {
    let s = m.managed(service)?;
    if !m
        .store
        .delete_trusted_certificate(s.id, id, &m.actor)
        .map_err(store_error)?
    {
        return Err(DecisionError::NotFound(format!(
            "service {:?} has no trusted certificate {id} (see `sceptic trust list --service {}` \
             or GET /api/v1/services/{{name}}/trusted-certificates)",
            s.name, s.name
        )));
    }
    Ok(())
}
