//! Private keys of the CA and the RA, and the one seam through which every RSA
//! private-key operation passes.
//!
//! An enrollment costs three RSA private operations: unwrapping the content key of
//! the request, signing the certificate and signing the CertRep. They dominate the
//! server's CPU time, so they run on aws-lc-rs (about 0.43 ms per 2048-bit operation
//! here, against about 2.6 ms with the pure-Rust `rsa` crate). Public-key work
//! (verifying a client's signature, wrapping a reply's content key) stays in the
//! callers, which use `rsa`.
//!
//! Keys live in PKCS#8 PEM files created with mode 0600 and never overwritten. Nothing
//! in this crate logs or formats key material.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384,
    OAEP_SHA512_MGF1SHA512, OaepPrivateDecryptingKey, Pkcs1PrivateDecryptingKey,
    PrivateDecryptingKey,
};
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RsaEncoding,
};

/// What went wrong with a key. The messages name the file, never the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("RSA key size {0} is not supported (use 2048, 3072 or 4096)")]
    UnsupportedSize(u32),
    #[error("the key could not be generated")]
    Generate,
    #[error("{0}: not an RSA private key in PKCS#8 or PKCS#1 PEM")]
    Parse(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("signing failed")]
    Sign,
}

/// A decryption that failed. It carries no detail on purpose: a caller that could tell
/// a padding failure from any other failure would turn the RA key into a
/// Bleichenbacher/Marvin oracle (RUSTSEC-2023-0071).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decryption failed")]
pub struct DecryptFailed;

/// The digest inside a PKCS#1 v1.5 signature made by this server. SHA-1 is absent on
/// purpose: the server answers SHA-1 requests with SHA-256 (RFC 8894 §3.5.2 lets the
/// CA choose any digest it advertises).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureDigest {
    Sha256,
    Sha384,
    Sha512,
}

/// The hash of an RSA-OAEP key transport (the MGF1 hash is the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// Fills `buf` from the operating system's CSPRNG (through aws-lc).
pub fn fill_random(buf: &mut [u8]) {
    use aws_lc_rs::rand::SecureRandom;
    SystemRandom::new()
        .fill(buf)
        .expect("the system random source is available");
}

/// An RSA private key held by the host. Plugins only ever see a handle to it.
pub struct RsaKey {
    signing: KeyPair,
    // Both decrypting views share one EVP_PKEY; built once, not per request.
    pkcs1: Pkcs1PrivateDecryptingKey,
    oaep: OaepPrivateDecryptingKey,
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaKey({} bits)", self.bits())
    }
}

