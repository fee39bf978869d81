//! Object identifiers used by SCEP, CMS and PKCS#10, in one place.

use der::asn1::ObjectIdentifier as Oid;

// CMS content types (RFC 5652 §4, §5, §6).
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub const ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");

// CMS and PKCS#9 attributes.
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
pub const CHALLENGE_PASSWORD: Oid = Oid::new_unwrap("1.2.840.113549.1.9.7");
pub const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");
/// Microsoft's pre-standard extensionRequest, still sent by some Windows tooling.
pub const MS_EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.14");

// SCEP attributes (RFC 8894 §3.2.1, Table 2).
pub const SCEP_MESSAGE_TYPE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.2");
pub const SCEP_PKI_STATUS: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.3");
pub const SCEP_FAIL_INFO: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.4");
pub const SCEP_SENDER_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.5");
pub const SCEP_RECIPIENT_NONCE: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.6");
pub const SCEP_TRANSACTION_ID: Oid = Oid::new_unwrap("2.16.840.1.113733.1.9.7");
pub const SCEP_FAIL_INFO_TEXT: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.24.1");

// RSA (RFC 8017 appendix C, RFC 4055).
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const MD5_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
pub const RSAES_OAEP: Oid = Oid::new_unwrap("1.2.840.113549.1.1.7");
pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
pub const P_SPECIFIED: Oid = Oid::new_unwrap("1.2.840.113549.1.1.9");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const SHA224_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.14");
/// The old OIW name for sha1WithRSA, still seen from some clients.
pub const SHA1_WITH_RSA_OIW: Oid = Oid::new_unwrap("1.3.14.3.2.29");

// Digests.
pub const MD5: Oid = Oid::new_unwrap("1.2.840.113549.2.5");
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA224: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.4");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

// Content ciphers (CBC).
pub const DES_CBC: Oid = Oid::new_unwrap("1.3.14.3.2.7");
pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
pub const AES128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
pub const AES192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");

// Password-based encryption: CMS PasswordRecipientInfo (RFC 3211 §2.2, RFC 5652
// §6.2.4) with PBKDF2 (RFC 8018 §5.2, appendix A.2, B.1).
pub const PWRI_KEK: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.3.9");
pub const PBKDF2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.12");
pub const HMAC_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.2.7");
pub const HMAC_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.2.9");
pub const HMAC_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.2.10");
pub const HMAC_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.2.11");

// Elliptic curves (RFC 5480), only to describe keys.
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub const SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
pub const SECP521R1: Oid = Oid::new_unwrap("1.3.132.0.35");
pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");

// X.509 extensions (RFC 5280 §4.2).
pub const SUBJECT_KEY_IDENTIFIER: Oid = Oid::new_unwrap("2.5.29.14");
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");

/// True when the content octets of an OBJECT IDENTIFIER element are `oid`.
pub fn is(value: &[u8], oid: &Oid) -> bool {
    value == oid.as_bytes()
}

/// Dotted form of the content octets of an OBJECT IDENTIFIER, for messages.
pub fn dotted(value: &[u8]) -> String {
    match Oid::from_bytes(value) {
        Ok(oid) => oid.to_string(),
        Err(_) => format!("an invalid OID ({})", hex::encode(value)),
    }
}
