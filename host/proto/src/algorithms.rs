//! The algorithms a SCEP message names: digests, content ciphers and key transports,
//! with their OIDs and the symmetric operations behind them.

use std::fmt;

use cbc::cipher::block_padding::{NoPadding, Padding, Pkcs7};
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use der::asn1::ObjectIdentifier;
use sceptic_keys::{OaepHash, SignatureDigest};
use sha2::Digest;

use crate::oids;

/// A message digest named in a SignerInfo or a signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha224 => "sha224",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Md5 => oids::MD5,
            Self::Sha1 => oids::SHA1,
            Self::Sha224 => oids::SHA224,
            Self::Sha256 => oids::SHA256,
            Self::Sha384 => oids::SHA384,
            Self::Sha512 => oids::SHA512,
        }
    }

    /// From the content octets of a digest algorithm OID.
    pub(crate) fn from_oid(value: &[u8]) -> Option<Self> {
        [
            Self::Md5,
            Self::Sha1,
            Self::Sha224,
            Self::Sha256,
            Self::Sha384,
            Self::Sha512,
        ]
        .into_iter()
        .find(|d| oids::is(value, &d.oid()))
    }

    /// The digest of `data`. `None` for MD5: this crate never computes MD5, so an MD5
    /// message can never be accepted by accident.
    pub(crate) fn digest(self, data: &[u8]) -> Option<Vec<u8>> {
        Some(match self {
            Self::Md5 => return None,
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        })
    }
}

impl From<SignatureDigest> for DigestAlg {
    fn from(d: SignatureDigest) -> Self {
        match d {
            SignatureDigest::Sha256 => Self::Sha256,
            SignatureDigest::Sha384 => Self::Sha384,
            SignatureDigest::Sha512 => Self::Sha512,
        }
    }
}

impl fmt::Display for DigestAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The symmetric cipher of an EnvelopedData, always in CBC mode with PKCS#7 padding
/// (RFC 5652 §6.3), the IV being the AlgorithmIdentifier's OCTET STRING parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentCipher {
    Des,
    Des3,
    Aes128,
    Aes192,
    Aes256,
}

impl ContentCipher {
    pub const ALL: [ContentCipher; 5] = [
        Self::Des,
        Self::Des3,
        Self::Aes128,
        Self::Aes192,
        Self::Aes256,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Des => "des",
            Self::Des3 => "des3",
            Self::Aes128 => "aes128",
            Self::Aes192 => "aes192",
            Self::Aes256 => "aes256",
        }
    }

    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Des => oids::DES_CBC,
            Self::Des3 => oids::DES_EDE3_CBC,
            Self::Aes128 => oids::AES128_CBC,
            Self::Aes192 => oids::AES192_CBC,
            Self::Aes256 => oids::AES256_CBC,
        }
    }

    pub(crate) fn from_oid(value: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|c| oids::is(value, &c.oid()))
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Des => 8,
            Self::Des3 => 24,
            Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
        }
    }

    /// Block (and IV) length in bytes.
    pub fn block_len(self) -> usize {
        match self {
            Self::Des | Self::Des3 => 8,
            _ => 16,
        }
    }

    /// A fresh random key. DES keys get odd parity: the des crate ignores parity, but
    /// strict peers (some Java providers) check it.
    pub(crate) fn random_key(self) -> Vec<u8> {
        let mut key = vec![0u8; self.key_len()];
        rand::fill(&mut key[..]);
        if matches!(self, Self::Des | Self::Des3) {
            for byte in &mut key {
                let high = *byte & 0xfe;
                *byte = high | u8::from(high.count_ones() % 2 == 0);
            }
        }
        key
    }

    pub(crate) fn random_iv(self) -> Vec<u8> {
        let mut iv = vec![0u8; self.block_len()];
        rand::fill(&mut iv[..]);
        iv
    }

    /// The cipher actually used for a reply: single DES is answered with 3DES
    /// (CLIENTS.md), both as content cipher and as password KEK cipher.
    pub(crate) fn without_single_des(self) -> Self {
        match self {
            Self::Des => Self::Des3,
            other => other,
        }
    }

    /// CBC encryption with PKCS#7 padding. Key and IV lengths are the caller's
    /// responsibility (they come from `random_key`/`random_iv`).
    pub(crate) fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, ()> {
        self.cbc_encrypt::<Pkcs7>(key, iv, plaintext)
    }

    /// CBC decryption and PKCS#7 unpadding. The error carries nothing: see
    /// `message::open_envelope` for why every failure here must look the same.
    pub(crate) fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, ()> {
        self.cbc_decrypt::<Pkcs7>(key, iv, ciphertext)
    }

    /// CBC encryption without padding, for the RFC 3211 key wrap (which pads the key
    /// itself). Fails if `blocks` is not a whole number of blocks.
    pub(crate) fn encrypt_unpadded(
        self,
        key: &[u8],
        iv: &[u8],
        blocks: &[u8],
    ) -> Result<Vec<u8>, ()> {
        // The cbc crate panics on a partial block with NoPadding: refuse it first.
        if !blocks.len().is_multiple_of(self.block_len()) {
            return Err(());
        }
        self.cbc_encrypt::<NoPadding>(key, iv, blocks)
    }

    /// CBC decryption without unpadding (RFC 3211 key unwrap). Fails if `blocks` is
    /// not a whole number of blocks.
    pub(crate) fn decrypt_unpadded(
        self,
        key: &[u8],
        iv: &[u8],
        blocks: &[u8],
    ) -> Result<Vec<u8>, ()> {
        self.cbc_decrypt::<NoPadding>(key, iv, blocks)
    }

    fn cbc_encrypt<P: Padding>(
        self,
        key: &[u8],
        iv: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ()> {
        fn run<C: BlockModeEncrypt + KeyIvInit, P: Padding>(
            key: &[u8],
            iv: &[u8],
            pt: &[u8],
        ) -> Result<Vec<u8>, ()> {
            Ok(C::new_from_slices(key, iv)
                .map_err(|_| ())?
                .encrypt_padded_vec::<P>(pt))
        }
        match self {
            Self::Des => run::<cbc::Encryptor<des::Des>, P>(key, iv, plaintext),
            Self::Des3 => run::<cbc::Encryptor<des::TdesEde3>, P>(key, iv, plaintext),
            Self::Aes128 => run::<cbc::Encryptor<aes::Aes128>, P>(key, iv, plaintext),
            Self::Aes192 => run::<cbc::Encryptor<aes::Aes192>, P>(key, iv, plaintext),
            Self::Aes256 => run::<cbc::Encryptor<aes::Aes256>, P>(key, iv, plaintext),
        }
    }

    fn cbc_decrypt<P: Padding>(
        self,
        key: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, ()> {
        fn run<C: BlockModeDecrypt + KeyIvInit, P: Padding>(
            key: &[u8],
            iv: &[u8],
            ct: &[u8],
        ) -> Result<Vec<u8>, ()> {
            C::new_from_slices(key, iv)
                .map_err(|_| ())?
                .decrypt_padded_vec::<P>(ct)
                .map_err(|_| ())
        }
        match self {
            Self::Des => run::<cbc::Decryptor<des::Des>, P>(key, iv, ciphertext),
            Self::Des3 => run::<cbc::Decryptor<des::TdesEde3>, P>(key, iv, ciphertext),
            Self::Aes128 => run::<cbc::Decryptor<aes::Aes128>, P>(key, iv, ciphertext),
            Self::Aes192 => run::<cbc::Decryptor<aes::Aes192>, P>(key, iv, ciphertext),
            Self::Aes256 => run::<cbc::Decryptor<aes::Aes256>, P>(key, iv, ciphertext),
        }
    }
}

impl fmt::Display for ContentCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the content-encryption key is wrapped for a KeyTransRecipientInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTransport {
    /// rsaEncryption: RSAES-PKCS1-v1_5.
    Pkcs1v15,
    /// id-RSAES-OAEP with this hash for both OAEP and MGF1 and an empty label.
    Oaep(OaepHash),
}

impl KeyTransport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pkcs1v15 => "rsa-pkcs1v15",
            Self::Oaep(OaepHash::Sha1) => "rsa-oaep-sha1",
            Self::Oaep(OaepHash::Sha256) => "rsa-oaep-sha256",
            Self::Oaep(OaepHash::Sha384) => "rsa-oaep-sha384",
            Self::Oaep(OaepHash::Sha512) => "rsa-oaep-sha512",
        }
    }
}

