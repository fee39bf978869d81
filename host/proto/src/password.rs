//! Password recipients: a pkcsPKIEnvelope encrypted to the shared secret (the
//! challengePassword) instead of to a key. RFC 8894 §3.1 uses it when the recipient's
//! key cannot encrypt; sceptic uses it for a reply whose requester certificate does not
//! allow keyEncipherment.
//!
//! The envelope is a CMS EnvelopedData (version 3, RFC 5652 §6.1) with one
//! PasswordRecipientInfo (`[3] pwri`, RFC 5652 §6.2.4):
//! - the key-encryption key (KEK) is derived from the password with PBKDF2 (RFC 8018
//!   §5.2), with an explicit hmacWithSHA256 prf and a random salt;
//! - the content-encryption key (CEK) is wrapped with the KEK by id-alg-PWRI-KEK
//!   (RFC 3211 §2.3), whose parameter is the KEK cipher with its IV. The wrap is two
//!   CBC passes over a formatted CEK block, so that every bit of the wrapped key
//!   depends on every bit of the CEK; check bytes inside tell a wrong password.
//!
//! The server only seals ([`seal_to_password`]). Opening ([`open`]) is for the client
//! side ([`crate::client`]) and for tests.

use crate::algorithms::ContentCipher;
use crate::envelope::{self, Envelope};
use crate::oids;
use crate::tlv::{self, Tlv, tag};

/// PBKDF2 iteration count for the KEK of a sealed reply. The challengePassword should
/// be a high-entropy secret (RFC 8894 §8), so the count is not what protects a good
/// one; it slows down guessing a weak one, and the server pays it on every reply
/// sealed this way. 10,000 rounds of HMAC-SHA-256 take a few milliseconds: five times
/// OpenSSL's default (2048, `PKCS5_DEFAULT_ITER`), still cheap per request.
pub const PBKDF2_ITERATIONS: u32 = 10_000;

/// PBKDF2 salt length in bytes (RFC 8018 §4.1 asks for at least 8, NIST SP 800-132
/// for at least 16).
pub const SALT_BYTES: usize = 16;

/// The largest iteration count [`open`] accepts, so that a hostile envelope cannot make
/// the reader spin for minutes.
const MAX_ITERATIONS: u32 = 1_000_000;

/// Encrypts `content` to `password`: a DER ContentInfo holding an EnvelopedData with
/// one PasswordRecipientInfo (RFC 5652 §6.2.4, RFC 3211). `cipher` encrypts the
/// content and `kek` wraps its key; single DES is written as 3DES for either (as for
/// certificate recipients, see `certrep`). The password is used as the bytes given
/// (the challengePassword's UTF-8 bytes, as `openssl cms -pwri_password` takes them).
pub fn seal_to_password(
    content: &[u8],
    password: &[u8],
    cipher: ContentCipher,
    kek: ContentCipher,
) -> Result<Vec<u8>, String> {
    if password.is_empty() {
        // PBKDF2 accepts it, but the envelope would then open for anyone.
        return Err("there is no password to encrypt to".into());
    }
    let cipher = cipher.without_single_des();
    let kek = kek.without_single_des();

    let cek = cipher.random_key();
    let iv = cipher.random_iv();
    let ciphertext = cipher
        .encrypt(&cek, &iv, content)
        .map_err(|_| "content encryption failed".to_string())?;

    let mut salt = [0u8; SALT_BYTES];
    rand::fill(&mut salt[..]);
    let kek_key = Prf::Sha256.derive(password, &salt, PBKDF2_ITERATIONS, kek.key_len());
    let kek_iv = kek.random_iv();
    let encrypted_key = wrap(kek, &kek_key, &kek_iv, &cek)?;

    // pwri [3] IMPLICIT PasswordRecipientInfo: the SEQUENCE's content under tag [3]
    // (the CMS module has IMPLICIT TAGS).
    let recipient = tlv::constructed(
        tag::context_constructed(3),
        &[
            &tlv::small_integer(0), // version: always 0 (RFC 5652 §6.2.4)
            &key_derivation_algorithm(&salt, PBKDF2_ITERATIONS),
            // keyEncryptionAlgorithm: id-alg-PWRI-KEK, whose parameter is the KEK
            // cipher's AlgorithmIdentifier with its IV (RFC 3211 §2.2).
            &tlv::algorithm(
                &oids::PWRI_KEK,
                Some(&tlv::algorithm(
                    &kek.oid(),
                    Some(&tlv::octet_string(&kek_iv)),
                )),
            ),
            &tlv::octet_string(&encrypted_key),
        ],
    );
    // EnvelopedData version 3 because a pwri is present (RFC 5652 §6.1).
    Ok(envelope::assemble(3, recipient, cipher, &iv, &ciphertext))
}

