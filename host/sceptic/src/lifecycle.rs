//! A service's life as the operator sees it: show it whole, enable or disable it,
//! delete it, and the system URL its address is made from.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use sceptic_store::{SecretKind, Service, ServiceEdit};

use crate::datadir::DataDir;

/// Where clients reach a service when neither it nor the server names a URL: the
/// address `sceptic serve` listens on by default.
const FALLBACK_SYSTEM_URL: &str = "http://127.0.0.1:8080";

/// A base URL is where clients reach the server, without `/scep/ALIAS`: scheme,
/// host, optional port and path prefix (a proxy may mount sceptic under a path).
pub fn validate_base_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default());
    let ok = matches!(host, Some(h) if !h.is_empty())
        && !trimmed.contains(['?', '#'])
        && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        bail!(
            "base URL {url:?} must be http:// or https:// with a host, e.g. https://pki.example.com \
             (no query, no fragment; /scep/ALIAS is added to it)"
        );
    }
    Ok(trimmed.to_owned())
}

/// The URL a service answers at, and where its base came from.
pub fn service_url(dir: &DataDir, service: &Service) -> anyhow::Result<(String, &'static str)> {
    let (base, source) = match &service.base_url {
        Some(url) => (url.clone(), "the service's base URL"),
        None => match dir.store.system_url()? {
            Some(url) => (url, "the system URL"),
            None => (
                FALLBACK_SYSTEM_URL.to_owned(),
                "default; set the system URL with `sceptic system-url URL`",
            ),
        },
    };
    Ok((format!("{base}/scep/{}", service.alias), source))
}

/// `sceptic service show NAME`: every setting, with where the URL comes from,
/// the RA certificates, and what the service holds.
pub fn show(dir: &DataDir, name: &str) -> anyhow::Result<()> {
    let s = dir.service(name)?;
    let (url, source) = service_url(dir, &s)?;
    let describe = crate::cli::describe_plugin;
    println!("name:               {}", s.name);
    println!("alias:              {}", s.alias);
    println!(
        "state:              {}",
        if s.enabled { "enabled" } else { "disabled" }
    );
    println!(
        "base URL:           {}",
        s.base_url.as_deref().unwrap_or("(system URL)")
    );
    println!("service URL:        {url}  ({source})");
    let ca = dir.store.ca(s.ca_id)?;
    println!("CA:                 {}", subject_of(&ca.certificate));
    for (i, ra) in dir.store.ra_keys(s.id)?.iter().enumerate() {
        println!(
            "RA certificate:     {}, valid until {}{}",
            subject_of(&ra.certificate),
            utc(ra.not_after),
            if i == 0 { " (current)" } else { "" }
        );
    }
    println!("client ciphers:     {}", s.client_ciphers.join(","));
    println!("client digests:     {}", s.algorithms.client_digests.join(","));
    println!("reply digest:       {}", s.algorithms.reply_digest);
    println!("reply cipher:       {}", s.algorithms.reply_cipher);
    println!("reply KEK cipher:   {} (replies encrypted to the challengePassword)", s.algorithms.kek_cipher);
    for (i, p) in s.policies.iter().enumerate() {
        println!("policy {}:           {}", i + 1, describe(p));
    }
    println!("issuer:             {}", describe(&s.issuer));
    println!(
        "allow unauthorised: {}",
        match &s.approval {
            Some(spec) => format!("true, routed by {}", describe(spec)),
            None => "false".into(),
        }
    );
    println!("max poll count:     {} (0 = no limit)", s.max_poll_count);
    println!("min poll interval:  {} s (0 = none)", s.min_poll_interval);
    println!("enforced:           {}", enforced(&s.enforcement));
    let secrets = dir.store.secrets(s.id)?;
    let count = |kind| secrets.iter().filter(|r| r.kind == kind).count();
    println!(
        "secrets:            global {}, single-use {} ({} unused), long-life {}",
        if count(SecretKind::Global) > 0 {
            "set (only it is accepted)"
        } else {
            "not set"
        },
        count(SecretKind::SingleUse),
        secrets
            .iter()
            .filter(|r| r.kind == SecretKind::SingleUse && r.uses == 0)
            .count(),
        count(SecretKind::LongLife)
    );
    let pending = dir
        .store
        .held_requests(Some(s.id), Some(sceptic_store::RequestStatus::Pending))?;
    println!("held requests:      {} pending", pending.len());
    println!(
        "certificates:       {} issued",
        dir.store.certificates(s.id)?.len()
    );
    Ok(())
}

