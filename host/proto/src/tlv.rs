//! A minimal DER reader and writer over raw bytes.
//!
//! The CMS structures around signatures are walked with this instead of typed decoding:
//! a typed decoder re-sorts `SET OF` and re-encodes, and a signature is only valid over
//! the exact bytes the signer produced. The input is expected to have been through
//! [`crate::ber::normalize`] (definite lengths); this reader does not accept BER.

use der::asn1::ObjectIdentifier;

/// Universal and context-specific tag bytes used in this crate.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const T61_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;

    /// `[n]` primitive (IMPLICIT of a primitive type).
    pub const fn context(n: u8) -> u8 {
        0x80 | n
    }

    /// `[n]` constructed (EXPLICIT, or IMPLICIT of a constructed type).
    pub const fn context_constructed(n: u8) -> u8 {
        0xa0 | n
    }
}

/// One element: its tag byte, the whole encoding, and the content octets.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub raw: &'a [u8],
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the children of this (constructed) element.
    pub fn children(&self) -> Reader<'a> {
        Reader::new(self.value)
    }
}

/// Reads consecutive elements from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag. `what` names it in error messages.
    pub fn next(&mut self, what: &str) -> Result<Tlv<'a>, String> {
        let bytes = self.rest;
        let Some(&tag) = bytes.first() else {
            return Err(format!("{what} is missing"));
        };
        if tag & 0x1f == 0x1f {
            return Err(format!("{what}: multi-byte tags are not used here"));
        }
        let Some(&first) = bytes.get(1) else {
            return Err(format!("{what} is truncated"));
        };
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let count = usize::from(first & 0x7f);
            // More than 4 length octets would describe an element over 4 GiB.
            if count == 0 || count > 4 {
                return Err(format!("{what} has an invalid or indefinite length"));
            }
            let Some(octets) = bytes.get(2..2 + count) else {
                return Err(format!("{what} is truncated"));
            };
            let len = octets
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, 2 + count)
        };
        let Some(end) = header.checked_add(len).filter(|&end| end <= bytes.len()) else {
            return Err(format!("{what} is truncated"));
        };
        self.rest = &bytes[end..];
        Ok(Tlv {
            tag,
            raw: &bytes[..end],
            value: &bytes[header..end],
        })
    }

    /// The next element, which must have tag `expected`.
    pub fn expect(&mut self, expected: u8, what: &str) -> Result<Tlv<'a>, String> {
        let tlv = self.next(what)?;
        if tlv.tag != expected {
            return Err(format!(
                "{what}: expected tag 0x{expected:02x}, found 0x{:02x}",
                tlv.tag
            ));
        }
        Ok(tlv)
    }

    /// The next element if it has tag `wanted`; nothing is consumed otherwise.
    pub fn optional(&mut self, wanted: u8, what: &str) -> Result<Option<Tlv<'a>>, String> {
        if self.peek_tag() == Some(wanted) {
            self.next(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    pub fn finish(&self, what: &str) -> Result<(), String> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{what} has {} unexpected trailing bytes",
                self.rest.len()
            ))
        }
    }
}

/// Exactly one element spanning all of `bytes`.
pub fn single<'a>(bytes: &'a [u8], what: &str) -> Result<Tlv<'a>, String> {
    let mut reader = Reader::new(bytes);
    let tlv = reader.next(what)?;
    reader.finish(what)?;
    Ok(tlv)
}

/// An AlgorithmIdentifier: the OID's content octets and the parameters, if any.
pub struct AlgorithmId<'a> {
    pub oid: &'a [u8],
    pub params: Option<Tlv<'a>>,
}

pub fn algorithm_id<'a>(tlv: Tlv<'a>, what: &str) -> Result<AlgorithmId<'a>, String> {
    if tlv.tag != tag::SEQUENCE {
        return Err(format!("{what} is not an AlgorithmIdentifier"));
    }
    let mut r = tlv.children();
    let oid = r.expect(tag::OID, what)?.value;
    let params = if r.is_empty() {
        None
    } else {
        Some(r.next(what)?)
    };
    r.finish(what)?;
    Ok(AlgorithmId { oid, params })
}

// ---- writing ----

pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// `tag length value`.
pub fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    push_length(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// A constructed element from already-encoded parts, in the given order.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    encode(tag, &parts.concat())
}

pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(tag::SEQUENCE, parts)
}

/// A DER `SET OF`: the elements sorted by their encodings (X.690 §11.6). Plain
/// lexicographic order equals the padded comparison X.690 asks for, because one valid
/// encoding is never a proper prefix of another.
pub fn set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort();
    encode(tag::SET, &elements.concat())
}

pub fn oid(oid: &ObjectIdentifier) -> Vec<u8> {
    encode(tag::OID, oid.as_bytes())
}

pub fn octet_string(bytes: &[u8]) -> Vec<u8> {
    encode(tag::OCTET_STRING, bytes)
}

pub fn null() -> Vec<u8> {
    vec![tag::NULL, 0]
}

/// A small non-negative INTEGER (versions).
pub fn small_integer(value: u8) -> Vec<u8> {
    if value < 0x80 {
        vec![tag::INTEGER, 1, value]
    } else {
        vec![tag::INTEGER, 2, 0, value]
    }
}

/// An AlgorithmIdentifier with the given parameters (already encoded) or none.
pub fn algorithm(oid_value: &ObjectIdentifier, params: Option<&[u8]>) -> Vec<u8> {
    match params {
        Some(p) => sequence(&[&oid(oid_value), p]),
        None => sequence(&[&oid(oid_value)]),
    }
}

/// A string element: PrintableString when every character is allowed in one (X.680
/// §41.4), otherwise UTF8String.
pub fn text_string(text: &str) -> Vec<u8> {
    let printable = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let string_tag = if printable {
        tag::PRINTABLE_STRING
    } else {
        tag::UTF8_STRING
    };
    encode(string_tag, text.as_bytes())
}

/// `SEQUENCE { type OID, values SET OF }`: a CMS/PKCS#9 Attribute with one value.
pub fn attribute(kind: &ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    sequence(&[&oid(kind), &encode(tag::SET, value)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes() {
        let long = vec![7u8; 300];
        let bytes = sequence(&[&small_integer(1), &octet_string(&long)]);
        let top = single(&bytes, "test").unwrap();
        let mut r = top.children();
        assert_eq!(r.expect(tag::INTEGER, "v").unwrap().value, [1]);
        assert_eq!(r.expect(tag::OCTET_STRING, "o").unwrap().value, &long[..]);
        r.finish("test").unwrap();
        assert!(single(&bytes[..bytes.len() - 1], "test").is_err());
        assert!(single(&[0x30, 0x80, 0, 0], "test").is_err());
    }

    #[test]
    fn set_of_sorts_by_encoding() {
        let set = set_of(vec![vec![0x04, 1, 9], vec![0x02, 1, 5], vec![0x04, 0]]);
        assert_eq!(set, [0x31, 8, 0x02, 1, 5, 0x04, 0, 0x04, 1, 9]);
    }
}
