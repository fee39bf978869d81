use super::*;

fn temp_store(name: &str) -> (Store, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sceptic-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("sceptic.db")).unwrap();
    (store, dir)
}

fn service(store: &Store) -> i64 {
    let ca = store.add_ca("local", b"cert", "ca.key").unwrap();
    store
        .add_service(&NewService {
            name: "vpn".into(),
            alias: "vpn".into(),
            ca_id: ca,
            client_ciphers: vec!["aes256".into()],
            policies: vec![PluginSpec::new("builtin:secret-policy")],
            issuer: PluginSpec::new("builtin:local-ca-issuer"),
            approval: None,
            ra: None,
            enabled: true,
        })
        .unwrap()
}

fn issuance(service_id: i64, serial: &str, claim: Option<SecretClaim>) -> Issuance {
    Issuance {
        service_id,
        service: "vpn".into(),
        ca_id: 1,
        transaction_id: format!("tx-{serial}"),
        message_type: "PKCSReq".into(),
        serial_hex: serial.into(),
        subject: "CN=a".into(),
        not_before: 0,
        not_after: 1,
        der: vec![1, 2, 3],
        signer_key: "k1".into(),
        client_address: "127.0.0.1".into(),
        decided_by: "secret-policy@0.1.0".into(),
        claim,
        held_request_id: None,
    }
}

#[test]
fn migrations_are_idempotent_and_versioned() {
    let (store, dir) = temp_store("migrate");
    drop(store);
    let store = Store::open(&dir.join("sceptic.db")).unwrap();
    let version: i64 = store
        .conn()
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn single_use_secret_is_consumed_once_and_only_with_the_certificate() {
    let (store, dir) = temp_store("single");
    let sid = service(&store);
    let digester = SecretDigester::new([7; 32]);
    let id = store
        .add_secret(&digester, sid, SecretKind::SingleUse, "s3cret")
        .unwrap();
    assert!(
        store
            .match_secret(&digester, sid, "wrong", "k1")
            .unwrap()
            .is_none()
    );
    let m = store
        .match_secret(&digester, sid, "s3cret", "k1")
        .unwrap()
        .unwrap();
    assert_eq!((m.id, m.kind), (id, SecretKind::SingleUse));
    let claim = SecretClaim {
        id,
        kind: m.kind,
        signer_key: "k1".into(),
    };
    store
        .record_issuance(&issuance(sid, "01", Some(claim.clone())))
        .unwrap();
    // Second use: no longer matches, and a racing claim is refused with nothing written.
    assert!(
        store
            .match_secret(&digester, sid, "s3cret", "k1")
            .unwrap()
            .is_none()
    );
    let err = store
        .record_issuance(&issuance(sid, "02", Some(claim)))
        .unwrap_err();
    assert!(matches!(err, IssueConflict::SecretUsed(_)), "{err}");
    assert_eq!(store.certificates(sid).unwrap().len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn duplicate_serial_is_refused_and_the_secret_stays_unused() {
    let (store, dir) = temp_store("serial");
    let sid = service(&store);
    let digester = SecretDigester::new([7; 32]);
    store.record_issuance(&issuance(sid, "0a", None)).unwrap();
    let id = store
        .add_secret(&digester, sid, SecretKind::SingleUse, "x")
        .unwrap();
    let claim = SecretClaim {
        id,
        kind: SecretKind::SingleUse,
        signer_key: "k".into(),
    };
    let err = store
        .record_issuance(&issuance(sid, "0a", Some(claim)))
        .unwrap_err();
    assert!(matches!(err, IssueConflict::DuplicateSerial(_)), "{err}");
    assert!(
        store
            .match_secret(&digester, sid, "x", "k")
            .unwrap()
            .is_some()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn global_mode_ignores_other_secrets_and_long_life_binds_to_first_sender() {
    let (store, dir) = temp_store("modes");
    let sid = service(&store);
    let digester = SecretDigester::new([9; 32]);
    let long = store
        .add_secret(&digester, sid, SecretKind::LongLife, "long")
        .unwrap();
    let claim = SecretClaim {
        id: long,
        kind: SecretKind::LongLife,
        signer_key: "first".into(),
    };
    store
        .record_issuance(&issuance(sid, "01", Some(claim)))
        .unwrap();
    assert!(
        store
            .match_secret(&digester, sid, "long", "first")
            .unwrap()
            .unwrap()
            .sender_matches
    );
    assert!(
        !store
            .match_secret(&digester, sid, "long", "other")
            .unwrap()
            .unwrap()
            .sender_matches
    );
    let other = SecretClaim {
        id: long,
        kind: SecretKind::LongLife,
        signer_key: "other".into(),
    };
    assert!(
        store
            .record_issuance(&issuance(sid, "02", Some(other)))
            .is_err()
    );

    store
        .add_secret(&digester, sid, SecretKind::Global, "everyone")
        .unwrap();
    assert!(store.global_mode(sid).unwrap());
    assert!(
        store
            .match_secret(&digester, sid, "long", "first")
            .unwrap()
            .is_none()
    );
    let g = store
        .match_secret(&digester, sid, "everyone", "any")
        .unwrap()
        .unwrap();
    assert_eq!(g.kind, SecretKind::Global);
    // The same value under another pepper does not match: the digest is keyed.
    let other_digester = SecretDigester::new([1; 32]);
    assert!(
        store
            .match_secret(&other_digester, sid, "everyone", "any")
            .unwrap()
            .is_none()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