/// The enforcement flags that are on, by their CLI names.
pub fn enforced(flags: &sceptic_store::Enforcement) -> String {
    let on: Vec<&str> = [
        ("post-only", flags.post_only),
        ("signer-digital-signature", flags.signer_digital_signature),
        ("respect-key-usage", flags.respect_key_usage),
        ("self-signed-matches-csr", flags.self_signed_matches_csr),
        ("strict-content-types", flags.strict_content_types),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    if on.is_empty() {
        "nothing beyond RFC 8894 (no enforcement flag is on)".into()
    } else {
        on.join(", ")
    }
}

/// A Unix time as RFC 3339 UTC, as operators read it in other PKI tools.
pub fn utc(unix: i64) -> String {
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix.max(0) as u64))
        .map(|t| t.to_string())
        .unwrap_or_else(|_| unix.to_string())
}

fn subject_of(der: &[u8]) -> String {
    sceptic_proto::describe_certificate(der)
        .map(|c| c.subject)
        .unwrap_or_else(|e| format!("(unreadable certificate: {e})"))
}

pub fn set_enabled(dir: &DataDir, name: &str, enabled: bool) -> anyhow::Result<()> {
    let edit = ServiceEdit {
        enabled: Some(enabled),
        ..Default::default()
    };
    let s = dir.store.edit_service(name, &edit)?;
    if enabled {
        println!("service {:?} enabled", s.name);
    } else {
        println!(
            "service {:?} disabled: every request gets a refusal that says so; nothing is issued \
             and no secret is used until `sceptic service enable {}`",
            s.name, s.name
        );
    }
    Ok(())
}

/// `sceptic service delete NAME [--yes]`. Asks for the name to be typed back on a
/// terminal; elsewhere it needs `--yes`, so a script never deletes by accident.
pub fn delete(dir: &DataDir, name: &str, yes: bool) -> anyhow::Result<()> {
    let s = dir.service(name)?;
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!(
                "deleting service {name:?} needs confirmation: run it on a terminal, or pass --yes"
            );
        }
        print!(
            "Delete service {name:?} (/scep/{})? Its secrets, RA keys and held requests go; \
             the certificates it issued stay revocable. Type the service name to confirm: ",
            s.alias
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if answer.trim() != name {
            bail!("not confirmed; service {name:?} is unchanged");
        }
    }
    let deleted = dir.store.delete_service(name, &crate::operate::actor())?;
    for file in &deleted.ra_key_files {
        let path = dir.path.join(file);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!(
                "warning: could not remove the RA key {}: {e}; remove it by hand",
                path.display()
            );
        }
    }
    println!(
        "service {:?} deleted: /scep/{} no longer answers; {} secrets and {} RA keys deleted, \
         {} held requests closed, {} issued certificates kept (see `sceptic cert list`)",
        deleted.name,
        deleted.alias,
        deleted.secrets_deleted,
        deleted.ra_key_files.len(),
        deleted.requests_closed,
        deleted.certificates_kept
    );
    Ok(())
}

/// `sceptic system-url [URL | --unset]`.
pub fn system_url(dir: &DataDir, url: Option<&str>, unset: bool) -> anyhow::Result<()> {
    if unset {
        dir.store.set_system_url(None)?;
        println!("system URL unset; services without a base URL show {FALLBACK_SYSTEM_URL}");
        return Ok(());
    }
    match url {
        Some(url) => {
            let url = validate_base_url(url).context("the system URL")?;
            dir.store.set_system_url(Some(&url))?;
            println!("system URL set to {url}");
        }
        None => match dir.store.system_url()? {
            Some(url) => println!("{url}"),
            None => println!("(not set; {FALLBACK_SYSTEM_URL} is assumed)"),
        },
    }
    Ok(())
}
