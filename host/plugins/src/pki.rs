//! The host side of WIT v0.2's `sceptic:pki` interfaces (`trust`, `issued`): the
//! guard rails between a plugin and the [`CertificateBroker`] the server lends.
//!
//! A plugin chooses what it asks, so each call is bounded here before the broker
//! sees it: a plugin cannot make the host parse megabytes of DER or look up
//! arbitrary strings in the store.

use crate::bindings::v0_2::{issued, trust};
use crate::host::{CertificateBroker, PluginState};

/// The largest certificate `verify` accepts. Real end-entity certificates are a
/// few KiB; this leaves room for long SAN lists and still bounds the parsing and
/// signature work one call can cause.
pub const MAX_VERIFY_CERTIFICATE_BYTES: usize = 64 << 10;

/// The anchor sets a service has (pki.wit, `trust.verify`).
pub const ANCHOR_SETS: &[&str] = &["service-ca", "trusted"];

/// RFC 5280 §4.1.2.2: a serial number is at most 20 octets, i.e. 40 hex digits.
const MAX_SERIAL_HEX: usize = 40;

/// What `verify` answers when no broker is lent (the call is `init`).
const NOT_DURING_INIT: &str = "not available during init";

impl PluginState {
    fn broker(&self) -> Option<&dyn CertificateBroker> {
        self.certificates.as_deref()
    }
}

impl trust::Host for PluginState {
    fn verify(
        &mut self,
        anchors: String,
        certificate: Vec<u8>,
    ) -> Result<trust::TrustedSigner, String> {
        let broker = self.broker().ok_or(NOT_DURING_INIT)?;
        // Refused before any parsing: the size alone decides.
        if certificate.len() > MAX_VERIFY_CERTIFICATE_BYTES {
            return Err(format!(
                "the certificate is {} bytes; the host verifies at most {} KiB",
                certificate.len(),
                MAX_VERIFY_CERTIFICATE_BYTES >> 10
            ));
        }
        if !ANCHOR_SETS.contains(&anchors.as_str()) {
            return Err(format!(
                "no anchor set {anchors:?} (known: {})",
                ANCHOR_SETS.join(", ")
            ));
        }
        let signer = broker.verify(&anchors, &certificate)?;
        Ok(trust::TrustedSigner {
            anchor_subject: signer.anchor_subject,
            issued_by_service: signer.issued_by_service,
        })
    }
}

impl issued::Host for PluginState {
    fn by_serial(&mut self, serial: String) -> Option<issued::IssuedCertificate> {
        let broker = self.broker()?;
        // Anything that cannot be a serial is not looked up at all.
        let valid = !serial.is_empty()
            && serial.len() <= MAX_SERIAL_HEX
            && serial.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return None;
        }
        let found = broker.issued_by_serial(&serial.to_ascii_lowercase())?;
        Some(issued::IssuedCertificate {
            serial: found.serial,
            subject: found.subject,
            not_before: found.not_before,
            not_after: found.not_after,
            revoked: found.revoked,
            der: found.der,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::host::{IssuedCertificate, PluginIdentity, TrustedSigner};

    /// Records what reached it; verifies everything.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl CertificateBroker for Recorder {
        fn verify(&self, anchors: &str, _der: &[u8]) -> Result<TrustedSigner, String> {
            self.0.lock().unwrap().push(format!("verify {anchors}"));
            Ok(TrustedSigner {
                anchor_subject: "CN=CA".into(),
                issued_by_service: true,
            })
        }

        fn issued_by_serial(&self, serial_hex: &str) -> Option<IssuedCertificate> {
            self.0.lock().unwrap().push(format!("serial {serial_hex}"));
            None
        }
    }

    fn state(broker: Option<Arc<Recorder>>) -> PluginState {
        let identity = PluginIdentity {
            name: "test".into(),
            version: "0".into(),
            sha256: String::new(),
            wit: "0.2",
        };
        let mut state =
            PluginState::new(Arc::new(identity), "svc".into(), Arc::new(BTreeMap::new()));
        state.certificates = broker.map(|b| b as Arc<dyn CertificateBroker>);
        state
    }

    #[test]
    fn without_a_broker_nothing_is_answered() {
        let mut state = state(None);
        let err = trust::Host::verify(&mut state, "service-ca".into(), vec![0x30]).unwrap_err();
        assert_eq!(err, "not available during init");
        assert!(issued::Host::by_serial(&mut state, "01".into()).is_none());
    }

    #[test]
    fn verify_bounds_what_reaches_the_broker() {
        let broker = Arc::new(Recorder::default());
        let mut state = state(Some(broker.clone()));

        let at_limit = vec![0u8; MAX_VERIFY_CERTIFICATE_BYTES];
        assert!(trust::Host::verify(&mut state, "trusted".into(), at_limit).is_ok());
        let over = vec![0u8; MAX_VERIFY_CERTIFICATE_BYTES + 1];
        let err = trust::Host::verify(&mut state, "trusted".into(), over).unwrap_err();
        assert!(err.contains("64 KiB"), "{err}");
        let err = trust::Host::verify(&mut state, "everyone".into(), vec![0x30]).unwrap_err();
        assert!(
            err.contains("\"everyone\"") && err.contains("service-ca"),
            "{err}"
        );

        assert_eq!(*broker.0.lock().unwrap(), ["verify trusted"]);
    }

    #[test]
    fn by_serial_asks_only_for_plausible_serials() {
        let broker = Arc::new(Recorder::default());
        let mut state = state(Some(broker.clone()));
        for junk in ["", "xyz", "01:02", &"a".repeat(MAX_SERIAL_HEX + 1)] {
            assert!(issued::Host::by_serial(&mut state, junk.into()).is_none());
        }
        assert!(issued::Host::by_serial(&mut state, "0A1b".into()).is_none());
        assert_eq!(*broker.0.lock().unwrap(), ["serial 0a1b"]);
    }
}
