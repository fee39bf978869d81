//! The messageData of CertPoll, GetCert and GetCRL (RFC 8894 §3.3.3, §3.3.4): what is
//! inside the pkcsPKIEnvelope once [`crate::open_envelope`] has decrypted it.
//!
//! The Names are kept as the raw bytes received (after BER normalisation, which leaves
//! DER untouched): a server matches them against stored certificates byte for byte,
//! and decoding a Name would re-sort multi-valued RDNs. They are only checked for the
//! shape of a Name, so that garbage is refused with a reason instead of never matching.

use crate::ber;
use crate::status::{FailInfo, Rejection};
use crate::tlv::{self, Tlv, tag};

/// Longest serial number accepted, in INTEGER content octets: RFC 5280 §4.1.2.2 caps
/// serials at 20 octets, and a positive one with its top bit set needs a sign octet.
/// No certificate of a conforming CA can be named by anything longer.
pub const MAX_SERIAL_OCTETS: usize = 21;

/// A CertPoll's messageData (RFC 8894 §3.3.3):
/// `IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }`.
///
/// Both fields are redundant (§3.3.3): a server SHOULD find the pending request by
/// transactionID and recipient, and may use these only as a cross-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerAndSubject {
    /// DER Name of the CA that is to issue the certificate.
    pub issuer_der: Vec<u8>,
    /// DER Name the certificate was requested for.
    pub subject_der: Vec<u8>,
}

/// A GetCert or GetCRL messageData (RFC 8894 §3.3.4): a CMS IssuerAndSerialNumber
/// (RFC 5652 §10.2.4) naming the certificate wanted, or whose revocation status is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerAndSerial {
    /// DER Name of the certificate's issuer.
    pub issuer_der: Vec<u8>,
    /// The serialNumber INTEGER's content octets as received (canonical DER).
    pub serial: Vec<u8>,
    /// Lower-case hex of the serial's magnitude, without a sign octet: the same
    /// convention as [`crate::CertificateInfo::serial_hex`], to look certificates up.
    pub serial_hex: String,
}

/// Reads a CertPoll's IssuerAndSubject. BER is accepted; anything else than two
/// Names in a SEQUENCE is badRequest.
pub fn parse_issuer_and_subject(input: &[u8]) -> Result<IssuerAndSubject, Rejection> {
    const WHAT: &str = "the CertPoll IssuerAndSubject";
    let der = normalized(input, WHAT)?;
    let mut fields = outer_sequence(&der, WHAT)?;
    let issuer = name(fields.next("its issuer"), WHAT)?;
    let subject = name(fields.next("its subject"), WHAT)?;
    fields.finish(WHAT).map_err(bad_request)?;
    Ok(IssuerAndSubject {
        issuer_der: issuer.raw.to_vec(),
        subject_der: subject.raw.to_vec(),
    })
}

/// Reads a GetCert or GetCRL IssuerAndSerialNumber. BER is accepted; anything else
/// than a Name and a positive or negative INTEGER of at most [`MAX_SERIAL_OCTETS`]
/// octets is badRequest.
pub fn parse_issuer_and_serial(input: &[u8]) -> Result<IssuerAndSerial, Rejection> {
    const WHAT: &str = "the IssuerAndSerialNumber";
    let der = normalized(input, WHAT)?;
    let mut fields = outer_sequence(&der, WHAT)?;
    let issuer = name(fields.next("its issuer"), WHAT)?;
    let serial = fields
        .expect(tag::INTEGER, "its serialNumber")
        .map_err(|e| bad_request(format!("{WHAT}: {e}")))?
        .value;
    fields.finish(WHAT).map_err(bad_request)?;
    check_serial(serial).map_err(|e| bad_request(format!("{WHAT}: {e}")))?;
    // X.690 §8.3.2 leaves one redundant leading zero only before a set top bit.
    let magnitude = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    Ok(IssuerAndSerial {
        issuer_der: issuer.raw.to_vec(),
        serial: serial.to_vec(),
        serial_hex: hex::encode(magnitude),
    })
}

fn bad_request(reason: String) -> Rejection {
    Rejection::new(FailInfo::BadRequest, reason)
}

fn normalized(input: &[u8], what: &str) -> Result<Vec<u8>, Rejection> {
    ber::normalize(input).map_err(|e| bad_request(format!("{what} is not BER/DER: {e}")))
}

fn outer_sequence<'a>(der: &'a [u8], what: &str) -> Result<tlv::Reader<'a>, Rejection> {
    let outer = tlv::single(der, what).map_err(bad_request)?;
    if outer.tag != tag::SEQUENCE {
        return Err(bad_request(format!(
            "{what} is not a SEQUENCE (found tag 0x{:02x})",
            outer.tag
        )));
    }
    Ok(outer.children())
}

