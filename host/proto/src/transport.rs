//! The `message=` value of a GET PKIOperation (RFC 8894 §4.1): base64 of the DER
//! pkiMessage, which clients spell in several ways.
//!
//! Seen in practice (CLIENTS.md): standard base64 with raw `+` and `/`, the same
//! percent-encoded in upper or lower case, line breaks every 64 characters (OpenSSL's
//! base64 writer), and URL-safe base64 without padding (micromdm scepclient).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use thiserror::Error;

/// Why a GET message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransportError {
    #[error("the message parameter is empty")]
    Empty,
    #[error("invalid percent-escape at character {offset} of the message parameter")]
    BadPercentEscape { offset: usize },
    #[error("the message parameter mixes standard (+ /) and URL-safe (- _) base64")]
    MixedAlphabets,
    #[error("the message parameter is not base64: {0}")]
    Base64(String),
}

/// Decodes the value of the `message` query parameter (as it appears in the query
/// string, before any form decoding) into the pkiMessage bytes.
pub fn decode_get_message(query_value: &str) -> Result<Vec<u8>, TransportError> {
    let text = percent_decode(query_value)?;
    // Line breaks and spaces are layout from base64 writers, never data.
    let compact: Vec<u8> = text
        .into_iter()
        .filter(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .collect();
    if compact.is_empty() {
        return Err(TransportError::Empty);
    }
    let standard = compact.iter().any(|b| matches!(b, b'+' | b'/'));
    let url_safe = compact.iter().any(|b| matches!(b, b'-' | b'_'));
    let alphabet = match (standard, url_safe) {
        (true, true) => return Err(TransportError::MixedAlphabets),
        (false, true) => &alphabet::URL_SAFE,
        _ => &alphabet::STANDARD,
    };
    // Padding optional; trailing bits tolerated, as some encoders leave them set.
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    GeneralPurpose::new(alphabet, config)
        .decode(&compact)
        .map_err(|e| TransportError::Base64(e.to_string()))
}

/// RFC 3986 percent-decoding: `%XX` in either case; `+` is a literal `+` (this is a
/// URI, not an HTML form, and `+` is a base64 character).
fn percent_decode(value: &str) -> Result<Vec<u8>, TransportError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex_digit = |at: usize| {
                bytes
                    .get(at)
                    .and_then(|&b| (b as char).to_digit(16))
                    .ok_or(TransportError::BadPercentEscape { offset: i })
            };
            let value = hex_digit(i + 1)? * 16 + hex_digit(i + 2)?;
            out.push(value as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    #[test]
    fn four_spellings_of_one_message_decode_identically() {
        // Bytes chosen so the standard encoding contains both '+' and '/'.
        let message: Vec<u8> = (0u8..=255).chain([0xfb, 0xff, 0xbf]).collect();
        let standard = STANDARD.encode(&message);
        assert!(standard.contains('+') && standard.contains('/') && standard.ends_with('='));

        let upper = standard
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        // Lines of 64 characters, as OpenSSL writes base64, each escaped in lower case.
        let lower_wrapped = standard
            .as_bytes()
            .chunks(64)
            .map(|line| {
                String::from_utf8_lossy(line)
                    .replace('+', "%2b")
                    .replace('/', "%2f")
                    .replace('=', "%3d")
            })
            .collect::<Vec<_>>()
            .join("%0D%0A");
        assert!(lower_wrapped.contains("%0D%0A") && lower_wrapped.contains("%2b"));
        let url_safe = URL_SAFE_NO_PAD.encode(&message);

        for spelling in [&standard, &upper, &lower_wrapped, &url_safe] {
            assert_eq!(decode_get_message(spelling).unwrap(), message, "{spelling}");
        }
        // Raw newlines (not escaped) are dropped too.
        assert_eq!(
            decode_get_message(&standard.replace('A', "A\n")).unwrap(),
            message
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(decode_get_message(""), Err(TransportError::Empty));
        assert_eq!(decode_get_message("%0A"), Err(TransportError::Empty));
        assert!(matches!(
            decode_get_message("ab%zz"),
            Err(TransportError::BadPercentEscape { offset: 2 })
        ));
        assert!(matches!(
            decode_get_message("ab%2"),
            Err(TransportError::BadPercentEscape { .. })
        ));
        assert_eq!(
            decode_get_message("a+b-"),
            Err(TransportError::MixedAlphabets)
        );
        assert!(matches!(
            decode_get_message("!!!!"),
            Err(TransportError::Base64(_))
        ));
    }
}
