//! Hostile input: truncated, mutated and random bytes give errors, never panics.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{any_cipher, fixture, options};
use crate::client::{self, Quirks};
use crate::{
    ContentCipher, DigestAlg, KeyTransport, ber, decode_get_message, decode_pki_message,
    describe_certificate, open_envelope, parse_csr,
};

/// Number of mutated inputs: enough to reach every parser branch many times, small
/// enough for a debug build on two slow cores (each may cost an RSA operation).
pub(super) const MUTATIONS: usize = 2_000;

pub(super) fn mutate(base: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = base.to_vec();
    let edits = rng.random_range(1..=4);
    for _ in 0..edits {
        if bytes.is_empty() {
            bytes.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..bytes.len());
        match rng.random_range(0..7) {
            0 => bytes[at] ^= 1 << rng.random_range(0..8),
            1 => bytes[at] = rng.random(),
            2 => bytes.truncate(at),
            3 => bytes.insert(at, rng.random()),
            4 => {
                let end = rng.random_range(at..=bytes.len().min(at + 64));
                bytes.drain(at..end);
            }
            // Length octets are where parsers go wrong: make one long or indefinite.
            5 => bytes[at] = [0x80, 0x81, 0x84, 0x88, 0xff][rng.random_range(0..5)],
            _ => {
                let end = rng.random_range(at..=bytes.len().min(at + 64));
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
    bytes
}

#[test]
fn mutated_inputs_give_errors_not_panics() {
    let f = fixture();
    let ra = [(&f.ra_cert[..], &f.ra_key)];
    let opts = options(
        ContentCipher::Aes128,
        DigestAlg::Sha256,
        KeyTransport::Pkcs1v15,
    );
    let (der_request, _) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
    let (ber_request, _) = client::build_request_with(
        &f.requester,
        &f.ra_cert,
        &f.csr,
        &opts,
        &Quirks {
            ber: true,
            ..Quirks::default()
        },
    );
    let envelope = decode_pki_message(&der_request).unwrap().content.unwrap();
    let ber_envelope = client::der_to_streamed_ber(&envelope);
    let bases: [&[u8]; 6] = [
        &der_request,
        &ber_request,
        &envelope,
        &ber_envelope,
        &f.csr,
        &f.requester.certificate_der,
    ];

    let mut rng = StdRng::seed_from_u64(0x5ce9_7ac1);
    for i in 0..MUTATIONS {
        let input = mutate(bases[i % bases.len()], &mut rng);
        let _ = ber::normalize(&input);
        let _ = decode_pki_message(&input);
        let _ = open_envelope(&input, &ra, &any_cipher);
        let _ = parse_csr(&input);
        let _ = describe_certificate(&input);
        let _ = decode_get_message(&String::from_utf8_lossy(&input));
    }
    for _ in 0..200 {
        let len = rng.random_range(0..512);
        let random: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        assert!(decode_pki_message(&random).is_err());
        assert!(open_envelope(&random, &ra, &any_cipher).is_err());
        assert!(parse_csr(&random).is_err());
        assert!(describe_certificate(&random).is_err());
    }
}

#[test]
fn every_truncation_is_an_error() {
    let f = fixture();
    let ra = [(&f.ra_cert[..], &f.ra_key)];
    let opts = options(ContentCipher::Des3, DigestAlg::Sha1, KeyTransport::Pkcs1v15);
    let (request, _) = client::build_request(&f.requester, &f.ra_cert, &f.csr, &opts);
    let envelope = decode_pki_message(&request).unwrap().content.unwrap();
    for end in 0..request.len() {
        assert!(ber::normalize(&request[..end]).is_err());
        assert!(
            decode_pki_message(&request[..end]).is_err(),
            "prefix of {end}"
        );
    }
    for end in 0..envelope.len() {
        assert!(
            open_envelope(&envelope[..end], &ra, &any_cipher).is_err(),
            "prefix of {end}"
        );
    }
    for end in 0..f.csr.len() {
        assert!(parse_csr(&f.csr[..end]).is_err());
    }
}
