//! The host's part of `script-policy`: reading the policy file it names.
//!
//! Plugins have no filesystem, so `builtin:script-policy,file=/path/policy.cel`
//! is resolved here, when the policy loads: the host reads the file and passes
//! its text to the plugin as the `source` setting, keeping `file` so the plugin
//! can name it in its messages. The file is read at load time only (a service
//! edit or a server start); a changed file is not picked up by itself, so an
//! edit in progress never reaches a running server half-written.

use std::collections::BTreeMap;
use std::path::Path;

use crate::builtin::BUILTIN_PREFIX;

/// The built-in whose `file` setting the host reads.
pub const SCRIPT_POLICY: &str = "script-policy";

/// The largest policy file read. Policies are a few lines; this bounds what the
/// host reads and hands to the plugin (which enforces the same limit on `source`).
pub const MAX_SCRIPT_BYTES: u64 = 64 << 10;

/// Replaces `file=PATH` by the file's text as `source` (keeping `file`) for
/// `builtin:script-policy`; any other plugin's settings pass through untouched.
pub(crate) fn resolve(
    spec: &str,
    mut config: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    if spec.strip_prefix(BUILTIN_PREFIX) != Some(SCRIPT_POLICY) {
        return Ok(config);
    }
    let Some(file) = config.get("file") else {
        return Ok(config);
    };
    if config.contains_key("source") {
        return Err("set file or source, not both".into());
    }
    let path = Path::new(file);
    if !path.is_absolute() {
        return Err(format!(
            "file {file:?} must be an absolute path: the server reads it when it loads \
             the service, from its own working directory"
        ));
    }
    // Only a `.cel` file: this setting comes from whoever may edit the service,
    // the server reads it with its own rights, and a parse error quotes what it
    // could not parse. Policy files are named so; secrets and keys are not.
    // The name checked is the file's own, after links: a `.cel` link to a
    // secret is the secret.
    let is_cel = |p: &Path| p.extension().and_then(|e| e.to_str()) == Some("cel");
    if !is_cel(path) {
        return Err(format!(
            "file {file:?} must name a CEL policy file ending in .cel"
        ));
    }
    let real = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot read the policy file {file}: {e}"))?;
    if !is_cel(&real) {
        return Err(format!(
            "file {file:?} is a link to a file not ending in .cel; name the policy file itself"
        ));
    }
    let text =
        read_bounded(&real).map_err(|e| format!("cannot read the policy file {file}: {e}"))?;
    config.insert("source".into(), text);
    Ok(config)
}

/// `path` is resolved and checked: a link swapped in since is refused.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    let bytes = crate::files::read_resolved(path, MAX_SCRIPT_BYTES)?;
    String::from_utf8(bytes).map_err(|_| std::io::Error::other("it is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn other_plugins_keep_their_settings() {
        let settings = config(&[("file", "relative.txt")]);
        assert_eq!(
            resolve("builtin:secret-policy", settings.clone()),
            Ok(settings.clone())
        );
        assert_eq!(
            resolve("/x/script-policy.wasm", settings.clone()),
            Ok(settings)
        );
    }

    #[test]
    fn the_file_becomes_the_source() {
        let dir = std::env::temp_dir().join(format!("sceptic-script-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.cel");
        std::fs::write(&file, "true").unwrap();
        let path = file.to_str().unwrap();
        let resolved = resolve("builtin:script-policy", config(&[("file", path)])).unwrap();
        assert_eq!(resolved, config(&[("file", path), ("source", "true")]));

        let both = resolve(
            "builtin:script-policy",
            config(&[("file", path), ("source", "x")]),
        );
        assert!(both.unwrap_err().contains("not both"));
        let relative = resolve("builtin:script-policy", config(&[("file", "p.cel")]));
        assert!(relative.unwrap_err().contains("absolute"));
        let not_cel = resolve("builtin:script-policy", config(&[("file", "/etc/passwd")]));
        assert!(not_cel.unwrap_err().contains("ending in .cel"));
        let secret = dir.join("secret.txt");
        std::fs::write(&secret, "hunter2").unwrap();
        let link = dir.join("link.cel");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let linked = resolve(
            "builtin:script-policy",
            config(&[("file", link.to_str().unwrap())]),
        );
        let linked = linked.unwrap_err();
        assert!(linked.contains("not ending in .cel") && !linked.contains("hunter2"));
        let fifo = dir.join("pipe.cel");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let blocked = resolve(
            "builtin:script-policy",
            config(&[("file", fifo.to_str().unwrap())]),
        );
        assert!(blocked.unwrap_err().contains("not a regular file"));
        std::fs::write(&file, vec![b' '; MAX_SCRIPT_BYTES as usize + 1]).unwrap();
        let big = resolve("builtin:script-policy", config(&[("file", path)]));
        assert!(big.unwrap_err().contains("64 KiB"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
