//! `sceptic policy test DIR`: runs the decision cases of operator-written CEL
//! policies (policies/README.md) through the real `script-policy` component under
//! the real engine, and fails naming every case whose decision differs.
//! `sceptic policy test --plugin SPEC DIR` runs a folder's cases through any
//! policy component instead (a `.wasm` path or `builtin:NAME`), so a plugin in
//! another language is tested the same way (plugins/examples).
//!
//! A policy folder holds one `.cel` file (none with `--plugin`), an optional
//! `config.json` (the settings it is attached with, as strings; host limit
//! settings such as `sceptic.fuel` too) and `cases/ALLOW|DENY|PENDING/*.json`,
//! each a request in the policy's own field names, missing fields defaulted.
//! Each case runs through a chain of that one policy, with no secret matching and
//! no certificate store (`NoCertificates`). ALLOW means the policy lets the
//! request through: it allows, or abstains (a requirement met: the service's
//! other policies authorise); DENY and PENDING are the policy's own answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use sceptic_plugins::types::{Certificate, Csr, MessageType, Request, SanKind, SubjectAltName};
use sceptic_plugins::{
    DEFAULT_DENY, MatchedSecret, NoCertificates, PluginEngine, Policy, PolicyChain, SecretBroker,
    Verdict,
};
use serde_json::{Map, Value};

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Run the decision cases of each policy folder under DIR (or of DIR itself
    /// when it holds a .cel file); exits non-zero on any mismatch. Each case
    /// prints its decision, the plugin that made it and the fuel it burnt.
    Test {
        /// Run DIR's cases through this policy component (a .wasm path or
        /// builtin:NAME) instead of its .cel file.
        #[arg(long, value_name = "SPEC")]
        plugin: Option<String>,
        dir: PathBuf,
    },
}

const OUTCOMES: &[&str] = &["ALLOW", "DENY", "PENDING"];
const PLUGIN: &str = "builtin:script-policy";
/// What a case's `received_at` defaults to: Wednesday 2026-01-14 12:00 UTC.
const DEFAULT_RECEIVED_AT: i64 = 1_768_392_000;
/// A default signer's validity around `received_at`: an hour back, a year ahead.
const SIGNER_BACKDATE: i64 = 3_600;
const SIGNER_LIFETIME: i64 = 365 * 86_400;

pub fn run(command: PolicyCommand) -> anyhow::Result<()> {
    let PolicyCommand::Test { plugin, dir } = command;
    let folders = match &plugin {
        Some(_) => vec![dir],
        None => policy_folders(&dir)?,
    };
    let engine = PluginEngine::new()?;
    let (mut total, mut failures) = (0, Vec::new());
    for folder in &folders {
        let (ran, failed) = test_folder(&engine, folder, plugin.as_deref())?;
        total += ran;
        failures.extend(failed);
    }
    println!(
        "{} cases, {} passed, {} failed",
        total,
        total - failures.len(),
        failures.len()
    );
    if !failures.is_empty() {
        bail!(
            "{} of {total} policy cases failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// DIR itself when it holds a `.cel` file, else each folder directly under it that does.
fn policy_folders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if cel_file(dir)?.is_some() {
        return Ok(vec![dir.to_owned()]);
    }
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() && cel_file(&path)?.is_some() {
            folders.push(path);
        }
    }
    folders.sort();
    if folders.is_empty() {
        bail!(
            "{} holds no policy: no .cel file in it or in a folder directly under it",
            dir.display()
        );
    }
    Ok(folders)
}

fn cel_file(folder: &Path) -> anyhow::Result<Option<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "cel"))
        .collect();
    if found.len() > 1 {
        found.sort();
        bail!(
            "{} holds more than one .cel file: {found:?}",
            folder.display()
        );
    }
    Ok(found.pop())
}

