//! The degenerate SignedData of RFC 8894 §3.4: no content, no signers, only
//! certificates (the GetCACert answer, a CertRep SUCCESS for PKCSReq, RenewalReq,
//! CertPoll and GetCert) or CRLs (a CertRep SUCCESS for GetCRL, §3.3.2.1 Table 6).

use crate::oids;
use crate::signed_data::content_info_signed;
use crate::tlv::{self, tag};

/// A degenerate certificates-only SignedData ContentInfo, DER.
/// The certificates keep the caller's order (leaf first): clients have long read the
/// first certificate as the leaf (§3.3.2.1: "MUST be the leaf certificate"), so the
/// order is not DER-sorted.
pub fn certs_only(certs: &[Vec<u8>]) -> Vec<u8> {
    degenerate(Some(&certs.concat()), None)
}

/// A degenerate SignedData ContentInfo carrying `crls` in its `crls` field and no
/// certificates field (RFC 8894 §3.4: "When carrying a CRL, the CRL is included in
/// the crls field"). The field is a SET OF (RFC 5652 §10.2.1), so unlike certificates
/// the CRLs are written in DER order; no client convention says otherwise.
pub fn crls_only(crls: &[Vec<u8>]) -> Vec<u8> {
    let mut sorted = crls.to_vec();
    sorted.sort();
    degenerate(None, Some(&sorted.concat()))
}

/// SignedData version 1 (RFC 5652 §5.1: no attribute certificates, no "other"
/// certificate or revocation formats), empty digestAlgorithms and signerInfos, and an
/// encapContentInfo of type id-data with the content omitted (§3.4 "MUST be omitted").
fn degenerate(certificates: Option<&[u8]>, crls: Option<&[u8]>) -> Vec<u8> {
    let mut parts = vec![
        tlv::small_integer(1),
        tlv::encode(tag::SET, &[]),
        tlv::sequence(&[&tlv::oid(&oids::DATA)]),
    ];
    if let Some(certificates) = certificates {
        parts.push(tlv::encode(tag::context_constructed(0), certificates));
    }
    if let Some(crls) = crls {
        parts.push(tlv::encode(tag::context_constructed(1), crls));
    }
    parts.push(tlv::encode(tag::SET, &[]));
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    content_info_signed(&tlv::sequence(&parts))
}

/// What a degenerate (or any) SignedData carries besides its signers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// Every `Certificate` in `certificates`, raw, in message order.
    pub certificates: Vec<Vec<u8>>,
    /// Every `CertificateList` in `crls`, raw, in message order.
    pub crls: Vec<Vec<u8>>,
}

/// The certificates and CRLs of a DER-shaped SignedData ContentInfo. Other
/// certificate and revocation-info choices (tagged, not SEQUENCEs) are skipped.
pub fn carried(der: &[u8]) -> Result<Carried, String> {
    let info = tlv::single(der, "ContentInfo")?;
    let mut r = info.children();
    let content_type = r.expect(tag::OID, "ContentInfo: contentType")?;
    if !oids::is(content_type.value, &oids::SIGNED_DATA) {
        return Err("the content is not signedData".into());
    }
    let signed = tlv::single(
        r.expect(tag::context_constructed(0), "content")?.value,
        "SignedData",
    )?;
    let mut s = signed.children();
    s.expect(tag::INTEGER, "SignedData: version")?;
    s.expect(tag::SET, "SignedData: digestAlgorithms")?;
    s.expect(tag::SEQUENCE, "SignedData: encapContentInfo")?;
    let mut out = Carried::default();
    for (field, what, list) in [
        (0, "certificates", &mut out.certificates),
        (1, "crls", &mut out.crls),
    ] {
        if let Some(set) = s.optional(tag::context_constructed(field), what)? {
            let mut items = set.children();
            while !items.is_empty() {
                let item = items.next(what)?;
                if item.tag == tag::SEQUENCE {
                    list.push(item.raw.to_vec());
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_only_round_trips_and_keeps_order() {
        let a = tlv::sequence(&[&tlv::small_integer(2)]);
        let b = tlv::sequence(&[&tlv::small_integer(1)]);
        let bytes = certs_only(&[a.clone(), b.clone()]);
        let found = carried(&bytes).unwrap();
        assert_eq!(found.certificates, vec![a, b]);
        assert!(found.crls.is_empty());
        use der::Decode;
        let info = cms::content_info::ContentInfo::from_der(&bytes).unwrap();
        assert_eq!(info.content_type, oids::SIGNED_DATA);
    }

    #[test]
    fn crls_only_has_crls_and_no_certificates_field() {
        let a = tlv::sequence(&[&tlv::small_integer(2)]);
        let b = tlv::sequence(&[&tlv::small_integer(1)]);
        let bytes = crls_only(&[a.clone(), b.clone()]);
        let found = carried(&bytes).unwrap();
        assert!(found.certificates.is_empty());
        assert_eq!(found.crls, vec![b, a], "DER SET OF order");

        // version, digestAlgorithms, encapContentInfo, crls [1], signerInfos: no [0].
        let info = tlv::single(&bytes, "ContentInfo").unwrap();
        let mut r = info.children();
        r.next("contentType").unwrap();
        let signed = tlv::single(r.next("content").unwrap().value, "SignedData").unwrap();
        let mut s = signed.children();
        let tags: Vec<u8> =
            std::iter::from_fn(|| (!s.is_empty()).then(|| s.next("x").unwrap().tag)).collect();
        assert_eq!(
            tags,
            [
                tag::INTEGER,
                tag::SET,
                tag::SEQUENCE,
                tag::context_constructed(1),
                tag::SET
            ]
        );
    }
}
