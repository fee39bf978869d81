//! A service's life as the operator sees it: show it whole, enable or disable it,
//! delete it, and the system URL its address is made from. The work is
//! `sceptic_server::manage`'s, shared with the admin REST API; this prints it.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use sceptic_server::manage::{self, FALLBACK_SYSTEM_URL};
use serde_json::Value;

use crate::cli::cli_error;
use crate::datadir::DataDir;

/// A base URL is where clients reach the server, without `/scep/ALIAS`.
pub fn validate_base_url(url: &str) -> anyhow::Result<String> {
    manage::validate_base_url(url).map_err(anyhow::Error::msg)
}

/// A JSON value as a line of text: strings bare, lists comma-separated.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// `sceptic service show NAME`: every setting, with where the URL comes from,
/// its team and user, the RA certificates, and what the service holds. It prints
/// the service's JSON (`GET /api/v1/services/{name}`), so both show the same.
pub fn show(dir: &DataDir, name: &str) -> anyhow::Result<()> {
    let m = dir.manager();
    let s = manage::service(&m, name).map_err(cli_error)?;
    let v = manage::service_json(&dir.store, &s).map_err(cli_error)?;
    let t = |key: &str| text(&v[key]);
    println!("name:               {}", t("name"));
    println!("alias:              {}", t("alias"));
    println!(
        "state:              {}",
        if v["enabled"] == true {
            "enabled"
        } else {
            "disabled"
        }
    );
    println!(
        "base URL:           {}",
        v["base_url"].as_str().unwrap_or("(system URL)")
    );
    println!("service URL:        {}  ({})", t("url"), t("url_source"));
    match (v["team_id"].as_i64(), v["user_id"].as_i64()) {
        (Some(team), user) => {
            println!("team:               {team} ({})", t("team"));
            match user {
                Some(user) => println!("user:               {user} ({})", t("user")),
                None => println!("user:               none"),
            }
        }
        _ => println!(
            "team:               none (made before teams; only full admin tokens manage it)"
        ),
    }
    println!("CA:                 {}", t("ca"));
    for ra in v["ra_certificates"].as_array().into_iter().flatten() {
        println!(
            "RA certificate:     {}, valid until {} ({})",
            text(&ra["subject"]),
            utc(ra["not_after"].as_i64().unwrap_or(0)),
            match ra["status"].as_str() {
                Some("successor") => "successor, offered by GetNextCACert",
                Some(status) => status,
                None => "-",
            }
        );
    }
    let percent = v["ra_renew_at_percent"].as_i64().unwrap_or(0);
    println!(
        "RA settings:        {}-bit key, subject {}, successor at {percent} % of life left{}, issued by the {} CA, issuer check {}",
        t("ra_key_bits"),
        t("ra_subject"),
        if percent == 0 { " (never)" } else { "" },
        t("ra_issuer"),
        if v["skip_issuer_check"] == true {
            "SKIPPED"
        } else {
            "on"
        }
    );
    println!("client ciphers:     {}", t("client_ciphers"));
    println!("client digests:     {}", t("client_digests"));
    println!("reply digest:       {}", t("reply_digest"));
    println!("reply cipher:       {}", t("reply_cipher"));
    println!(
        "reply KEK cipher:   {} (replies encrypted to the challengePassword)",
        t("kek_cipher")
    );
    for (i, p) in v["policies"].as_array().into_iter().flatten().enumerate() {
        println!("policy {}:           {}", i + 1, text(p));
    }
    println!("issuer:             {}", t("issuer"));
    println!(
        "allow unauthorised: {}",
        match v["approval"].as_str() {
            Some(spec) => format!("true, routed by {spec}"),
            None => "false".into(),
        }
    );
    println!("max poll count:     {} (0 = no limit)", t("max_poll_count"));
    println!(
        "min poll interval:  {} s (0 = none)",
        t("min_poll_interval")
    );
    println!("enforced:           {}", enforced(&v));
    let secrets = &v["secrets"];
    println!(
        "secrets:            global {}, single-use {} ({} unused), long-life {}",
        if secrets["global"] == true {
            "set (only it is accepted)"
        } else {
            "not set"
        },
        text(&secrets["single_use"]),
        text(&secrets["single_use_unused"]),
        text(&secrets["long_life"])
    );
    println!("held requests:      {} pending", t("held_requests_pending"));
    println!("certificates:       {} issued", t("certificates_issued"));
    Ok(())
}

/// The enforcement flags that are on, by their CLI names.
fn enforced(service: &Value) -> String {
    let on: Vec<&str> = [
        "post-only",
        "signer-digital-signature",
        "respect-key-usage",
        "self-signed-matches-csr",
        "strict-content-types",
    ]
    .into_iter()
    .filter(|flag| service[flag.replace('-', "_")] == true)
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

pub fn set_enabled(dir: &DataDir, name: &str, enabled: bool) -> anyhow::Result<()> {
    let s = manage::set_enabled(&dir.manager(), name, enabled).map_err(cli_error)?;
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
    let m = dir.manager();
    let s = manage::service(&m, name).map_err(cli_error)?;
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
    let manage::Deleted { deleted, warnings } =
        manage::delete_service(&m, name).map_err(cli_error)?;
    for warning in warnings {
        eprintln!("warning: {warning}");
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

/// `sceptic service plugins NAME`: each plugin of the service, as loaded (the
/// component is read and compiled, not run), with what identifies it exactly.
pub fn plugins(dir: &DataDir, name: &str) -> anyhow::Result<()> {
    let s = dir.store.service(name)?;
    let engine = sceptic_plugins::PluginEngine::new()?;
    let describe = sceptic_server::manage::describe_plugin;
    let mut rows: Vec<(String, &sceptic_store::PluginSpec, bool)> = s
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("policy {}", i + 1), p, false))
        .collect();
    if let Some(approval) = &s.approval {
        rows.push(("approval".into(), approval, false));
    }
    rows.push(("issuer".into(), &s.issuer, true));
    println!("role\tplugin\tversion\twit\tsha256\tlimits\tsettings");
    for (role, spec, issuer) in rows {
        // The limits its calls run under: the defaults, or the `sceptic.` settings.
        let limits = sceptic_plugins::PluginLimits::take_from(&mut spec.config.clone(), issuer)
            .map_or_else(|e| format!("INVALID: {e}"), |l| l.describe());
        match engine.identify(&spec.plugin, issuer) {
            Ok(id) => println!(
                "{role}\t{}\t{}\t{}\t{}\t{limits}\t{}",
                id.name,
                id.version,
                id.wit,
                id.sha256,
                describe(spec)
            ),
            Err(e) => println!(
                "{role}\tNOT LOADABLE: {e}\t-\t-\t-\t{limits}\t{}",
                describe(spec)
            ),
        }
    }
    Ok(())
}
