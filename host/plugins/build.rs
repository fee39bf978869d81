//! Builds the built-in plugins (the separate workspace under `plugins/`) for
//! wasm32-wasip2, so the sceptic binary embeds components made from this very
//! source tree. The guests get their own target directory beside ours, which keeps
//! the nested cargo from waiting on the lock the outer cargo holds.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_TARGET: &str = "wasm32-wasip2";
const GUESTS: &[&str] = &[
    "secret-policy",
    "local-ca-issuer",
    "approval-policy",
    "fault-policy",
    "deferred-issuer",
    "fault-issuer",
    "trusted-cert-policy",
    "script-policy",
    "legacy-policy",
];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .ancestors()
        .nth(2)
        .expect("host/plugins sits two levels down");
    let plugins = root.join("plugins");
    for watched in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", plugins.join(watched).display());
    }
    for guest in GUESTS {
        println!("cargo:rerun-if-changed={}", plugins.join(guest).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("host/x509/src").display()
    );

    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out.
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let target_dir = out
        .ancestors()
        .nth(4)
        .expect("OUT_DIR layout")
        .join("wasm-plugins");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            GUEST_TARGET,
            "--manifest-path",
        ])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's settings are for the host, not for the guests.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status();
    let built = target_dir.join(GUEST_TARGET).join("release");
    match status {
        Ok(s) if s.success() => {}
        Ok(_) | Err(_) => panic!(
            "building the built-in plugins failed (see above). They need the {GUEST_TARGET} \
             target: run `rustup target add {GUEST_TARGET}`, then build again."
        ),
    }
    for guest in GUESTS {
        let file = built.join(format!("{}.wasm", guest.replace('-', "_")));
        assert!(
            exists(&file),
            "expected {} after the guest build",
            file.display()
        );
    }
    println!("cargo:rustc-env=SCEPTIC_PLUGIN_DIR={}", built.display());
}

fn exists(path: &Path) -> bool {
    path.metadata().map(|m| m.len() > 0).unwrap_or(false)
}