impl RsaKey {
    /// A fresh key of 2048, 3072 or 4096 bits.
    pub fn generate(bits: u32) -> Result<Self, KeyError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            other => return Err(KeyError::UnsupportedSize(other)),
        };
        let pair = KeyPair::generate(size).map_err(|_| KeyError::Generate)?;
        let pkcs8: Pkcs8V1Der = pair.as_der().map_err(|_| KeyError::Generate)?;
        Self::from_pkcs8_der(pkcs8.as_ref()).map_err(|_| KeyError::Generate)
    }

    /// A key from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let signing = KeyPair::from_pkcs8(der).map_err(|_| KeyError::Parse("key".into()))?;
        let decrypting =
            PrivateDecryptingKey::from_pkcs8(der).map_err(|_| KeyError::Parse("key".into()))?;
        let pkcs1 = Pkcs1PrivateDecryptingKey::new(decrypting.clone())
            .map_err(|_| KeyError::Parse("key".into()))?;
        let oaep =
            OaepPrivateDecryptingKey::new(decrypting).map_err(|_| KeyError::Parse("key".into()))?;
        Ok(Self {
            signing,
            pkcs1,
            oaep,
        })
    }

    /// A key from PEM: `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1, as older
    /// openssl commands write it).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::Parse("key".into());
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes()).map_err(|_| bad())?;
        match label {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "RSA PRIVATE KEY" => {
                let pair = KeyPair::from_der(&der).map_err(|_| bad())?;
                let pkcs8: Pkcs8V1Der = pair.as_der().map_err(|_| bad())?;
                Self::from_pkcs8_der(pkcs8.as_ref())
            }
            _ => Err(bad()),
        }
    }

    /// Reads a PEM key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(&text).map_err(|e| match e {
            KeyError::Parse(_) => KeyError::Parse(path.display().to_string()),
            other => other,
        })
    }

    /// Writes the key as PKCS#8 PEM to a new file with mode 0600. An existing file is
    /// never replaced: losing a CA key to a typo is not recoverable.
    pub fn save_new(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        file.write_all(self.to_pem().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// PKCS#8 PEM of the private key.
    pub fn to_pem(&self) -> String {
        let der: Pkcs8V1Der = self.signing.as_der().expect("a loaded key re-encodes");
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, der.as_ref())
            .expect("PEM encoding of DER cannot fail")
    }

    /// The SubjectPublicKeyInfo DER of the public half.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        let der: PublicKeyX509Der = self
            .signing
            .public_key()
            .as_der()
            .expect("a loaded key re-encodes");
        der.as_ref().to_vec()
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.signing.public_modulus_len() * 8
    }

    /// PKCS#1 v1.5 signature over `message` (the message is hashed here).
    pub fn sign(&self, digest: SignatureDigest, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let encoding: &'static dyn RsaEncoding = match digest {
            SignatureDigest::Sha256 => &RSA_PKCS1_SHA256,
            SignatureDigest::Sha384 => &RSA_PKCS1_SHA384,
            SignatureDigest::Sha512 => &RSA_PKCS1_SHA512,
        };
        let mut signature = vec![0u8; self.signing.public_modulus_len()];
        self.signing
            .sign(encoding, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| KeyError::Sign)?;
        Ok(signature)
    }

    /// RSAES-PKCS1-v1_5 decryption. Callers must treat [`DecryptFailed`] exactly like
    /// any later failure (see the type's documentation).
    pub fn decrypt_pkcs1v15(&self, ciphertext: &[u8]) -> Result<Vec<u8>, DecryptFailed> {
        let key = &self.pkcs1;
        let mut out = vec![0u8; key.min_output_size()];
        let len = key
            .decrypt(ciphertext, &mut out)
            .map_err(|_| DecryptFailed)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// RSAES-OAEP decryption with the given hash for both OAEP and MGF1.
    pub fn decrypt_oaep(
        &self,
        hash: OaepHash,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, DecryptFailed> {
        let algorithm = match hash {
            OaepHash::Sha1 => &OAEP_SHA1_MGF1SHA1,
            OaepHash::Sha256 => &OAEP_SHA256_MGF1SHA256,
            OaepHash::Sha384 => &OAEP_SHA384_MGF1SHA384,
            OaepHash::Sha512 => &OAEP_SHA512_MGF1SHA512,
        };
        let key = &self.oaep;
        let mut out = vec![0u8; key.min_output_size()];
        let len = key
            .decrypt(algorithm, ciphertext, &mut out, None)
            .map_err(|_| DecryptFailed)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let key = RsaKey::generate(2048).unwrap();
        let again = RsaKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(key.public_key_spki_der(), again.public_key_spki_der());
        assert_eq!(again.bits(), 2048);
    }

    #[test]
    fn saved_key_file_is_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sceptic-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.key");
        let _ = std::fs::remove_file(&path);
        let key = RsaKey::generate(2048).unwrap();
        key.save_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(
            key.save_new(&path).is_err(),
            "an existing key file must not be replaced"
        );
        let loaded = RsaKey::load(&path).unwrap();
        assert_eq!(loaded.public_key_spki_der(), key.public_key_spki_der());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn garbage_ciphertext_gives_the_one_opaque_error() {
        let key = RsaKey::generate(2048).unwrap();
        assert_eq!(key.decrypt_pkcs1v15(&[0x42; 256]), Err(DecryptFailed));
        assert_eq!(key.decrypt_pkcs1v15(&[1, 2, 3]), Err(DecryptFailed));
        assert_eq!(
            key.decrypt_oaep(OaepHash::Sha1, &[0x42; 256]),
            Err(DecryptFailed)
        );
    }
}
