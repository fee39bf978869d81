//! The local CA's CRL (RFC 5280 §5): made when first asked for, kept in the store,
//! and made anew when a certificate is revoked or the current one nears its
//! nextUpdate. Each new CRL carries a higher cRLNumber.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{Decode, Encode};
use sceptic_keys::SignatureDigest;
use sceptic_store::StoredCrl;
use sceptic_x509::{CrlReason, CrlTemplate, RevokedEntry};

use crate::App;
use crate::runtime::ServiceRuntime;

/// How long a CRL is valid (its nextUpdate). Relying parties fetch again by then.
pub const CRL_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// A CRL this close to its nextUpdate is replaced on the next request for it.
pub const CRL_REFRESH_MARGIN: Duration = Duration::from_secs(86_400);

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The DER CRL of the service's CA, current as of now.
pub fn current_crl(app: &App, rt: &ServiceRuntime) -> anyhow::Result<Vec<u8>> {
    // One writer at a time, so two requests do not sign two CRLs with one number.
    let _guard = app
        .crl_lock
        .lock()
        .map_err(|_| anyhow::anyhow!("CRL lock poisoned"))?;
    let ca_id = rt.service.ca_id;
    let revocations = app.store.revocation_count(ca_id)?;
    let now = SystemTime::now();
    if let Some(stored) = app.store.current_crl(ca_id)? {
        let fresh = stored.next_update - unix(now) > CRL_REFRESH_MARGIN.as_secs() as i64;
        if stored.revocations == revocations && fresh {
            return Ok(stored.der);
        }
    }
    let ca = x509_cert::Certificate::from_der(&rt.ca_certificate)?;
    let revoked = app
        .store
        .revoked(ca_id)?
        .into_iter()
        .map(|r| {
            // serial_hex is the magnitude; INTEGER contents need a leading zero
            // when its top bit is set.
            let mut serial = hex::decode(&r.serial_hex)?;
            if serial.first().is_some_and(|b| b & 0x80 != 0) {
                serial.insert(0, 0);
            }
            Ok(RevokedEntry {
                serial,
                revoked_at: UNIX_EPOCH + Duration::from_secs(r.revoked_at.max(0) as u64),
                reason: CrlReason::parse(&r.reason).ok(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let number = app.store.next_crl_number(ca_id)?;
    let next_update = now + CRL_LIFETIME;
    let template = CrlTemplate {
        issuer: ca.tbs_certificate().subject().to_der()?,
        issuer_key_id: sceptic_x509::key_identifier(ca.tbs_certificate().subject_public_key_info()),
        this_update: now,
        next_update,
        crl_number: number as u64,
        revoked,
    };
    let tbs = sceptic_x509::tbs_cert_list_der(&template)?;
    let signature = rt.ca_key.sign(SignatureDigest::Sha256, &tbs)?;
    let der = sceptic_x509::assemble_crl(&tbs, &sceptic_x509::sha256_with_rsa(), &signature)?;
    app.store.store_crl(
        ca_id,
        &StoredCrl {
            number,
            der: der.clone(),
            next_update: unix(next_update),
            revocations,
        },
    )?;
    tracing::info!(service = %rt.name, number, revoked = template.revoked.len(), "CRL signed");
    Ok(der)
}
