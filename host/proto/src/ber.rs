//! BER to DER-shaped bytes, without reordering anything.
//!
//! Real SCEP clients send BER: Apple and OpenSSL stream CMS with indefinite lengths and
//! chunked (constructed) OCTET STRINGs; Go's micromdm client wraps the encrypted content
//! in a constructed `[0]` holding an OCTET STRING. Typed DER decoders reject all of that
//! (RFC 8894 §3 leaves the encoding to CMS, and CMS allows BER for everything except
//! signed attributes). [`normalize`] rewrites such input so that:
//!
//! - every length is definite and minimal;
//! - constructed string types (OCTET STRING, BIT STRING, character strings) become one
//!   primitive element holding the concatenated chunks;
//! - a constructed context-specific `[n]` that is really an IMPLICIT OCTET STRING in
//!   chunks becomes the primitive `[n]` (see `flattens_to_implicit_octets`).
//!
//! It never sorts `SET OF` and never touches primitive content, so DER input comes out
//! byte-identical and signatures over the received bytes stay checkable.

use thiserror::Error;

/// Deepest nesting accepted. A SCEP message nests about 15 levels (ContentInfo,
/// SignedData, certificates, names, extensions); 64 leaves room for unusual
/// certificates while bounding the recursion (and so the stack) against hostile input.
pub const MAX_DEPTH: usize = 64;

/// Longest tag encoding accepted: 4 continuation octets give tag numbers up to 2^28,
/// far beyond anything CMS or X.509 uses.
const MAX_TAG_OCTETS: usize = 5;

/// Most length octets accepted in long form. BER allows padding with leading zeros, so
/// this is more than the 4 a 4 GiB length needs; the value must still fit the input.
const MAX_LENGTH_OCTETS: usize = 8;

/// Why input is not BER.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BerError {
    #[error("empty input")]
    Empty,
    #[error("the input ends inside an element (at byte {offset})")]
    Truncated { offset: usize },
    #[error("invalid length encoding at byte {offset}")]
    BadLength { offset: usize },
    #[error("tag number too large at byte {offset}")]
    BadTag { offset: usize },
    #[error("indefinite length on a primitive element at byte {offset}")]
    IndefinitePrimitive { offset: usize },
    #[error("unexpected end-of-contents marker at byte {offset}")]
    UnexpectedEndOfContents { offset: usize },
    #[error(
        "the constructed string at byte {offset} holds something other than chunks of its own type"
    )]
    BadStringChunk { offset: usize },
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("{count} bytes of trailing data after the element")]
    TrailingData { count: usize },
}

/// Rewrites one BER element (the whole input) in DER shape; see the module doc.
pub fn normalize(input: &[u8]) -> Result<Vec<u8>, BerError> {
    if input.is_empty() {
        return Err(BerError::Empty);
    }
    let mut parser = Parser { input };
    let (element, end) = parser.element(0, input.len(), 0, false)?;
    if end != input.len() {
        return Err(BerError::TrailingData {
            count: input.len() - end,
        });
    }
    let mut out = Vec::with_capacity(input.len());
    element.write(&mut out);
    Ok(out)
}

/// A normalised element: tag octets as received, and its DER-shaped content.
struct Element {
    tag: Vec<u8>,
    content: Vec<u8>,
}

impl Element {
    fn first(&self) -> u8 {
        self.tag[0]
    }

    fn is_constructed(&self) -> bool {
        self.first() & 0x20 != 0
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tag);
        crate::tlv::push_length(out, self.content.len());
        out.extend_from_slice(&self.content);
    }
}

const UNIVERSAL: u8 = 0x00;
const CONTEXT: u8 = 0x80;
const OCTET_STRING: u8 = 0x04;
const BIT_STRING: u8 = 0x03;

/// Universal types that BER lets a sender split into constructed chunks (X.690 §8.6,
/// §8.7, §8.23).
fn is_string_type(number: u8) -> bool {
    matches!(number, 3 | 4 | 12 | 18..=22 | 25..=30)
}

struct Parser<'a> {
    input: &'a [u8],
}

