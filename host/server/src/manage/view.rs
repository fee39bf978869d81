//! Services, secrets and trusted certificates as JSON: the REST API's answers, and
//! what `sceptic service show` prints from, so both show the same fields. Setting
//! fields carry the names `POST`/`PATCH /api/v1/services` take.

use sceptic_store::{
    DeletedService, Owner, RequestStatus, SecretKind, SecretRow, Service, Store, TrustedCertificate,
};
use serde_json::{Value, json};

use super::{Result, describe_plugin, service_url, store_error};

fn subject_of(der: &[u8]) -> String {
    sceptic_proto::describe_certificate(der)
        .map(|c| c.subject)
        .unwrap_or_else(|e| format!("(unreadable certificate: {})", e.reason))
}

/// Every setting of a service, its URL, team and user, RA certificates, and what
/// it holds (secrets by kind, pending requests, issued certificates).
pub fn service_json(store: &Store, s: &Service) -> Result<Value> {
    let (url, url_source) = service_url(store, s)?;
    let ca = store.ca(s.ca_id).map_err(store_error)?;
    // Newest first; the current RA is the oldest still valid, newer ones are its
    // successors (GetNextCACert offers them).
    let rows = store.ra_keys(s.id).map_err(store_error)?;
    let now = sceptic_store::now();
    let current = rows.iter().rposition(|r| r.not_after > now).unwrap_or(0);
    let ra_certificates: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, ra)| {
            json!({
                "subject": subject_of(&ra.certificate),
                "not_after": ra.not_after,
                "status": match i.cmp(&current) {
                    std::cmp::Ordering::Less => "successor",
                    std::cmp::Ordering::Equal => "current",
                    std::cmp::Ordering::Greater => "expired",
                },
            })
        })
        .collect();
    let team = match s.team_id {
        Some(id) => store.team(id).map_err(store_error)?.map(|t| t.name),
        None => None,
    };
    let user = match s.user_id {
        Some(id) => store.user(id).map_err(store_error)?.map(|u| u.name),
        None => None,
    };
    let secrets = store.secrets(s.id).map_err(store_error)?;
    let count = |kind| secrets.iter().filter(|r| r.kind == kind).count();
    let pending = store
        .held_requests(Some(s.id), Some(RequestStatus::Pending))
        .map_err(store_error)?
        .len();
    let issued = store.certificates(s.id).map_err(store_error)?.len();
    let e = &s.enforcement;
    let a = &s.algorithms;
    Ok(json!({
        "name": s.name,
        "alias": s.alias,
        "enabled": s.enabled,
        "url": url,
        "url_source": url_source,
        "base_url": s.base_url,
        "team_id": s.team_id,
        "team": team,
        "user_id": s.user_id,
        "user": user,
        "certificate_info": s.certificate_info,
        "ca": subject_of(&ca.certificate),
        "ra_certificates": ra_certificates,
        "ra_key_bits": s.ra.key_bits,
        "ra_subject": s.ra.subject_for(&s.name),
        "ra_renew_at_percent": s.ra.renew_at_percent,
        "ra_issuer": s.ra.issuer,
        "skip_issuer_check": s.ra.skip_issuer_check,
        "client_ciphers": s.client_ciphers,
        "client_digests": a.client_digests,
        "reply_digest": a.reply_digest,
        "reply_cipher": a.reply_cipher,
        "kek_cipher": a.kek_cipher,
        "policies": s.policies.iter().map(describe_plugin).collect::<Vec<_>>(),
        "issuer": describe_plugin(&s.issuer),
        "allow_unauthorised": s.approval.is_some(),
        "approval": s.approval.as_ref().map(describe_plugin),
        "max_poll_count": s.max_poll_count,
        "min_poll_interval": s.min_poll_interval,
        "post_only": e.post_only,
        "strict_content_types": e.strict_content_types,
        "signer_digital_signature": e.signer_digital_signature,
        "self_signed_matches_csr": e.self_signed_matches_csr,
        "respect_key_usage": e.respect_key_usage,
        "secrets": {
            "global": count(SecretKind::Global) > 0,
            "single_use": count(SecretKind::SingleUse),
            "single_use_unused": secrets
                .iter()
                .filter(|r| r.kind == SecretKind::SingleUse && r.uses == 0)
                .count(),
            "long_life": count(SecretKind::LongLife),
        },
        "held_requests_pending": pending,
        "certificates_issued": issued,
    }))
}

/// A secret as listed: never its value.
pub fn secret_json(row: &SecretRow) -> Value {
    json!({
        "id": row.id,
        "kind": row.kind.as_str(),
        "created_at": row.created_at,
        "used_at": row.used_at,
        "uses": row.uses,
        "bound_key": row.bound_key,
    })
}

pub fn trusted_json(t: &TrustedCertificate) -> Value {
    json!({
        "id": t.id,
        "subject": t.subject,
        "issuer": t.issuer,
        "serial": t.serial,
        "not_before": t.not_before,
        "not_after": t.not_after,
        "expired": t.not_after < sceptic_store::now(),
        "sha256": t.sha256,
        "added_at": t.added_at,
        "added_by": t.added_by,
    })
}

pub fn deleted_json(d: &DeletedService, warnings: &[String]) -> Value {
    json!({
        "name": d.name,
        "alias": d.alias,
        "secrets_deleted": d.secrets_deleted,
        "ra_keys_deleted": d.ra_key_files.len(),
        "requests_closed": d.requests_closed,
        "certificates_kept": d.certificates_kept,
        "warnings": warnings,
    })
}

/// The team and user a new service got, with the generated token (shown once).
pub fn owner_json(owner: &Owner) -> Value {
    json!({
        "team_id": owner.team.id,
        "team": owner.team.name,
        "user_id": owner.user.id,
        "user": owner.user.name,
        "token": owner.token,
    })
}