impl fmt::Display for KeyTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The digest used by an OAEP hash, for its AlgorithmIdentifier.
pub(crate) fn oaep_digest(hash: OaepHash) -> DigestAlg {
    match hash {
        OaepHash::Sha1 => DigestAlg::Sha1,
        OaepHash::Sha256 => DigestAlg::Sha256,
        OaepHash::Sha384 => DigestAlg::Sha384,
        OaepHash::Sha512 => DigestAlg::Sha512,
    }
}

pub(crate) fn oaep_hash(digest: DigestAlg) -> Option<OaepHash> {
    match digest {
        DigestAlg::Sha1 => Some(OaepHash::Sha1),
        DigestAlg::Sha256 => Some(OaepHash::Sha256),
        DigestAlg::Sha384 => Some(OaepHash::Sha384),
        DigestAlg::Sha512 => Some(OaepHash::Sha512),
        DigestAlg::Md5 | DigestAlg::Sha224 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cipher_round_trips_and_rejects_bad_padding() {
        for cipher in ContentCipher::ALL {
            let key = cipher.random_key();
            let iv = cipher.random_iv();
            assert_eq!(key.len(), cipher.key_len());
            let ct = cipher.encrypt(&key, &iv, b"a PKCS#10 request").unwrap();
            assert_eq!(ct.len() % cipher.block_len(), 0);
            assert_eq!(
                cipher.decrypt(&key, &iv, &ct).unwrap(),
                b"a PKCS#10 request"
            );
            // Flipping the top bit of the last plaintext byte (via the previous
            // ciphertext block) turns the padding byte into a value > 16: always invalid.
            let mut bad = ct.clone();
            let at = bad.len() - cipher.block_len() - 1;
            bad[at] ^= 0x80;
            assert!(cipher.decrypt(&key, &iv, &bad).is_err(), "{cipher}");
            assert_eq!(
                ContentCipher::from_oid(cipher.oid().as_bytes()),
                Some(cipher)
            );
        }
    }

    #[test]
    fn des_keys_have_odd_parity() {
        for byte in ContentCipher::Des3.random_key() {
            assert_eq!(byte.count_ones() % 2, 1);
        }
    }

    #[test]
    fn md5_is_never_computed() {
        assert_eq!(DigestAlg::Md5.digest(b"x"), None);
        assert_eq!(DigestAlg::Sha256.digest(b"").unwrap().len(), 32);
    }
}
