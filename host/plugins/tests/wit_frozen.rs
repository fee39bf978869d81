//! Released WIT is frozen: a plugin built against it must keep loading, so not one
//! byte of a released file may change (wit/README.md). Each released version has a
//! manifest of SHA-256 sums next to its folder.

use std::path::Path;

use sha2::{Digest, Sha256};

#[test]
fn released_wit_files_are_unchanged() {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
    let mut checked = 0;
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