/// Runs one folder's cases, through `plugin` or else its `.cel` file: (cases
/// run, a line per failure).
fn test_folder(
    engine: &PluginEngine,
    folder: &Path,
    plugin: Option<&str>,
) -> anyhow::Result<(usize, Vec<String>)> {
    if !folder.is_dir() {
        bail!("{} is not a folder of policy cases", folder.display());
    }
    let mut settings = settings(folder)?;
    let (spec, shown) = match plugin {
        Some(spec) => (spec.to_owned(), spec.to_owned()),
        None => {
            let file = cel_file(folder)?.context("no .cel file")?;
            let absolute = std::fs::canonicalize(&file)?;
            settings.insert("file".into(), absolute.to_string_lossy().into_owned());
            (PLUGIN.to_owned(), file.display().to_string())
        }
    };
    println!("{} ({shown})", folder.display());
    let policy = match Policy::load(engine, &spec, settings, "policy-test") {
        Ok(policy) => policy,
        Err(e) => {
            println!("  FAIL  the policy does not load: {e}");
            return Ok((1, vec![format!("{shown}: the policy does not load: {e}")]));
        }
    };
    let chain = PolicyChain::new(vec![policy]);
    let cases = cases(folder)?;
    if cases.is_empty() {
        bail!(
            "{} has no cases under cases/ALLOW, cases/DENY or cases/PENDING",
            folder.display()
        );
    }
    let mut failures = Vec::new();
    for (expected, case) in &cases {
        let name = case.strip_prefix(folder).unwrap_or(case).display();
        let request = match read_case(case) {
            Ok(request) => request,
            Err(e) => {
                println!("  FAIL  {expected:<8} {name}: cannot read the case: {e:#}");
                failures.push(format!("{}: cannot read the case: {e:#}", case.display()));
                continue;
            }
        };
        let decision = chain.evaluate(
            request.service.as_str().into(),
            &request,
            Arc::new(NoSecrets),
            Arc::new(NoCertificates),
        );
        let by = decision.decided_by;
        let fuel = decision.fuel_used;
        let (got, how) = match decision.verdict {
            Verdict::Allow => ("ALLOW", format!("allowed by {by}")),
            Verdict::Pending(queue) => ("PENDING", format!("held in queue {queue:?} by {by}")),
            // The policy abstained, the chain of it alone denies by default.
            Verdict::Deny { .. } if by == DEFAULT_DENY => (
                "ALLOW",
                "abstained: no objection, the service's other policies decide".into(),
            ),
            Verdict::Deny { reason, .. } => ("DENY", format!("denied by {by}: {reason}")),
        };
        // A fault denies (fail closed), but a case that only "passes" because
        // the policy trapped or ran out of fuel tests nothing: it is a failure.
        if let Some((plugin, fault)) = decision.faults.first() {
            println!("  FAIL  FAULT    {name}: expected {expected}, but {plugin} {fault}");
            failures.push(format!(
                "{}: expected {expected}, but {plugin} {fault}",
                case.display()
            ));
        } else if got == *expected {
            println!("  ok    {got:<8} {name}: {how} (fuel {fuel})");
        } else {
            println!(
                "  FAIL  {got:<8} {name}: expected {expected}, got {got}: {how} (fuel {fuel})"
            );
            failures.push(format!(
                "{}: expected {expected}, got {got} ({how})",
                case.display()
            ));
        }
    }
    Ok((cases.len(), failures))
}

/// `config.json`: the settings the policy is attached with (values as strings).
fn settings(folder: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let path = folder.join("config.json");
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = read_text(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: Map<String, Value> = serde_json::from_str(&text)
        .with_context(|| format!("{} must be a JSON object of settings", path.display()))?;
    json.into_iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key, s)),
            Value::Number(n) => Ok((key, n.to_string())),
            Value::Bool(b) => Ok((key, b.to_string())),
            other => bail!(
                "{}: setting {key:?} must be a string, not {other}",
                path.display()
            ),
        })
        .collect()
}

/// (expected outcome, case file), in a stable order.
fn cases(folder: &Path) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    let root = folder.join("cases");
    if root.is_dir() {
        for entry in std::fs::read_dir(&root)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !OUTCOMES.contains(&name.as_str()) {
                bail!(
                    "{}: unknown outcome folder {name:?} (use {})",
                    root.display(),
                    OUTCOMES.join(", ")
                );
            }
        }
    }
    let mut out = Vec::new();
    for outcome in OUTCOMES {
        let Ok(entries) = std::fs::read_dir(root.join(outcome)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|f| (*outcome, f)));
    }
    Ok(out)
}

/// The largest case or `config.json` read: a request is a few hundred bytes, and
/// a case file that is a link to a device must not make the command read forever.
const MAX_CASE_BYTES: u64 = 1 << 20;

fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = sceptic_plugins::read_regular_file(path, MAX_CASE_BYTES)?;
    String::from_utf8(bytes).context("it is not UTF-8 text")
}

/// No secret matches: the cases test the policy, not the secrets.
struct NoSecrets;

impl SecretBroker for NoSecrets {
    fn global_mode(&self) -> bool {
        false
    }
    fn match_challenge(&self) -> Option<MatchedSecret> {
        None
    }
}