/// A Name (RFC 5280 §4.1.2.4): a SEQUENCE OF non-empty SETs of
/// `SEQUENCE { type OID, value }`. The values are not decoded: any string type a
/// client used is fine, since the bytes are only compared.
fn name<'a>(element: Result<Tlv<'a>, String>, what: &str) -> Result<Tlv<'a>, Rejection> {
    let element = element.map_err(|e| bad_request(format!("{what}: {e}")))?;
    let not_a_name = |detail: &str| bad_request(format!("{what}: a Name was expected, {detail}"));
    if element.tag != tag::SEQUENCE {
        return Err(not_a_name(&format!("found tag 0x{:02x}", element.tag)));
    }
    let mut rdns = element.children();
    while !rdns.is_empty() {
        let rdn = rdns
            .next("relative distinguished name")
            .map_err(|e| not_a_name(&e))?;
        if rdn.tag != tag::SET || rdn.value.is_empty() {
            return Err(not_a_name(
                "a relative distinguished name is not a non-empty SET",
            ));
        }
        let mut attributes = rdn.children();
        while !attributes.is_empty() {
            let attribute = attributes
                .expect(tag::SEQUENCE, "name attribute")
                .map_err(|e| not_a_name(&e))?;
            let mut parts = attribute.children();
            parts
                .expect(tag::OID, "attribute type")
                .and_then(|_| parts.next("attribute value"))
                .and_then(|_| parts.finish("name attribute"))
                .map_err(|e| not_a_name(&e))?;
        }
    }
    Ok(element)
}

/// A serial's INTEGER contents must be minimal (X.690 §8.3.2 holds for BER too) so
/// that one number has one spelling, and no longer than [`MAX_SERIAL_OCTETS`].
fn check_serial(serial: &[u8]) -> Result<(), String> {
    match serial {
        [] => Err("the serialNumber is empty".into()),
        [0x00, next, ..] if *next < 0x80 => {
            Err("the serialNumber has a redundant leading zero octet".into())
        }
        [0xff, next, ..] if *next >= 0x80 => {
            Err("the serialNumber has a redundant leading 0xff octet".into())
        }
        _ if serial.len() > MAX_SERIAL_OCTETS => Err(format!(
            "the serialNumber has {} octets (at most {MAX_SERIAL_OCTETS}, RFC 5280 §4.1.2.2)",
            serial.len()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_der(cn: &str) -> Vec<u8> {
        let attribute = tlv::sequence(&[
            &tlv::encode(tag::OID, &[0x55, 0x04, 0x03]),
            &tlv::encode(tag::UTF8_STRING, cn.as_bytes()),
        ]);
        tlv::sequence(&[&tlv::encode(tag::SET, &attribute)])
    }

    #[test]
    fn reads_issuer_and_serial_and_its_hex() {
        let issuer = name_der("CA");
        for (serial, hex) in [
            (&[0x00, 0x80, 0x01][..], "8001"),
            (&[0x00][..], "00"),
            (&[0x7f, 0xff][..], "7fff"),
            (&[0xfe][..], "fe"),
        ] {
            let body = tlv::sequence(&[&issuer, &tlv::encode(tag::INTEGER, serial)]);
            let parsed = parse_issuer_and_serial(&body).unwrap();
            assert_eq!(parsed.issuer_der, issuer);
            assert_eq!(parsed.serial, serial);
            assert_eq!(parsed.serial_hex, hex);
        }
    }

    #[test]
    fn refuses_what_is_not_an_issuer_and_serial() {
        let issuer = name_der("CA");
        let with_serial =
            |serial: &[u8]| tlv::sequence(&[&issuer, &tlv::encode(tag::INTEGER, serial)]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "not BER/DER"),
            (with_serial(&[]), "empty"),
            (with_serial(&[0x00, 0x05]), "leading zero"),
            (with_serial(&[0xff, 0x85]), "leading 0xff"),
            (with_serial(&[0x01; MAX_SERIAL_OCTETS + 1]), "at most 21"),
            (tlv::sequence(&[&issuer]), "serialNumber is missing"),
            (
                tlv::sequence(&[&tlv::small_integer(1), &tlv::small_integer(1)]),
                "a Name was expected",
            ),
            (tlv::set_of(vec![issuer.clone()]), "not a SEQUENCE"),
            (
                tlv::sequence(&[&issuer, &tlv::small_integer(1), &tlv::null()]),
                "trailing",
            ),
        ];
        for (input, expected) in cases {
            let rejection = parse_issuer_and_serial(&input).unwrap_err();
            assert_eq!(rejection.fail_info, FailInfo::BadRequest);
            assert!(rejection.reason.contains(expected), "{}", rejection.reason);
        }
    }

    #[test]
    fn reads_issuer_and_subject_and_refuses_non_names() {
        let (issuer, subject) = (name_der("CA"), name_der("device"));
        let parsed = parse_issuer_and_subject(&tlv::sequence(&[&issuer, &subject])).unwrap();
        assert_eq!(
            (parsed.issuer_der, parsed.subject_der),
            (issuer.clone(), subject)
        );
        // An empty subject is a valid Name (a certificate with only subjectAltNames).
        let empty = tlv::sequence(&[]);
        assert!(parse_issuer_and_subject(&tlv::sequence(&[&issuer, &empty])).is_ok());

        let empty_rdn = tlv::sequence(&[&tlv::encode(tag::SET, &[])]);
        let no_oid = tlv::sequence(&[&tlv::encode(tag::SET, &tlv::sequence(&[&tlv::null()]))]);
        for bad in [
            tlv::sequence(&[&issuer]),
            tlv::sequence(&[&issuer, &empty_rdn]),
            tlv::sequence(&[&issuer, &no_oid]),
            tlv::sequence(&[&issuer, &tlv::octet_string(b"CN=x")]),
        ] {
            let rejection = parse_issuer_and_subject(&bad).unwrap_err();
            assert_eq!(rejection.fail_info, FailInfo::BadRequest);
            assert!(
                rejection
                    .reason
                    .starts_with("the CertPoll IssuerAndSubject")
            );
        }
    }
}
