//! `sceptic trust …`: a service's trusted certificates, the anchors
//! `trusted-cert-policy` checks signers against (`anchors=trusted`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use sceptic_server::manage;

use crate::cli::cli_error;
use crate::datadir::DataDir;
use crate::lifecycle::utc;

#[derive(Subcommand)]
pub enum TrustCommand {
    /// Trust the certificates in a file (PEM, one or more, or DER) for a service:
    /// a signer that equals or was issued by one of them is authorised by
    /// trusted-cert-policy (renewal, or new issuance with allow-new-issuance=true).
    Add {
        #[arg(long)]
        service: String,
        file: PathBuf,
    },
    /// List a service's trusted certificates.
    List {
        #[arg(long)]
        service: String,
    },
    /// Stop trusting a certificate, by the id `trust list` shows.
    Delete {
        #[arg(long)]
        service: String,
        id: i64,
    },
}

pub fn run(dir: &DataDir, command: TrustCommand) -> anyhow::Result<()> {
    let m = dir.manager();
    match command {
        TrustCommand::Add { service, file } => {
            let bytes = sceptic_plugins::read_regular_file(&file, MAX_TRUST_FILE_BYTES)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let added = manage::add_trusted(&m, &service, &bytes)
                .map_err(cli_error)
                .with_context(|| format!("{}", file.display()))?;
            for row in added {
                if row.not_after < sceptic_store::now() {
                    eprintln!(
                        "warning: {} expired on {}; signers it issued will be refused",
                        row.subject,
                        utc(row.not_after)
                    );
                }
                println!(
                    "trusted certificate {} added to service {service:?}: {} (SHA-256 {})",
                    row.id, row.subject, row.sha256
                );
            }
            Ok(())
        }
        TrustCommand::List { service } => {
            let (_, rows) = manage::list_trusted(&m, &service).map_err(cli_error)?;
            println!("id\tsubject\tissuer\tserial\tnot-after\tsha256");
            for t in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.subject,
                    t.issuer,
                    t.serial,
                    utc(t.not_after),
                    t.sha256
                );
            }
            Ok(())
        }
        TrustCommand::Delete { service, id } => {
            manage::delete_trusted(&m, &service, id).map_err(cli_error)?;
            println!("trusted certificate {id} deleted");
            Ok(())
        }
    }
}

/// Largest certificate file read: a bundle of a few dozen certificates fits; a
/// device file such as /dev/zero does not make the CLI read forever.
const MAX_TRUST_FILE_BYTES: u64 = 1 << 20;