impl Parser<'_> {
    /// Parses the element at `pos`, which must end by `limit`. `implicit_slot` says the
    /// element is the third child of a `SEQUENCE { OID, SEQUENCE, ... }`: the place of
    /// EncryptedContentInfo's `encryptedContent [0] IMPLICIT OCTET STRING`.
    fn element(
        &mut self,
        pos: usize,
        limit: usize,
        depth: usize,
        implicit_slot: bool,
    ) -> Result<(Element, usize), BerError> {
        if depth > MAX_DEPTH {
            return Err(BerError::TooDeep);
        }
        let start = pos;
        let (tag, mut pos) = self.tag(pos, limit)?;
        if tag == [0] {
            return Err(BerError::UnexpectedEndOfContents { offset: start });
        }
        let constructed = tag[0] & 0x20 != 0;
        let length = self.length(&mut pos, limit)?;

        if !constructed {
            let Some(len) = length else {
                return Err(BerError::IndefinitePrimitive { offset: start });
            };
            let end = pos + len; // length() checked pos + len <= limit
            let content = self.input[pos..end].to_vec();
            return Ok((Element { tag, content }, end));
        }

        let is_sequence = tag == [0x30];
        let mut children: Vec<Element> = Vec::new();
        let end = match length {
            Some(len) => {
                let end = pos + len;
                while pos < end {
                    let slot = is_sequence && encrypted_content_slot(&children);
                    let (child, next) = self.element(pos, end, depth + 1, slot)?;
                    children.push(child);
                    pos = next;
                }
                end
            }
            None => loop {
                if pos + 2 > limit {
                    return Err(BerError::Truncated { offset: pos });
                }
                if self.input[pos] == 0 && self.input[pos + 1] == 0 {
                    break pos + 2;
                }
                let slot = is_sequence && encrypted_content_slot(&children);
                let (child, next) = self.element(pos, limit, depth + 1, slot)?;
                children.push(child);
                pos = next;
            },
        };

        let class = tag[0] & 0xc0;
        let number = tag[0] & 0x1f;
        let element = if class == UNIVERSAL && tag.len() == 1 && is_string_type(number) {
            flatten_string(start, number, &children)?
        } else if class == CONTEXT && flattens_to_implicit_octets(&children, implicit_slot) {
            let mut primitive = tag;
            primitive[0] &= !0x20;
            Element {
                tag: primitive,
                content: children
                    .iter()
                    .flat_map(|c| c.content.iter().copied())
                    .collect(),
            }
        } else {
            let mut content = Vec::new();
            for child in &children {
                child.write(&mut content);
            }
            Element { tag, content }
        };
        Ok((element, end))
    }

    fn tag(&self, pos: usize, limit: usize) -> Result<(Vec<u8>, usize), BerError> {
        let Some(&first) = self.input[..limit].get(pos) else {
            return Err(BerError::Truncated { offset: pos });
        };
        let mut tag = vec![first];
        let mut at = pos + 1;
        if first & 0x1f == 0x1f {
            loop {
                let Some(&b) = self.input[..limit].get(at) else {
                    return Err(BerError::Truncated { offset: at });
                };
                tag.push(b);
                at += 1;
                if tag.len() > MAX_TAG_OCTETS {
                    return Err(BerError::BadTag { offset: pos });
                }
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        Ok((tag, at))
    }

    /// Reads a length at `*pos`; `None` is the indefinite form. A definite length is
    /// checked to fit before `limit`.
    fn length(&self, pos: &mut usize, limit: usize) -> Result<Option<usize>, BerError> {
        let start = *pos;
        let Some(&first) = self.input[..limit].get(start) else {
            return Err(BerError::Truncated { offset: start });
        };
        *pos += 1;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Ok(None);
        } else {
            let count = usize::from(first & 0x7f);
            if count > MAX_LENGTH_OCTETS || first == 0xff {
                return Err(BerError::BadLength { offset: start });
            }
            let Some(octets) = self.input[..limit].get(*pos..*pos + count) else {
                return Err(BerError::Truncated { offset: *pos });
            };
            *pos += count;
            let mut len: usize = 0;
            for &b in octets {
                len = len
                    .checked_mul(256)
                    .and_then(|l| l.checked_add(usize::from(b)))
                    .ok_or(BerError::BadLength { offset: start })?;
            }
            len
        };
        match pos.checked_add(len) {
            Some(end) if end <= limit => Ok(Some(len)),
            _ => Err(BerError::Truncated { offset: *pos }),
        }
    }
}