/// `keyDerivationAlgorithm [0] IMPLICIT` PBKDF2 with PBKDF2-params (RFC 8018 appendix
/// A.2): a `specified` salt, the iteration count, no keyLength (the KEK cipher fixes
/// it) and the prf written out rather than left to its hmacWithSHA1 default.
fn key_derivation_algorithm(salt: &[u8], iterations: u32) -> Vec<u8> {
    let params = tlv::sequence(&[
        &tlv::octet_string(salt),
        &unsigned(iterations),
        &tlv::algorithm(&oids::HMAC_WITH_SHA256, Some(&tlv::null())),
    ]);
    tlv::constructed(
        tag::context_constructed(0),
        &[&tlv::oid(&oids::PBKDF2), &params],
    )
}

/// RFC 3211 §2.3.1: format the CEK as `length || check || CEK || padding` (check: the
/// complement of the CEK's first three bytes; random padding to a whole number of
/// blocks, at least two), encrypt it with CBC under the KEK and IV, then encrypt the
/// result again, with its last block as the IV. Two blocks at least, so that the
/// second pass chains every block into every other.
fn wrap(kek: ContentCipher, key: &[u8], iv: &[u8], cek: &[u8]) -> Result<Vec<u8>, String> {
    let block = kek.block_len();
    let length = u8::try_from(cek.len())
        .ok()
        .filter(|&l| l >= 3)
        .ok_or("a content key must be 3 to 255 bytes to be wrapped")?;
    let padded_len = (4 + cek.len()).div_ceil(block).max(2) * block;
    let mut formatted = Vec::with_capacity(padded_len);
    formatted.push(length);
    formatted.extend(cek[..3].iter().map(|b| !b));
    formatted.extend_from_slice(cek);
    let filled = formatted.len();
    formatted.resize(padded_len, 0);
    rand::fill(&mut formatted[filled..]);

    let failed = |_| "key wrap failed".to_string();
    let inner = kek.encrypt_unpadded(key, iv, &formatted).map_err(failed)?;
    let outer_iv = &inner[inner.len() - block..];
    kek.encrypt_unpadded(key, outer_iv, &inner).map_err(failed)
}

/// RFC 3211 §2.3.2: undo [`wrap`] and check the length and check bytes.
fn unwrap(kek: ContentCipher, key: &[u8], iv: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, String> {
    let block = kek.block_len();
    let n = wrapped.len();
    if n < 2 * block || !n.is_multiple_of(block) {
        return Err(format!(
            "the wrapped content key ({n} bytes) is not two or more {kek} blocks"
        ));
    }
    let failed = |_| "key unwrap failed".to_string();
    // Step 1: the last block, decrypted with the one before it as IV, gives the last
    // block of the inner layer, which was the IV of the outer layer.
    let outer_iv = kek
        .decrypt_unpadded(
            key,
            &wrapped[n - 2 * block..n - block],
            &wrapped[n - block..],
        )
        .map_err(failed)?;
    // Step 2: strip the outer layer; step 3: the inner one, with the real IV.
    let inner = kek
        .decrypt_unpadded(key, &outer_iv, wrapped)
        .map_err(failed)?;
    let formatted = kek.decrypt_unpadded(key, iv, &inner).map_err(failed)?;
    // Step 4: the length must fit and the check bytes must be the complement of the
    // key's first three bytes; otherwise the KEK (the password) is wrong.
    let length = usize::from(formatted[0]);
    let checks =
        length >= 3 && 4 + length <= n && (0..3).all(|i| formatted[1 + i] == !formatted[4 + i]);
    if !checks {
        return Err("the password does not unwrap the content key (RFC 3211 check failed)".into());
    }
    Ok(formatted[4..4 + length].to_vec())
}

/// Opens an EnvelopedData through the first of its PasswordRecipientInfos that
/// `password` unwraps. Returns the content and its cipher.
pub(crate) fn open(
    parsed: &Envelope<'_>,
    password: &[u8],
) -> Result<(Vec<u8>, ContentCipher), String> {
    let cipher = parsed
        .cipher
        .clone()
        .map_err(|oid| format!("unknown content cipher {oid}"))?;
    let iv = parsed.iv.ok_or("the envelope has no IV")?;
    let mut error = "the envelope has no PasswordRecipientInfo".to_string();
    for info in &parsed.passwords {
        let content = PasswordRecipient::read(*info)
            .and_then(|recipient| recipient.content_key(password, cipher))
            .and_then(|cek| {
                cipher
                    .decrypt(&cek, iv, &parsed.ciphertext)
                    .map_err(|_| "the content does not decrypt".to_string())
            });
        match content {
            Ok(content) => return Ok((content, cipher)),
            Err(e) => error = e,
        }
    }
    Err(error)
}

/// One PasswordRecipientInfo taken apart.
struct PasswordRecipient<'a> {
    salt: &'a [u8],
    iterations: u32,
    key_length: Option<u32>,
    prf: Prf,
    kek: ContentCipher,
    kek_iv: &'a [u8],
    encrypted_key: &'a [u8],
}

