//! The `secrets` host interface backed by the store: the request's challengePassword
//! is held here and compared in the store; plugins only learn which secret matched.

use std::sync::Arc;

use sceptic_plugins::{MatchedSecret, SecretBroker, SecretKind};
use sceptic_store::{SecretDigester, Store};

pub struct StoreSecrets {
    pub store: Arc<Store>,
    pub digester: SecretDigester,
    pub service_id: i64,
    pub challenge: Option<String>,
    /// SHA-256 (hex) of the signer's public key, for long-life bindings.
    pub signer_key: String,
}

impl SecretBroker for StoreSecrets {
    fn global_mode(&self) -> bool {
        self.store.global_mode(self.service_id).unwrap_or_else(|e| {
            tracing::error!("reading the secrets failed: {e}");
            false
        })
    }

    fn match_challenge(&self) -> Option<MatchedSecret> {
        let challenge = self.challenge.as_deref()?;
        let found = self
            .store
            .match_secret(&self.digester, self.service_id, challenge, &self.signer_key)
            .unwrap_or_else(|e| {
                // Fail closed: an unreadable store matches nothing.
                tracing::error!("matching the challenge failed: {e}");
                None
            })?;
        Some(MatchedSecret {
            id: found.id as u64,
            kind: match found.kind {
                sceptic_store::SecretKind::Global => SecretKind::Global,
                sceptic_store::SecretKind::SingleUse => SecretKind::SingleUse,
                sceptic_store::SecretKind::LongLife => SecretKind::LongLife,
            },
            sender_matches: found.sender_matches,
        })
    }
}