/// Children so far are `OID, SEQUENCE`: the next one sits where EncryptedContentInfo
/// (RFC 5652 §6.1) has its `[0] IMPLICIT` encrypted content.
fn encrypted_content_slot(children: &[Element]) -> bool {
    children.len() == 2 && children[0].tag == [0x06] && children[1].tag == [0x30]
}

/// Whether a constructed `[n]` is an IMPLICIT OCTET STRING sent in chunks, to be
/// rewritten as the primitive `[n]`.
///
/// From the bytes alone, `[n] { OCTET STRING }` is ambiguous: it may be an EXPLICIT tag
/// around one OCTET STRING (SignedData's eContent is exactly that) or an IMPLICIT OCTET
/// STRING in one chunk (what Go's pkcs7 sends as encryptedContent). An EXPLICIT tag
/// always wraps exactly one element, so two or more OCTET STRING children can only be
/// chunks. A single child is flattened only in EncryptedContentInfo's slot, the one
/// place in SCEP where an IMPLICIT OCTET STRING is sent constructed.
fn flattens_to_implicit_octets(children: &[Element], implicit_slot: bool) -> bool {
    let all_octets = children.iter().all(|c| c.tag == [OCTET_STRING]);
    all_octets && (children.len() >= 2 || implicit_slot)
}

