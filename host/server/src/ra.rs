//! A service's RA certificates: making one (at creation, and as a successor when
//! the current one nears its end), and deciding when a successor is due.
//!
//! Rollover (RFC 8894 §2.2, §4.7): when `ra.renew-at-percent` of the current RA
//! certificate's life is left, a successor with a fresh key is made. GetCACert
//! keeps offering the current RA until it expires; GetNextCACert offers the
//! successor; a request encrypted to either is decrypted, since the envelope names
//! its recipient. Several servers on one database make one successor: the store
//! records it only if none is newer than the RA the server saw.

use std::path::Path;

use anyhow::Context;
use sceptic_keys::RsaKey;
use sceptic_store::{RaSettings, Store};

use crate::App;
use crate::runtime::ServiceRuntime;

/// Where RA keys live in the data directory (0700, each file 0600).
pub const KEYS_DIR: &str = "keys";

/// A new RA key and its certificate from the service's CA, written to the data
/// directory. Returns the certificate, the key file (relative to the data
/// directory) and the certificate's notAfter.
pub fn make_ra(
    data_dir: &Path,
    key_tag: &str,
    service_name: &str,
    settings: &RaSettings,
    ca_key: &RsaKey,
    ca_certificate: &[u8],
) -> anyhow::Result<(Vec<u8>, String, i64)> {
    let key = RsaKey::generate(settings.key_bits)
        .with_context(|| format!("generating a {}-bit RA key", settings.key_bits))?;
    // A fresh, unused file name: rollovers add keys, they never replace one.
    let mut n = 1;
    let key_file = loop {
        let candidate = format!("{KEYS_DIR}/ra-{key_tag}-{n}.key");
        if !data_dir.join(&candidate).exists() {
            break candidate;
        }
        n += 1;
    };
    key.save_new(&data_dir.join(&key_file))?;
    let (certificate, not_after) = crate::pki::ra_certificate(
        ca_key,
        ca_certificate,
        &key,
        &settings.subject_for(service_name),
    )?;
    Ok((certificate, key_file, not_after))
}

/// Whether the current RA has reached the share of its life at which a
/// successor is made (and none exists yet).
pub fn successor_due(rt: &ServiceRuntime, now: i64) -> bool {
    let percent = i64::from(rt.service.ra.renew_at_percent);
    if percent == 0 || rt.ra.len() > 1 {
        return false;
    }
    let current = &rt.ra[0];
    let life = (current.not_after - current.not_before).max(1);
    let left = current.not_after - now;
    left * 100 <= life * percent
}

/// Makes the successor RA of every loaded service that is due one. Runs off the
/// request path (the reload task); the next reload serves it.
pub fn roll_over(app: &App) {
    let now = sceptic_store::now();
    let table = app.table();
    for rt in table.by_alias.values() {
        if !successor_due(rt, now) {
            continue;
        }
        match make_successor(&app.store, &app.data_dir, rt) {
            Ok(true) => {
                tracing::info!(service = %rt.name, "made a successor RA certificate; GetNextCACert offers it")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(service = %rt.name, "making a successor RA certificate failed: {e:#}; will try again")
            }
        }
    }
}

fn make_successor(store: &Store, data_dir: &Path, rt: &ServiceRuntime) -> anyhow::Result<bool> {
    let rows = store.ra_keys(rt.service.id)?;
    let Some(current) = rows
        .iter()
        .find(|r| r.certificate == rt.ra[0].certificate_der)
    else {
        return Ok(false);
    };
    let (certificate, key_file, not_after) = make_ra(
        data_dir,
        &rt.service.id.to_string(),
        &rt.service.name,
        &rt.service.ra,
        &rt.ca_key,
        &rt.ca_certificate,
    )?;
    let detail = format!(
        "successor of RA {} (which ends at {}), {}-bit key, subject {}, {} % of its life left",
        current.id,
        current.not_after,
        rt.service.ra.key_bits,
        rt.service.ra.subject_for(&rt.service.name),
        rt.service.ra.renew_at_percent
    );
    let added = store.add_successor_ra_key(
        rt.service.id,
        current.id,
        &certificate,
        &key_file,
        not_after,
        &detail,
    )?;
    if added.is_none() {
        // Another server was first: its successor stands, ours goes.
        let _ = std::fs::remove_file(data_dir.join(&key_file));
    }
    Ok(added.is_some())
}

/// The issuer check: the RA certificate must be issued by one of the
/// certificate issuer's CA certificates (so both chain to the same root, and a
/// client that trusts the CA can trust the RA's signature). The error tells the
/// operator what differs and how to skip the check.
pub fn check_issuer_chain(
    service: &str,
    ra_certificate: &[u8],
    issuer_ca_certificates: &[Vec<u8>],
) -> Result<(), String> {
    if issuer_ca_certificates
        .iter()
        .any(|ca| sceptic_proto::issued_by(ra_certificate, ca).is_ok())
    {
        return Ok(());
    }
    let subject = |der: &[u8]| {
        sceptic_proto::describe_certificate(der)
            .map(|c| c.subject)
            .unwrap_or_else(|_| "(unreadable)".into())
    };
    let ra_issuer = sceptic_proto::describe_certificate(ra_certificate)
        .map(|c| c.issuer)
        .unwrap_or_else(|_| "(unreadable)".into());
    let cas: Vec<String> = issuer_ca_certificates.iter().map(|c| subject(c)).collect();
    Err(format!(
        "the RA certificate is issued by {ra_issuer}, which is not among the certificate \
         issuer's CA certificates ({}); the two do not chain to the same root. If clients \
         get both from GetCACert and that is intended, run \
         `sceptic service edit {service} --skip-issuer-check true`",
        cas.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_check_accepts_an_ra_of_the_issuing_ca_only() {
        let ca_key = RsaKey::generate(2048).unwrap();
        let ca = crate::pki::self_signed_ca(&ca_key, "CN=Issuing CA").unwrap();
        let other_key = RsaKey::generate(2048).unwrap();
        let other = crate::pki::self_signed_ca(&other_key, "CN=Other CA").unwrap();
        let ra_key = RsaKey::generate(2048).unwrap();
        let (ra, _) = crate::pki::ra_certificate(&ca_key, &ca, &ra_key, "CN=RA").unwrap();
        assert!(check_issuer_chain("vpn", &ra, std::slice::from_ref(&ca)).is_ok());
        assert!(check_issuer_chain("vpn", &ra, &[other.clone(), ca.clone()]).is_ok());
        let refused = check_issuer_chain("vpn", &ra, &[other]).unwrap_err();
        assert!(refused.contains("CN=Issuing CA"), "{refused}");
        assert!(refused.contains("CN=Other CA"), "{refused}");
        assert!(
            refused.contains("sceptic service edit vpn --skip-issuer-check true"),
            "{refused}"
        );
    }
}
