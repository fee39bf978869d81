//! Released WIT is frozen: a plugin built against it must keep loading, so not one
//! byte of a released file may change (wit/README.md). Each released version has a
//! manifest of SHA-256 sums next to its folder.

use std::path::Path;

use sha2::{Digest, Sha256};

/// Every released version. Each must keep its manifest: deleting one would
/// silently unfreeze it.
const RELEASED: &[&str] = &["v0.1", "v0.2"];

fn wit_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
}

#[test]
fn released_wit_files_are_unchanged() {
    let wit = wit_dir();
    let mut checked = 0;
    let mut versions = Vec::new();
    for entry in std::fs::read_dir(&wit).unwrap() {
        let manifest = entry.unwrap().path();
        let Some(version) = manifest
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_suffix(".sha256")
        else {
            continue;
        };
        versions.push(version.to_owned());
        let folder = wit.join(version);
        let mut listed = Vec::new();
        for line in std::fs::read_to_string(&manifest).unwrap().lines() {
            let (sum, file) = line.split_once("  ").expect("sha256sum format");
            let file = file.trim_start_matches("./");
            let bytes = std::fs::read(folder.join(file))
                .unwrap_or_else(|_| panic!("released file {version}/{file} is missing"));
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                sum,
                "released WIT {version}/{file} changed; released versions are frozen: make a new version (wit/README.md)"
            );
            listed.push(file.to_owned());
            checked += 1;
        }
        // No file may be added to a released version either.
        let mut present = Vec::new();
        collect_wit(&folder, &folder, &mut present);
        present.sort();
        listed.sort();
        assert_eq!(
            present, listed,
            "files were added to or removed from released WIT {version}"
        );
    }
    assert!(
        checked > 0,
        "no released WIT manifest found in {}",
        wit.display()
    );
    versions.sort();
    assert_eq!(
        versions, RELEASED,
        "the released WIT versions and their manifests differ"
    );
}

/// v0.2 reuses v0.1's `types` and `host` packages unchanged: the host maps v0.2's
/// bindings for them onto v0.1's (`bindings.rs`), which is only sound while the
/// copies are byte-identical.
#[test]
fn v0_2_carries_v0_1_packages_unchanged() {
    let wit = wit_dir();
    for file in ["deps/types/types.wit", "deps/host/host.wit"] {
        assert_eq!(
            std::fs::read(wit.join("v0.1").join(file)).unwrap(),
            std::fs::read(wit.join("v0.2").join(file)).unwrap(),
            "wit/v0.2/{file} must be a byte-identical copy of v0.1's"
        );
    }
}

fn collect_wit(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_wit(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "wit") {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}