/// Concatenates the chunks of a constructed string of universal type `number`.
fn flatten_string(offset: usize, number: u8, chunks: &[Element]) -> Result<Element, BerError> {
    // Nested chunks were flattened already, so each must now be primitive of our type.
    if chunks
        .iter()
        .any(|c| c.is_constructed() || c.tag != [number])
    {
        return Err(BerError::BadStringChunk { offset });
    }
    let content = if number == BIT_STRING {
        // Each chunk starts with its count of unused bits; only the last may have any.
        let mut bits = Vec::new();
        let mut unused = 0u8;
        for (i, chunk) in chunks.iter().enumerate() {
            let Some((&chunk_unused, data)) = chunk.content.split_first() else {
                return Err(BerError::BadStringChunk { offset });
            };
            if chunk_unused > 7 || (chunk_unused != 0 && i + 1 != chunks.len()) {
                return Err(BerError::BadStringChunk { offset });
            }
            unused = chunk_unused;
            bits.extend_from_slice(data);
        }
        let mut content = vec![unused];
        content.extend_from_slice(&bits);
        content
    } else {
        chunks
            .iter()
            .flat_map(|c| c.content.iter().copied())
            .collect()
    };
    Ok(Element {
        tag: vec![number],
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED_STREAMED: &[u8] = include_bytes!("../tests/vectors/signed-indefinite.der");
    const ENVELOPED_STREAMED: &[u8] =
        include_bytes!("../tests/vectors/enveloped-des3-indefinite.der");

    #[test]
    fn openssl_streamed_signed_data_becomes_der() {
        use der::Decode;
        // The vector really is BER: the typed decoder refuses it as it is.
        assert_eq!(&SIGNED_STREAMED[..2], [0x30, 0x80]);
        assert!(cms::content_info::ContentInfo::from_der(SIGNED_STREAMED).is_err());

        let der_bytes = normalize(SIGNED_STREAMED).unwrap();
        let info = cms::content_info::ContentInfo::from_der(&der_bytes).unwrap();
        let signed: cms::signed_data::SignedData = info.content.decode_as().unwrap();
        let content = signed.encap_content_info.econtent.unwrap();
        let octets: der::asn1::OctetString = content.decode_as().unwrap();
        assert_eq!(octets.as_bytes(), b"sceptic BER test content");
        // Normalising DER again changes nothing.
        assert_eq!(normalize(&der_bytes).unwrap(), der_bytes);
    }

    #[test]
    fn openssl_chunked_encrypted_content_becomes_primitive() {
        let der_bytes = normalize(ENVELOPED_STREAMED).unwrap();
        let envelope = crate::envelope::parse(&der_bytes).unwrap();
        // 3DES-CBC over the 668-byte request: 672 bytes, sent by OpenSSL in two chunks.
        assert_eq!(envelope.ciphertext.len(), 672);
        use der::Decode;
        assert!(cms::content_info::ContentInfo::from_der(&der_bytes).is_ok());
    }

    #[test]
    fn chunked_implicit_octets_flatten_and_explicit_wrappers_stay() {
        // EncryptedContentInfo as Go/Apple send it: [0] constructed, two chunks.
        let streamed = [
            0x30, 0x80, // SEQUENCE, indefinite
            0x06, 0x01, 0x2a, // OID
            0x30, 0x00, // AlgorithmIdentifier (empty for the test)
            0xa0, 0x80, 0x04, 0x02, 1, 2, 0x04, 0x01, 3, 0x00, 0x00, // [0] chunks
            0x00, 0x00,
        ];
        assert_eq!(
            normalize(&streamed).unwrap(),
            [
                0x30, 0x0a, 0x06, 0x01, 0x2a, 0x30, 0x00, 0x80, 0x03, 1, 2, 3
            ]
        );
        // Go's single-chunk definite form in the same slot is flattened too.
        let go = [
            0x30, 0x0b, 0x06, 0x01, 0x2a, 0x30, 0x00, 0xa0, 0x04, 0x04, 0x02, 1, 2,
        ];
        assert_eq!(
            normalize(&go).unwrap(),
            [0x30, 0x09, 0x06, 0x01, 0x2a, 0x30, 0x00, 0x80, 0x02, 1, 2]
        );
        // An EXPLICIT [0] around one OCTET STRING elsewhere (eContent) is left alone.
        let econtent = [0x30, 0x09, 0x06, 0x01, 0x2a, 0xa0, 0x04, 0x04, 0x02, 1, 2];
        assert_eq!(normalize(&econtent).unwrap(), econtent);
        // Constructed OCTET STRING, nested chunks, non-minimal lengths.
        let nested = [
            0x24, 0x80, 0x24, 0x80, 0x04, 0x81, 0x01, 9, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
        ];
        assert_eq!(normalize(&nested).unwrap(), [0x04, 0x01, 9]);
        // Constructed BIT STRING keeps the last chunk's unused-bit count.
        let bits = [0x23, 0x08, 0x03, 0x02, 0x00, 0xff, 0x03, 0x02, 0x04, 0xf0];
        assert_eq!(normalize(&bits).unwrap(), [0x03, 0x03, 0x04, 0xff, 0xf0]);
    }

    #[test]
    fn sets_are_not_reordered() {
        let unsorted = [0x31, 0x80, 0x04, 0x01, 9, 0x02, 0x01, 1, 0x00, 0x00];
        assert_eq!(
            normalize(&unsorted).unwrap(),
            [0x31, 0x06, 0x04, 0x01, 9, 0x02, 0x01, 1]
        );
    }

    #[test]
    fn truncated_and_malformed_input_is_an_error() {
        for end in 0..SIGNED_STREAMED.len() {
            assert!(
                normalize(&SIGNED_STREAMED[..end]).is_err(),
                "prefix of {end} bytes"
            );
        }
        assert_eq!(normalize(&[]), Err(BerError::Empty));
        assert!(matches!(
            normalize(&[0x04, 0x80, 1, 0, 0]),
            Err(BerError::IndefinitePrimitive { .. })
        ));
        assert!(matches!(
            normalize(&[0x04, 0x01, 1, 2]),
            Err(BerError::TrailingData { count: 1 })
        ));
        assert!(matches!(
            normalize(&[0x24, 0x03, 0x02, 0x01, 1]),
            Err(BerError::BadStringChunk { .. })
        ));
        assert!(matches!(
            normalize(&[0x04, 0x89, 1]),
            Err(BerError::BadLength { .. })
        ));
        assert!(normalize(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(matches!(
            normalize(&[0x00, 0x00]),
            Err(BerError::UnexpectedEndOfContents { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        assert_eq!(normalize(&deep), Err(BerError::TooDeep));
        // Exactly at the limit it still works.
        let mut ok = Vec::new();
        for _ in 0..MAX_DEPTH {
            ok.extend_from_slice(&[0x30, 0x80]);
        }
        ok.extend_from_slice(&[0x05, 0x00]);
        for _ in 0..MAX_DEPTH {
            ok.extend_from_slice(&[0x00, 0x00]);
        }
        assert!(normalize(&ok).is_ok());
    }
}