impl<'a> PasswordRecipient<'a> {
    fn read(info: Tlv<'a>) -> Result<Self, String> {
        let mut r = info.children();
        let version = r.expect(tag::INTEGER, "PasswordRecipientInfo: version")?;
        if version.value != [0] {
            return Err("PasswordRecipientInfo: version is not 0".into());
        }
        let derivation = r
            .optional(
                tag::context_constructed(0),
                "PasswordRecipientInfo: keyDerivationAlgorithm",
            )?
            // Without it the KEK would have to be known out of band (RFC 3211 §2.2).
            .ok_or("PasswordRecipientInfo without keyDerivationAlgorithm")?;
        let encryption = r.expect(
            tag::SEQUENCE,
            "PasswordRecipientInfo: keyEncryptionAlgorithm",
        )?;
        let encrypted_key = r
            .expect(tag::OCTET_STRING, "PasswordRecipientInfo: encryptedKey")?
            .value;
        r.finish("PasswordRecipientInfo")?;

        // [0] IMPLICIT AlgorithmIdentifier: read its content as the SEQUENCE it stands for.
        let derivation = tlv::algorithm_id(
            Tlv {
                tag: tag::SEQUENCE,
                ..derivation
            },
            "keyDerivationAlgorithm",
        )?;
        if !oids::is(derivation.oid, &oids::PBKDF2) {
            return Err(format!(
                "key derivation {} is not supported",
                oids::dotted(derivation.oid)
            ));
        }
        let params = derivation
            .params
            .filter(|p| p.tag == tag::SEQUENCE)
            .ok_or("PBKDF2 without parameters")?;
        let mut p = params.children();
        // The `otherSource` salt choice (an AlgorithmIdentifier) is not supported.
        let salt = p.expect(tag::OCTET_STRING, "PBKDF2-params: salt")?.value;
        let iterations = read_unsigned(p.expect(tag::INTEGER, "PBKDF2-params: iterationCount")?)?;
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "PBKDF2 iteration count {iterations} is out of range"
            ));
        }
        let key_length = p
            .optional(tag::INTEGER, "PBKDF2-params: keyLength")?
            .map(read_unsigned)
            .transpose()?;
        let prf = match p.optional(tag::SEQUENCE, "PBKDF2-params: prf")? {
            // DEFAULT algid-hmacWithSHA1 (RFC 8018 appendix A.2): what OpenSSL writes.
            None => Prf::Sha1,
            Some(prf) => {
                let prf = tlv::algorithm_id(prf, "PBKDF2 prf")?;
                Prf::from_oid(prf.oid).ok_or_else(|| {
                    format!("PBKDF2 prf {} is not supported", oids::dotted(prf.oid))
                })?
            }
        };
        p.finish("PBKDF2-params")?;

        let encryption = tlv::algorithm_id(encryption, "keyEncryptionAlgorithm")?;
        if !oids::is(encryption.oid, &oids::PWRI_KEK) {
            return Err(format!(
                "key encryption {} is not id-alg-PWRI-KEK",
                oids::dotted(encryption.oid)
            ));
        }
        let kek_algorithm = tlv::algorithm_id(
            encryption
                .params
                .ok_or("id-alg-PWRI-KEK without its KEK cipher")?,
            "PWRI-KEK cipher",
        )?;
        let kek = ContentCipher::from_oid(kek_algorithm.oid).ok_or_else(|| {
            format!(
                "KEK cipher {} is not supported",
                oids::dotted(kek_algorithm.oid)
            )
        })?;
        let kek_iv = kek_algorithm
            .params
            .filter(|iv| iv.tag == tag::OCTET_STRING && iv.value.len() == kek.block_len())
            .ok_or_else(|| {
                format!(
                    "the {kek} KEK IV is missing or not {} bytes",
                    kek.block_len()
                )
            })?
            .value;
        Ok(Self {
            salt,
            iterations,
            key_length,
            prf,
            kek,
            kek_iv,
            encrypted_key,
        })
    }

    /// Derives the KEK from `password` and unwraps the content key for `cipher`.
    fn content_key(&self, password: &[u8], cipher: ContentCipher) -> Result<Vec<u8>, String> {
        let kek_len = self.kek.key_len();
        if self.key_length.is_some_and(|l| l as usize != kek_len) {
            return Err(format!(
                "PBKDF2 keyLength does not match the {} KEK",
                self.kek
            ));
        }
        let key = self
            .prf
            .derive(password, self.salt, self.iterations, kek_len);
        let cek = unwrap(self.kek, &key, self.kek_iv, self.encrypted_key)?;
        if cek.len() != cipher.key_len() {
            return Err(format!(
                "the unwrapped content key has {} bytes, not the {} of {cipher}",
                cek.len(),
                cipher.key_len()
            ));
        }
        Ok(cek)
    }
}

