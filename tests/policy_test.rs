//! `sceptic policy test`: the shipped policies (policies/) pass their decision
//! cases through the real script-policy component; a broken case, a misspelled
//! field in a policy and a misspelled field in a case each fail, naming the file.
//! This is how CI runs `sceptic policy test policies/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{sceptic_bin, scratch};

fn policy_test(dir: &Path) -> Output {
    Command::new(sceptic_bin())
        .args(["policy", "test"])
        .arg(dir)
        .output()
        .expect("sceptic runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_shipped_policies_pass_their_cases() {
    let output = policy_test(&shipped());
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    for policy in [
        "names-in-domain",
        "min-key-size",
        "blocked-networks",
        "business-hours",
        "san-approval",
    ] {
        assert!(
            out.contains(&format!("{policy}.cel")),
            "{policy} was not tested:\n{out}"
        );
    }
    for outcome in ["ALLOW", "DENY", "PENDING"] {
        assert!(
            out.contains(&format!("ok    {outcome}")),
            "no {outcome} case ran:\n{out}"
        );
    }
    assert!(out.contains(" passed, 0 failed"), "{out}");
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn a_broken_case_fails_and_is_named() {
    let dir = scratch("policy-broken-case");
    copy_dir(&shipped(), &dir);
    let broken = dir.join("min-key-size/cases/ALLOW/rsa-1024-broken.json");
    std::fs::write(
        &broken,
        r#"{"csr": {"key_algorithm": "rsa", "key_bits": 1024}}"#,
    )
    .unwrap();
    let output = policy_test(&dir);
    let out = text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&format!("{}: expected ALLOW, got DENY", broken.display())),
        "{out}"
    );
    assert!(out.contains("1 failed"), "{out}");
    // The other policies still ran.
    assert!(out.contains("ok    PENDING"), "{out}");
}

#[test]
fn a_misspelled_field_in_a_policy_fails_with_line_and_column() {
    let dir = scratch("policy-typo");
    std::fs::create_dir_all(dir.join("cases/ALLOW")).unwrap();
    std::fs::write(
        dir.join("typo.cel"),
        "// CN under the domain\nrequest.csr.key_bits >= 2048\n  && request.csr.subjet != \"\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("cases/ALLOW/any.json"), "{}").unwrap();
    let output = policy_test(&dir);
    let out = text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains("typo.cel:3:18: request.csr has no field \"subjet\" (fields: subject, sans,"),
        "{out}"
    );
}

#[test]
fn a_misspelled_field_in_a_case_is_refused() {
    let dir = scratch("policy-case-typo");
    std::fs::create_dir_all(dir.join("cases/DENY")).unwrap();
    std::fs::write(
        dir.join("p.cel"),
        "request.client_address != \"198.51.100.1\"",
    )
    .unwrap();
    let case = dir.join("cases/DENY/typo.json");
    std::fs::write(&case, r#"{"client_adress": "198.51.100.1"}"#).unwrap();
    let output = policy_test(&dir);
    let out = text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&case.display().to_string()) && out.contains("no field \"client_adress\""),
        "{out}"
    );
}

#[test]
fn a_case_the_policy_faults_on_fails_even_where_deny_was_expected() {
    let dir = scratch("policy-fault");
    std::fs::create_dir_all(dir.join("cases/DENY")).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"fault": "trap"}"#).unwrap();
    std::fs::write(dir.join("cases/DENY/any.json"), "{}").unwrap();
    let output = Command::new(sceptic_bin())
        .args(["policy", "test", "--plugin"])
        .arg(common::test_component("fault-policy"))
        .arg(&dir)
        .output()
        .unwrap();
    let out = text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(out.contains("FAIL  FAULT"), "{out}");
    assert!(out.contains("expected DENY, but fault_policy"), "{out}");
    assert!(out.contains("trapped"), "{out}");
}

#[test]
fn a_case_that_is_not_a_regular_file_is_refused_without_reading_it() {
    let dir = scratch("policy-device-case");
    copy_dir(&shipped().join("min-key-size"), &dir);
    let case = dir.join("cases/DENY/zero.json");
    std::os::unix::fs::symlink("/dev/zero", &case).unwrap();
    let output = policy_test(&dir);
    let out = text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&format!("{}: cannot read the case", case.display()))
            && out.contains("not a regular file"),
        "{out}"
    );
}
