//! CMS SignedData (RFC 5652 §5) as SCEP uses it: one signer, signed attributes,
//! certificates carried in the message. Reading walks the raw bytes so that the
//! signature is checked over exactly what the signer produced; writing assembles DER
//! by hand so that what is signed is exactly what is sent.

use der::asn1::ObjectIdentifier;

use crate::algorithms::DigestAlg;
use crate::certfields::{self, CertId};
use crate::oids;
use crate::status::{FailInfo, Rejection};
use crate::tlv::{self, Tlv, tag};
use crate::verify::{self, SignatureKind};

/// A SignedData taken apart, all slices of the (normalised) message.
pub struct SignedView<'a> {
    pub econtent_type: &'a [u8],
    /// eContent's OCTET STRING content octets, if present.
    pub econtent: Option<&'a [u8]>,
    /// Every `Certificate` in `certificates` (other certificate choices are skipped).
    pub certificates: Vec<&'a [u8]>,
    pub signer: SignerView<'a>,
}

/// The (first) SignerInfo.
pub struct SignerView<'a> {
    pub sid: CertId<'a>,
    pub digest_oid: &'a [u8],
    /// The `[0] IMPLICIT` signedAttrs element exactly as received.
    pub signed_attrs: Option<Tlv<'a>>,
    pub signature_oid: &'a [u8],
    pub signature: &'a [u8],
}

/// One attribute: its type and its values.
pub struct Attribute<'a> {
    pub oid: &'a [u8],
    pub values: Vec<Tlv<'a>>,
}

/// Parses a DER-shaped ContentInfo holding a SignedData.
pub fn parse(der: &[u8]) -> Result<SignedView<'_>, String> {
    let info = tlv::single(der, "ContentInfo")?;
    if info.tag != tag::SEQUENCE {
        return Err("ContentInfo: not a SEQUENCE".into());
    }
    let mut r = info.children();
    let content_type = r.expect(tag::OID, "ContentInfo: contentType")?;
    if !oids::is(content_type.value, &oids::SIGNED_DATA) {
        return Err(format!(
            "the message is {}, not CMS signedData",
            oids::dotted(content_type.value)
        ));
    }
    let wrapper = r.expect(tag::context_constructed(0), "ContentInfo: content")?;
    r.finish("ContentInfo")?;
    let signed = tlv::single(wrapper.value, "SignedData")?;
    if signed.tag != tag::SEQUENCE {
        return Err("SignedData: not a SEQUENCE".into());
    }

    let mut s = signed.children();
    s.expect(tag::INTEGER, "SignedData: version")?;
    s.expect(tag::SET, "SignedData: digestAlgorithms")?;
    let encap = s.expect(tag::SEQUENCE, "SignedData: encapContentInfo")?;
    let certs = s.optional(tag::context_constructed(0), "SignedData: certificates")?;
    s.optional(tag::context_constructed(1), "SignedData: crls")?;
    let signer_infos = s.expect(tag::SET, "SignedData: signerInfos")?;
    s.finish("SignedData")?;

    let mut e = encap.children();
    let econtent_type = e.expect(tag::OID, "encapContentInfo: eContentType")?.value;
    let econtent = match e.optional(tag::context_constructed(0), "encapContentInfo: eContent")? {
        Some(explicit) => {
            let octets = tlv::single(explicit.value, "eContent")?;
            if octets.tag != tag::OCTET_STRING {
                return Err("eContent is not an OCTET STRING".into());
            }
            Some(octets.value)
        }
        None => None,
    };
    e.finish("encapContentInfo")?;

    let mut certificates = Vec::new();
    if let Some(certs) = certs {
        let mut c = certs.children();
        while !c.is_empty() {
            let cert = c.next("certificates")?;
            if cert.tag == tag::SEQUENCE {
                certificates.push(cert.raw);
            }
        }
    }

    // SCEP messages have exactly one signer (RFC 8894 §3.2); extra ones are ignored.
    let mut infos = signer_infos.children();
    let first = infos.next("signerInfos: SignerInfo")?;
    let signer = signer_info(first)?;
    Ok(SignedView {
        econtent_type,
        econtent,
        certificates,
        signer,
    })
}

