//! Operator decisions from the command line: held requests and issued
//! certificates; and the audit log that records them. The same operations back the REST API (`sceptic_server::decisions`),
//! so both surfaces behave alike and audit alike.

use clap::Subcommand;
use serde_json::Value;

use crate::datadir::DataDir;

#[derive(Subcommand)]
pub enum RequestCommand {
    /// List held requests (subject, SANs, key, signer, source, arrival, polls).
    List {
        #[arg(long)]
        service: Option<String>,
        /// pending (default), issuing, issued, rejected, failed or all.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// Everything about one held request, as JSON.
    Show { id: i64 },
    /// Issue the request through its service's issuer; the client gets the
    /// certificate on its next poll.
    Approve { id: i64 },
    /// Refuse the request; the client gets FAILURE with the reason on its next poll.
    Reject {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// List issued certificates.
    List {
        #[arg(long)]
        service: Option<String>,
    },
    /// One certificate, with its PEM, as JSON.
    Show { serial: String },
    /// Revoke a certificate; the next CRL lists it.
    Revoke {
        serial: String,
        /// RFC 5280 reason: unspecified (default), keyCompromise, cACompromise,
        /// affiliationChanged, superseded, cessationOfOperation, certificateHold,
        /// removeFromCRL, privilegeWithdrawn, aACompromise.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}

/// Who the audit log says decided.
pub fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn app(dir: &DataDir) -> anyhow::Result<std::sync::Arc<sceptic_server::App>> {
    sceptic_server::App::new(dir.store.clone(), dir.digester.clone(), dir.path.clone())
}

fn text(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

pub fn request(dir: &DataDir, command: RequestCommand) -> anyhow::Result<()> {
    let app = app(dir)?;
    use sceptic_server::decisions;
    match command {
        RequestCommand::List { service, status } => {
            let rows = decisions::list_requests(&app, service.as_deref(), Some(&status))?;
            println!("id\tservice\tstatus\tsubject\tsans\tkey\tsigner\tfrom\treceived\tpolls");
            for r in rows.as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    text(r, "id"),
                    text(r, "service"),
                    text(r, "status"),
                    text(r, "subject"),
                    text(r, "sans"),
                    text(r, "key"),
                    text(r, "signer"),
                    text(r, "client_address"),
                    text(r, "received_at"),
                    text(r, "poll_count")
                );
            }
        }
        RequestCommand::Show { id } => print_json(&decisions::show_request(&app, id)?),
        RequestCommand::Approve { id } => {
            let r = decisions::approve(&app, id, &actor())?;
            println!("request {id} approved: {}", text(&r, "status"));
        }
        RequestCommand::Reject { id, reason } => {
            decisions::reject(&app, id, &actor(), &reason)?;
            println!("request {id} rejected");
        }
    }
    Ok(())
}

pub fn cert(dir: &DataDir, command: CertCommand) -> anyhow::Result<()> {
    let app = app(dir)?;
    use sceptic_server::decisions;
    match command {
        CertCommand::List { service } => {
            println!("serial\tservice\tsubject\tnot-after\trevoked");
            for c in decisions::list_certificates(&app, service.as_deref())?
                .as_array()
                .into_iter()
                .flatten()
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    text(c, "serial"),
                    text(c, "service"),
                    text(c, "subject"),
                    text(c, "not_after"),
                    text(c, "revoked")
                );
            }
        }
        CertCommand::Show { serial } => print_json(&decisions::show_certificate(&app, &serial)?),
        CertCommand::Revoke { serial, reason } => {
            let c = decisions::revoke(&app, &serial, &reason, &actor())?;
            println!("certificate {} revoked ({reason})", text(&c, "serial"));
        }
    }
    Ok(())
}

/// Most audit events `sceptic audit` shows at once: a screenful is what an
/// operator reads; the database keeps them all.
pub const MAX_AUDIT_EVENTS: u32 = 10_000;

/// `sceptic audit`: the newest events, oldest of them first, one a line: time,
/// service, transactionID, event, plugin, detail (tab-separated).
pub fn audit(
    dir: &DataDir,
    limit: u32,
    service: Option<&str>,
    event: Option<&str>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_AUDIT_EVENTS).contains(&limit),
        "--limit must be from 1 to {MAX_AUDIT_EVENTS}"
    );
    // Filtered after reading, so a filter looks at the newest events a bounded
    // read returns; that bound keeps a large log from being read whole.
    let scan = if service.is_some() || event.is_some() {
        MAX_AUDIT_EVENTS
    } else {
        limit
    };
    let mut events: Vec<_> = dir
        .store
        .audit_tail(scan)?
        .into_iter()
        .filter(|(_, e)| service.is_none_or(|s| e.service.as_deref() == Some(s)))
        .filter(|(_, e)| event.is_none_or(|k| e.event == k))
        .take(limit as usize)
        .collect();
    events.reverse();
    // Written, not printed: a full disk or a closed reader is an error to
    // report, not a panic.
    use std::io::Write;
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        writeln!(out, "at\tservice\ttransaction\tevent\tplugin\tdetail")?;
        // One event a line and one field a column, whatever a plugin or a
        // client put in the text: tabs and newlines become spaces.
        let clean = |v: String| v.replace(|c: char| c.is_control(), " ");
        let dash = |v: Option<String>| clean(v.unwrap_or_else(|| "-".into()));
        for (at, e) in events {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                crate::lifecycle::utc(at),
                dash(e.service),
                dash(e.transaction_id),
                clean(e.event),
                dash(e.plugin),
                clean(e.detail)
            )?;
        }
        out.flush()
    };
    write().map_err(|e| anyhow::anyhow!("cannot write the audit events to standard output: {e}"))
}
