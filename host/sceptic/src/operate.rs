//! Operator decisions from the command line: held requests and issued
//! certificates. The same operations back the REST API (`sceptic_server::decisions`),
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