fn signer_info(info: Tlv<'_>) -> Result<SignerView<'_>, String> {
    let mut r = info.children();
    r.expect(tag::INTEGER, "SignerInfo: version")?;
    let sid = CertId::read(&mut r, "SignerInfo: sid")?;
    let digest = tlv::algorithm_id(
        r.expect(tag::SEQUENCE, "SignerInfo: digestAlgorithm")?,
        "digestAlgorithm",
    )?;
    let signed_attrs = r.optional(tag::context_constructed(0), "SignerInfo: signedAttrs")?;
    let signature_alg = tlv::algorithm_id(
        r.expect(tag::SEQUENCE, "SignerInfo: signatureAlgorithm")?,
        "signatureAlgorithm",
    )?;
    let signature = r.expect(tag::OCTET_STRING, "SignerInfo: signature")?.value;
    r.optional(tag::context_constructed(1), "SignerInfo: unsignedAttrs")?;
    r.finish("SignerInfo")?;
    Ok(SignerView {
        sid,
        digest_oid: digest.oid,
        signed_attrs,
        signature_oid: signature_alg.oid,
        signature,
    })
}

/// The attributes of a signedAttrs element, in the order received.
pub fn attributes<'a>(signed_attrs: Tlv<'a>) -> Result<Vec<Attribute<'a>>, String> {
    let mut out = Vec::new();
    let mut r = signed_attrs.children();
    while !r.is_empty() {
        let attribute = r.expect(tag::SEQUENCE, "signed attribute")?;
        let mut a = attribute.children();
        let oid = a.expect(tag::OID, "signed attribute: type")?.value;
        let set = a.expect(tag::SET, "signed attribute: values")?;
        a.finish("signed attribute")?;
        let mut values = Vec::new();
        let mut v = set.children();
        while !v.is_empty() {
            values.push(v.next("signed attribute value")?);
        }
        out.push(Attribute { oid, values });
    }
    Ok(out)
}

/// The one value of the single attribute of type `oid`. Several attributes of a type
/// or several values are refused: RFC 5652 §5.3 makes the CMS ones single-valued, and
/// two transactionIDs would be two answers to one question.
pub fn single_value<'a>(
    attributes: &[Attribute<'a>],
    oid: &ObjectIdentifier,
    name: &str,
) -> Result<Option<Tlv<'a>>, String> {
    let mut found = attributes.iter().filter(|a| oids::is(a.oid, oid));
    let Some(attribute) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(format!("the {name} attribute appears more than once"));
    }
    match attribute.values.as_slice() {
        [value] => Ok(Some(*value)),
        _ => Err(format!("the {name} attribute must have exactly one value")),
    }
}

/// What verification established about the signer.
pub struct VerifiedSigner<'a> {
    pub certificate: &'a [u8],
    pub digest: DigestAlg,
}

