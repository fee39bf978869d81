//! Whole-crate tests: client request → server decode → envelope → CSR → CertRep →
//! client, plus refusals, OpenSSL cross-checks and robustness against mutated input.

mod message_types;
mod openssl;
mod password;
mod rejections;
mod robustness;
mod round_trip;

use std::sync::OnceLock;

use sceptic_keys::{RsaKey, SignatureDigest};

use crate::client::{self, RequestOptions, Requester};
use crate::{ContentCipher, DigestAlg, KeyTransport, MessageType};

/// Keys and certificates shared by the tests (RSA key generation is the slow part).
pub(crate) struct Fixture {
    pub ra_key: RsaKey,
    pub ra_cert: Vec<u8>,
    /// Another service's RA (or the next RA during a rollover).
    pub other_ra_key: RsaKey,
    pub other_ra_cert: Vec<u8>,
    pub requester: Requester,
    /// `CN=device-1,O=Example`, challenge "s3cret", two DNS SANs.
    pub csr: Vec<u8>,
}

pub(crate) const SUBJECT: &str = "CN=device-1,O=Example";
pub(crate) const CHALLENGE: &str = "s3cret";
pub(crate) const SANS: [&str; 2] = ["device-1.example", "alt.example"];

pub(crate) fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ra_key = RsaKey::generate(2048).unwrap();
        let ra_cert = ra_certificate(&ra_key, "CN=Sceptic Test RA");
        let other_ra_key = RsaKey::generate(2048).unwrap();
        let other_ra_cert = ra_certificate(&other_ra_key, "CN=Other RA");
        let requester = Requester::generate(2048, "device-1");
        let csr = client::build_csr(&requester.key, SUBJECT, Some(CHALLENGE), &SANS);
        Fixture {
            ra_key,
            ra_cert,
            other_ra_key,
            other_ra_cert,
            requester,
            csr,
        }
    })
}

/// A self-signed RA certificate whose key lives in sceptic-keys.
pub(crate) fn ra_certificate(key: &RsaKey, subject: &str) -> Vec<u8> {
    client::self_signed_certificate(&key.public_key_spki_der(), subject, &|tbs| {
        key.sign(SignatureDigest::Sha256, tbs).unwrap()
    })
}

pub(crate) fn options(
    cipher: ContentCipher,
    digest: DigestAlg,
    key_transport: KeyTransport,
) -> RequestOptions {
    RequestOptions {
        message_type: MessageType::PkcsReq,
        transaction_id: format!("txn-{cipher}-{digest}-{key_transport}"),
        digest,
        cipher,
        key_transport,
    }
}

pub(crate) fn any_cipher(_: ContentCipher) -> bool {
    true
}

pub(crate) fn no_single_des(cipher: ContentCipher) -> bool {
    cipher != ContentCipher::Des
}