/// A case file as a request, every missing field defaulted.
fn read_case(path: &Path) -> anyhow::Result<Request> {
    let text = read_text(path)?;
    let json: Value = serde_json::from_str(&text).context("not JSON")?;
    let top = object(
        &json,
        "the case",
        &[
            "description",
            "service",
            "message_type",
            "transaction_id",
            "csr",
            "signer",
            "http_method",
            "client_address",
            "received_at",
        ],
    )?;
    let received_at = time(top.get("received_at"), "received_at")?.unwrap_or(DEFAULT_RECEIVED_AT);
    let csr_json = top.get("csr").cloned().unwrap_or(Value::Object(Map::new()));
    let csr = object(
        &csr_json,
        "csr",
        &[
            "subject",
            "sans",
            "key_algorithm",
            "key_bits",
            "challenge_present",
        ],
    )?;
    let subject = text_or(csr.get("subject"), "csr.subject", "CN=device.example.com")?;
    let mut sans = Vec::new();
    for (i, san) in csr
        .get("sans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let what = format!("csr.sans[{i}]");
        let san = object(san, &what, &["kind", "value"])?;
        sans.push(SubjectAltName {
            kind: san_kind(&text_or(san.get("kind"), &what, "dns")?)?,
            value: text_or(san.get("value"), &what, "")?,
        });
    }
    let signer_json = top
        .get("signer")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let signer = object(
        &signer_json,
        "signer",
        &[
            "subject",
            "issuer",
            "serial",
            "not_before",
            "not_after",
            "self_signed",
            "key_usage",
        ],
    )?;
    let signer_subject = text_or(signer.get("subject"), "signer.subject", &subject)?;
    let key_usage = match signer.get("key_usage") {
        None => vec!["digitalSignature".into(), "keyEncipherment".into()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .context("signer.key_usage holds strings")
            })
            .collect::<anyhow::Result<_>>()?,
        Some(other) => bail!("signer.key_usage must be a list of strings, not {other}"),
    };
    Ok(Request {
        service: text_or(top.get("service"), "service", "default")?,
        message_type: message_type(&text_or(
            top.get("message_type"),
            "message_type",
            "pkcs-req",
        )?)?,
        transaction_id: text_or(
            top.get("transaction_id"),
            "transaction_id",
            &path.file_stem().unwrap_or_default().to_string_lossy(),
        )?,
        csr: Csr {
            der: Vec::new(),
            subject,
            sans,
            key_algorithm: text_or(csr.get("key_algorithm"), "csr.key_algorithm", "rsa")?,
            key_bits: match csr.get("key_bits") {
                None => 2048,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .context("csr.key_bits must be a number")?,
            },
            challenge_present: flag(csr.get("challenge_present"), "csr.challenge_present", true)?,
        },
        signer: Certificate {
            der: Vec::new(),
            issuer: text_or(signer.get("issuer"), "signer.issuer", &signer_subject)?,
            subject: signer_subject,
            serial: text_or(signer.get("serial"), "signer.serial", "01")?,
            not_before: time(signer.get("not_before"), "signer.not_before")?
                .unwrap_or(received_at - SIGNER_BACKDATE),
            not_after: time(signer.get("not_after"), "signer.not_after")?
                .unwrap_or(received_at + SIGNER_LIFETIME),
            self_signed: flag(signer.get("self_signed"), "signer.self_signed", true)?,
            key_usage,
        },
        http_method: text_or(top.get("http_method"), "http_method", "POST")?,
        client_address: text_or(top.get("client_address"), "client_address", "192.0.2.1")?,
        received_at,
    })
}

/// The object's fields, refusing any not in `known`: a misspelled field in a
/// case would otherwise be a default, and the case would test something else.
fn object<'a>(
    json: &'a Value,
    what: &str,
    known: &[&str],
) -> anyhow::Result<&'a Map<String, Value>> {
    let map = json
        .as_object()
        .with_context(|| format!("{what} must be a JSON object"))?;
    if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
        bail!("{what} has no field {key:?} (fields: {})", known.join(", "));
    }
    Ok(map)
}

fn text_or(value: Option<&Value>, what: &str, default: &str) -> anyhow::Result<String> {
    match value {
        None => Ok(default.to_owned()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => bail!("{what} must be a string, not {other}"),
    }
}

fn flag(value: Option<&Value>, what: &str, default: bool) -> anyhow::Result<bool> {
    match value {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => bail!("{what} must be true or false, not {other}"),
    }
}

/// Unix seconds, or RFC 3339 UTC text such as "2026-01-14T09:30:00Z".
fn time(value: Option<&Value>, what: &str) -> anyhow::Result<Option<i64>> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .with_context(|| format!("{what} must be whole seconds")),
        Some(Value::String(s)) => parse_utc(s)
            .map(Some)
            .with_context(|| format!("{what} {s:?} must be Unix seconds or YYYY-MM-DDTHH:MM:SSZ")),
        Some(other) => bail!("{what} must be a time, not {other}"),
    }
}

fn parse_utc(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    if !shape {
        return None;
    }
    let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3_600 + mm * 60 + ss)
}

fn message_type(text: &str) -> anyhow::Result<MessageType> {
    Ok(match text {
        "pkcs-req" => MessageType::PkcsReq,
        "renewal-req" => MessageType::RenewalReq,
        "cert-poll" => MessageType::CertPoll,
        "get-cert" => MessageType::GetCert,
        "get-crl" => MessageType::GetCrl,
        other => bail!(
            "message_type {other:?} is none of pkcs-req, renewal-req, cert-poll, get-cert, get-crl"
        ),
    })
}

fn san_kind(text: &str) -> anyhow::Result<SanKind> {
    Ok(match text {
        "dns" => SanKind::Dns,
        "email" => SanKind::Email,
        "uri" => SanKind::Uri,
        "ip" => SanKind::Ip,
        "other" => SanKind::Other,
        other => bail!("SAN kind {other:?} is none of dns, email, uri, ip, other"),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_utc;

    #[test]
    fn utc_text_to_unix_seconds() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_utc("2026-01-14T12:00:00Z"),
            Some(super::DEFAULT_RECEIVED_AT)
        );
        assert_eq!(parse_utc("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        assert_eq!(parse_utc("2026-01-14 12:00:00"), None);
        assert_eq!(parse_utc("2026-13-01T00:00:00Z"), None);
    }
}