/// RFC 5652 §5.4 and §5.6: the digest and signature algorithms are acceptable, the
/// signer's certificate is in the message, messageDigest matches the content, and the
/// signature over the signed attributes verifies with that certificate's key.
pub fn verify_signer<'a>(view: &SignedView<'a>) -> Result<VerifiedSigner<'a>, Rejection> {
    let bad_alg = |reason: String| Rejection::new(FailInfo::BadAlg, reason);
    let bad_check = |reason: &str| Rejection::new(FailInfo::BadMessageCheck, reason);
    let signer = &view.signer;

    let digest = match DigestAlg::from_oid(signer.digest_oid) {
        Some(DigestAlg::Md5) => return Err(bad_alg("MD5 digests are not accepted".into())),
        Some(d) => d,
        None => {
            return Err(bad_alg(format!(
                "unknown digest algorithm {}",
                oids::dotted(signer.digest_oid)
            )));
        }
    };
    match verify::signature_kind(signer.signature_oid) {
        SignatureKind::Rsa => {}
        SignatureKind::RsaWith(DigestAlg::Md5) => {
            return Err(bad_alg(
                "md5WithRSAEncryption signatures are not accepted".into(),
            ));
        }
        // The hash that matters is the digestAlgorithm (RFC 5652 §5.4); the name in
        // shaNNNWithRSA is accepted as a synonym for rsaEncryption.
        SignatureKind::RsaWith(_) => {}
        SignatureKind::Unsupported(name) => {
            return Err(bad_alg(format!("{name} signatures are not supported")));
        }
        SignatureKind::Unknown => {
            return Err(bad_alg(format!(
                "unknown signature algorithm {}",
                oids::dotted(signer.signature_oid)
            )));
        }
    }

    let certificate = view
        .certificates
        .iter()
        .copied()
        .find(|der| certfields::parse(der).is_ok_and(|cert| signer.sid.names(&cert)))
        .ok_or_else(|| bad_check("the signer's certificate is not included in the message"))?;

    let Some(signed_attrs) = signer.signed_attrs else {
        return Err(bad_check("the SignerInfo has no signed attributes"));
    };
    let attributes = attributes(signed_attrs).map_err(|e| bad_check(&e))?;
    let message_digest = single_value(&attributes, &oids::MESSAGE_DIGEST, "messageDigest")
        .map_err(|e| bad_check(&e))?
        .filter(|v| v.tag == tag::OCTET_STRING)
        .ok_or_else(|| bad_check("the messageDigest attribute is missing"))?;
    let expected = digest
        .digest(view.econtent.unwrap_or_default())
        .ok_or_else(|| bad_alg(format!("{digest} is not supported")))?;
    if message_digest.value != expected.as_slice() {
        return Err(bad_check("messageDigest does not match the signed content"));
    }
    // contentType must name the eContentType when present (RFC 5652 §11.1). Some
    // SCEP clients omit it, which is tolerated: the signature still covers everything.
    if let Some(content_type) =
        single_value(&attributes, &oids::CONTENT_TYPE, "contentType").map_err(|e| bad_check(&e))?
        && content_type.value != view.econtent_type
    {
        return Err(bad_check(
            "the contentType attribute does not match the content",
        ));
    }

    let fields = certfields::parse(certificate).map_err(|e| bad_check(&e))?;
    let key = verify::rsa_public_key(fields.spki.raw)
        .map_err(|e| bad_alg(format!("the signer's certificate has {e}")))?;
    verify::verify_pkcs1v15(
        &key,
        digest,
        &signed_attrs_as_set(signed_attrs),
        signer.signature,
    )
    .map_err(|_| bad_check("the signature does not verify with the signer's certificate"))?;
    Ok(VerifiedSigner {
        certificate,
        digest,
    })
}

/// The bytes a CMS signature covers: the signedAttrs element as received, with its
/// `[0]` IMPLICIT tag replaced by the SET tag (RFC 5652 §5.4). Not a re-encoding: the
/// attribute order is the signer's, sorted or not.
pub fn signed_attrs_as_set(signed_attrs: Tlv<'_>) -> Vec<u8> {
    let mut bytes = signed_attrs.raw.to_vec();
    bytes[0] = tag::SET;
    bytes
}

// ---- writing ----

/// Produces the signature over the signed-attributes bytes (a private-key operation:
/// `RsaKey::sign` on the server, the `rsa` crate in the client).
pub type SignFn<'a> = dyn Fn(&[u8]) -> Result<Vec<u8>, String> + 'a;

/// Who signs and how.
pub struct Signer<'a> {
    pub certificate_der: &'a [u8],
    pub digest: DigestAlg,
    /// rsaEncryption, or an shaNNNWithRSAEncryption name for the same signature.
    pub signature_algorithm: ObjectIdentifier,
}