/// The pseudorandom function of PBKDF2 (RFC 8018 appendix B.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prf {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Prf {
    fn from_oid(value: &[u8]) -> Option<Self> {
        [
            (oids::HMAC_WITH_SHA1, Self::Sha1),
            (oids::HMAC_WITH_SHA256, Self::Sha256),
            (oids::HMAC_WITH_SHA384, Self::Sha384),
            (oids::HMAC_WITH_SHA512, Self::Sha512),
        ]
        .into_iter()
        .find(|(oid, _)| oids::is(value, oid))
        .map(|(_, prf)| prf)
    }

    fn derive(self, password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
        use pbkdf2::pbkdf2_hmac;
        let mut key = vec![0u8; len];
        match self {
            Self::Sha1 => pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut key),
            Self::Sha256 => pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut key),
            Self::Sha384 => pbkdf2_hmac::<sha2::Sha384>(password, salt, iterations, &mut key),
            Self::Sha512 => pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, &mut key),
        }
        key
    }
}

/// A DER INTEGER for a non-negative count: minimal big-endian, with a leading zero
/// byte when the top bit would otherwise read as a sign.
fn unsigned(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let mut content = Vec::with_capacity(5);
    if bytes[skip] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&bytes[skip..]);
    tlv::encode(tag::INTEGER, &content)
}

/// The value of a non-negative INTEGER that fits in 32 bits.
fn read_unsigned(integer: Tlv<'_>) -> Result<u32, String> {
    let value = integer.value;
    if value.first().is_none_or(|&b| b & 0x80 != 0) {
        return Err("PBKDF2-params: an empty or negative INTEGER".into());
    }
    let digits: &[u8] = &value[value.iter().take_while(|&&b| b == 0).count()..];
    if digits.len() > 4 {
        return Err("PBKDF2-params: an INTEGER too large".into());
    }
    Ok(digits
        .iter()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_has_the_rfc_3211_layout_and_unwraps() {
        for kek in [
            ContentCipher::Aes128,
            ContentCipher::Aes256,
            ContentCipher::Des3,
        ] {
            for cek_len in [16usize, 24, 32] {
                let (key, iv) = (kek.random_key(), kek.random_iv());
                let cek: Vec<u8> = (0..cek_len as u8).collect();
                let wrapped = wrap(kek, &key, &iv, &cek).unwrap();
                let b = kek.block_len();
                assert_eq!(wrapped.len(), (4 + cek_len).div_ceil(b).max(2) * b);
                // Undo the outer pass by hand (its IV is the inner layer's last block).
                let n = wrapped.len();
                let last = kek
                    .decrypt_unpadded(&key, &wrapped[n - 2 * b..n - b], &wrapped[n - b..])
                    .unwrap();
                let inner = kek.decrypt_unpadded(&key, &last, &wrapped).unwrap();
                let formatted = kek.decrypt_unpadded(&key, &iv, &inner).unwrap();
                assert_eq!(formatted[0] as usize, cek_len);
                assert_eq!(formatted[1..4], [!0u8, !1, !2]);
                assert_eq!(formatted[4..4 + cek_len], cek[..]);
                assert_eq!(unwrap(kek, &key, &iv, &wrapped).unwrap(), cek);

                let wrong = kek.random_key();
                assert!(unwrap(kek, &wrong, &iv, &wrapped).is_err(), "{kek}");
                assert!(unwrap(kek, &key, &iv, &wrapped[..b]).is_err());
                assert!(unwrap(kek, &key, &iv, &wrapped[1..]).is_err());
            }
        }
    }

    #[test]
    fn integers_round_trip() {
        for value in [1u32, 127, 128, 255, 256, 2048, 10_000, 0x80_0000, u32::MAX] {
            let der = unsigned(value);
            let tlv = tlv::single(&der, "integer").unwrap();
            assert_eq!(read_unsigned(tlv).unwrap(), value);
        }
        assert_eq!(unsigned(128), [2, 2, 0, 128]);
        assert_eq!(unsigned(10_000), [2, 2, 0x27, 0x10]);
        let negative = [2u8, 1, 0xff];
        assert!(read_unsigned(tlv::single(&negative, "i").unwrap()).is_err());
    }
}
