//! Checking RSA PKCS#1 v1.5 signatures with a public key from a certificate or CSR.
//! Public-key work stays in the pure-Rust `rsa` crate (sceptic-keys holds only the
//! server's private operations).

use rsa::pkcs8::DecodePublicKey;

use crate::algorithms::DigestAlg;
use crate::oids;

/// What a signatureAlgorithm OID says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// rsaEncryption: the digest comes from elsewhere (a SignerInfo's digestAlgorithm).
    Rsa,
    /// shaNNNWithRSAEncryption.
    RsaWith(DigestAlg),
    /// Known, but not verifiable here (ECDSA, RSA-PSS, EdDSA …).
    Unsupported(&'static str),
    Unknown,
}

pub fn signature_kind(oid: &[u8]) -> SignatureKind {
    use SignatureKind::*;
    let table: [(&der::asn1::ObjectIdentifier, SignatureKind); 12] = [
        (&oids::RSA_ENCRYPTION, Rsa),
        (&oids::MD5_WITH_RSA, RsaWith(DigestAlg::Md5)),
        (&oids::SHA1_WITH_RSA, RsaWith(DigestAlg::Sha1)),
        (&oids::SHA1_WITH_RSA_OIW, RsaWith(DigestAlg::Sha1)),
        (&oids::SHA224_WITH_RSA, RsaWith(DigestAlg::Sha224)),
        (&oids::SHA256_WITH_RSA, RsaWith(DigestAlg::Sha256)),
        (&oids::SHA384_WITH_RSA, RsaWith(DigestAlg::Sha384)),
        (&oids::SHA512_WITH_RSA, RsaWith(DigestAlg::Sha512)),
        (&ECDSA_WITH_SHA256, Unsupported("ECDSA")),
        (&ECDSA_WITH_SHA384, Unsupported("ECDSA")),
        (&RSASSA_PSS, Unsupported("RSA-PSS")),
        (&oids::ED25519, Unsupported("Ed25519")),
    ];
    for (known, kind) in table {
        if oids::is(oid, known) {
            return kind;
        }
    }
    if oid.starts_with(ECDSA_PREFIX.as_bytes()) {
        return Unsupported("ECDSA");
    }
    Unknown
}

const ECDSA_PREFIX: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4");
const ECDSA_WITH_SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSASSA_PSS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// An RSA public key from SubjectPublicKeyInfo DER.
pub fn rsa_public_key(spki_der: &[u8]) -> Result<rsa::PublicKey, String> {
    rsa::PublicKey::from_public_key_der(spki_der)
        .map_err(|e| format!("not a usable RSA public key ({e})"))
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureFailure {
    /// MD5: never verified (collisions are practical).
    Md5,
    Invalid,
}

/// RSASSA-PKCS1-v1_5 verification of `signature` over `message` hashed with `digest`.
pub fn verify_pkcs1v15(
    key: &rsa::PublicKey,
    digest: DigestAlg,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureFailure> {
    let result = match digest {
        DigestAlg::Md5 => return Err(SignatureFailure::Md5),
        DigestAlg::Sha1 => key.pkcs1v15_verify::<sha1::Sha1>(message, signature),
        DigestAlg::Sha224 => key.pkcs1v15_verify::<sha2::Sha224>(message, signature),
        DigestAlg::Sha256 => key.pkcs1v15_verify::<sha2::Sha256>(message, signature),
        DigestAlg::Sha384 => key.pkcs1v15_verify::<sha2::Sha384>(message, signature),
        DigestAlg::Sha512 => key.pkcs1v15_verify::<sha2::Sha512>(message, signature),
    };
    result.map_err(|_| SignatureFailure::Invalid)
}

/// The content of a BIT STRING holding a signature (no unused bits allowed).
pub fn signature_bits(bit_string_value: &[u8]) -> Option<&[u8]> {
    match bit_string_value.split_first() {
        Some((0, bits)) => Some(bits),
        _ => None,
    }
}