/// How the signed attributes are ordered on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeOrder {
    /// DER `SET OF` order, as RFC 5652 requires.
    Sorted,
    /// Deliberately not sorted (reverse order): only to test tolerant receivers.
    Unsorted,
}

/// Assembles a DER ContentInfo(SignedData) with eContentType id-data.
///
/// `attributes` are encoded Attribute elements; contentType and messageDigest
/// (`message_digest`, computed by the caller over `content`, or over nothing) are added
/// here. `sign` receives exactly the bytes RFC 5652 §5.4 says are signed.
pub fn assemble(
    content: Option<&[u8]>,
    mut attributes: Vec<Vec<u8>>,
    message_digest: &[u8],
    order: AttributeOrder,
    signer: &Signer<'_>,
    sign: &SignFn<'_>,
) -> Result<Vec<u8>, String> {
    let cert = certfields::parse(signer.certificate_der)
        .map_err(|e| format!("the signer certificate is unreadable: {e}"))?;
    attributes.push(tlv::attribute(&oids::CONTENT_TYPE, &tlv::oid(&oids::DATA)));
    attributes.push(tlv::attribute(
        &oids::MESSAGE_DIGEST,
        &tlv::octet_string(message_digest),
    ));
    attributes.sort();
    if order == AttributeOrder::Unsorted {
        attributes.reverse();
    }
    let attrs_content = attributes.concat();
    let signature = sign(&tlv::encode(tag::SET, &attrs_content))?;

    let digest_algorithm = tlv::algorithm(&signer.digest.oid(), None); // RFC 5754 §2: absent
    let signer_info = tlv::sequence(&[
        &tlv::small_integer(1), // version 1: sid is issuerAndSerialNumber
        &certfields::issuer_and_serial(&cert),
        &digest_algorithm,
        &tlv::encode(tag::context_constructed(0), &attrs_content),
        &tlv::algorithm(&signer.signature_algorithm, Some(&tlv::null())),
        &tlv::octet_string(&signature),
    ]);
    let encap = match content {
        Some(bytes) => tlv::sequence(&[
            &tlv::oid(&oids::DATA),
            &tlv::constructed(tag::context_constructed(0), &[&tlv::octet_string(bytes)]),
        ]),
        None => tlv::sequence(&[&tlv::oid(&oids::DATA)]),
    };
    let signed = tlv::sequence(&[
        &tlv::small_integer(1),
        &tlv::set_of(vec![digest_algorithm]),
        &encap,
        &tlv::encode(tag::context_constructed(0), signer.certificate_der),
        &tlv::set_of(vec![signer_info]),
    ]);
    Ok(content_info_signed(&signed))
}

/// `ContentInfo { signedData, [0] EXPLICIT signed }`.
pub(crate) fn content_info_signed(signed: &[u8]) -> Vec<u8> {
    tlv::sequence(&[
        &tlv::oid(&oids::SIGNED_DATA),
        &tlv::constructed(tag::context_constructed(0), &[signed]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_signature_verifies_over_the_streamed_message() {
        let streamed = include_bytes!("../tests/vectors/signed-indefinite.der");
        let der = crate::ber::normalize(streamed).unwrap();
        let view = parse(&der).unwrap();
        assert_eq!(view.econtent, Some(&b"sceptic BER test content"[..]));
        let signer = verify_signer(&view).unwrap();
        assert_eq!(signer.digest, DigestAlg::Sha256);
        assert_eq!(view.certificates.len(), 1);

        // One flipped content byte: the messageDigest check catches it.
        let mut tampered = der.clone();
        let at = tampered.windows(7).position(|w| w == b"sceptic").unwrap();
        tampered[at] ^= 1;
        let view = parse(&tampered).unwrap();
        let rejection = verify_signer(&view).err().unwrap();
        assert_eq!(rejection.fail_info, FailInfo::BadMessageCheck);
    }
}
