//! SCEP messages (RFC 8894) as bytes in and bytes out: this crate owns the wire format
//! and nothing else. It turns what a client sent (BER or DER, GET or POST encoding) into a
//! verified [`PkiMessage`], opens the request's envelope with the RA key, reads the PKCS#10
//! request inside, and builds the signed `CertRep` answer, whose envelope is encrypted to
//! the requester's certificate or, for a certificate that may not encrypt, to the
//! challengePassword ([`ReplyRecipient`], RFC 8894 §3.1). It does no I/O, keeps no state
//! and makes no policy decisions: which ciphers a service allows, whether a request is
//! authorised and what certificate to issue are the callers' business.
//!
//! Two rules shape the code:
//! - Signatures are checked over the bytes the client sent, never over a re-encoding
//!   (`der` re-sorts `SET OF` on decode, and real clients do not always sort); so the
//!   structures around signatures are walked as raw TLVs ([`ber::normalize`] first turns
//!   BER into definite-length form without reordering anything).
//! - Every private-key operation of the server goes through [`sceptic_keys::RsaKey`]. The
//!   [`client`] module is an independent implementation of the other side (pure-Rust
//!   `rsa`) for tests and conformance drivers.

pub mod ber;
pub mod certinfo;
pub mod certrep;
pub mod client;
pub mod csr;
pub mod message;
pub mod message_data;
pub mod transport;

mod algorithms;
mod certfields;
mod degenerate;
mod envelope;
mod oids;
mod password;
mod signed_data;
mod status;
mod tlv;
mod verify;

#[cfg(test)]
mod tests;

pub use algorithms::{ContentCipher, DigestAlg, KeyTransport};
pub use ber::BerError;
pub use certinfo::{CertificateInfo, describe_certificate, issued_by};
pub use certrep::{
    BuildError, CertRep, Outcome, ReplyRecipient, build_cert_rep, build_next_ca_cert, certs_only,
    crls_only,
};
pub use csr::{CsrInfo, San, SanKind, parse_csr};
pub use message::{DecodeError, OpenedEnvelope, PkiMessage, decode_pki_message, open_envelope};
pub use message_data::{
    IssuerAndSerial, IssuerAndSubject, parse_issuer_and_serial, parse_issuer_and_subject,
};
pub use password::{PBKDF2_ITERATIONS, SALT_BYTES, seal_to_password};
pub use sceptic_keys::{OaepHash, RsaKey, SignatureDigest};
pub use status::{FailInfo, MessageType, PkiStatus, Rejection};
pub use transport::{TransportError, decode_get_message};
