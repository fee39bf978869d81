//! GetCert and GetCRL (RFC 8894 §3.3.4): a certificate this service issued, and
//! the CA's CRL, each sent enveloped to the requester.

use sceptic_proto::FailInfo;

use crate::App;
use crate::enroll::{Opened, store_failure};
use crate::reply::{self, Facts, HOST, PkiReply, Refusal, host_refusal};
use crate::runtime::ServiceRuntime;

/// GetCert: the messageData is an IssuerAndSerialNumber. The certificate goes to
/// its own key holder, or to a holder of a current, unrevoked certificate of this
/// service; anyone else gets badCertId, as does an unknown serial.
pub fn get_cert(
    app: &App,
    rt: &ServiceRuntime,
    facts: &Facts,
    opened: &Opened,
) -> Result<PkiReply, Refusal> {
    let wanted = sceptic_proto::parse_issuer_and_serial(&opened.plaintext)
        .map_err(|r| (r, HOST.to_owned()))?;
    let unknown = || {
        host_refusal(
            FailInfo::BadCertId,
            format!(
                "this service issued no certificate with serial {}",
                wanted.serial_hex
            ),
        )
    };
    let certificate = app
        .store
        .certificate_by_serial(rt.service.ca_id, &wanted.serial_hex)
        .map_err(|e| store_failure(rt, e))?
        .filter(|c| c.service_id == rt.service.id)
        .ok_or_else(unknown)?;
    let described =
        sceptic_proto::describe_certificate(&certificate.der).map_err(|r| (r, HOST.to_owned()))?;
    let own_key = described.spki_der == opened.signer.spki_der;
    let signer_is_ours = !opened.signer.self_signed
        && app
            .store
            .certificate_by_serial(rt.service.ca_id, &opened.signer.serial_hex)
            .map_err(|e| store_failure(rt, e))?
            .is_some_and(|c| c.der == opened.signer.der)
        && !app
            .store
            .is_revoked(rt.service.ca_id, &opened.signer.serial_hex)
            .map_err(|e| store_failure(rt, e))?
        && opened.signer.not_after > sceptic_store::now();
    if !own_key && !signer_is_ours {
        return Err(host_refusal(
            FailInfo::BadCertId,
            "GetCert is answered only to the certificate's key holder or a holder of a current certificate of this service",
        ));
    }
    reply::success(rt, facts, certificate.der, opened)
}

/// GetCRL: the messageData names the CA by IssuerAndSerialNumber.
pub fn get_crl(
    app: &App,
    rt: &ServiceRuntime,
    facts: &Facts,
    opened: &Opened,
) -> Result<PkiReply, Refusal> {
    sceptic_proto::parse_issuer_and_serial(&opened.plaintext).map_err(|r| (r, HOST.to_owned()))?;
    let crl = crate::crl::current_crl(app, rt).map_err(|e| {
        tracing::error!(service = %rt.name, "making the CRL failed: {e:#}");
        host_refusal(
            FailInfo::BadRequest,
            "the CRL is not available; try again later",
        )
    })?;
    reply::crl_success(rt, facts, crl, opened)
}
