//! `sceptic trust …`: a service's trusted certificates, the anchors
//! `trusted-cert-policy` checks signers against (`anchors=trusted`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use sceptic_store::TrustedCertificate;
use sha2::{Digest, Sha256};

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

/// The DER certificates in a PEM bundle or a DER file.
pub fn read_certificates(bytes: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(vec![bytes.to_vec()]);
    };
    if !text.contains("-----BEGIN") {
        return Ok(vec![bytes.to_vec()]);
    }
    let mut certificates = Vec::new();
    for block in text.split_inclusive("-----END CERTIFICATE-----") {
        let Some(start) = block.find("-----BEGIN CERTIFICATE-----") else {
            continue;
        };
        let (_, der) = der::pem::decode_vec(block[start..].as_bytes())
            .map_err(|e| anyhow::anyhow!("a PEM certificate block is unreadable: {e}"))?;
        certificates.push(der);
    }
    if certificates.is_empty() {
        bail!("no -----BEGIN CERTIFICATE----- block in the file");
    }
    Ok(certificates)
}

/// Parses one certificate into the row the store keeps.
pub fn trusted_row(service_id: i64, der: Vec<u8>, by: &str) -> anyhow::Result<TrustedCertificate> {
    let info = sceptic_proto::describe_certificate(&der)
        .map_err(|r| anyhow::anyhow!("not an X.509 certificate: {}", r.reason))?;
    Ok(TrustedCertificate {
        id: 0,
        service_id,
        subject: info.subject,
        issuer: info.issuer,
        serial: info.serial_hex,
        not_before: info.not_before,
        not_after: info.not_after,
        sha256: hex::encode(Sha256::digest(&der)),
        der,
        added_at: 0,
        added_by: by.to_owned(),
    })
}

pub fn run(dir: &DataDir, command: TrustCommand) -> anyhow::Result<()> {
    match command {
        TrustCommand::Add { service, file } => {
            let s = dir.service(&service)?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let certificates =
                read_certificates(&bytes).with_context(|| format!("{}", file.display()))?;
            for der in certificates {
                let row = trusted_row(s.id, der, &crate::operate::actor())?;
                if row.not_after < sceptic_store::now() {
                    eprintln!(
                        "warning: {} expired on {}; signers it issued will be refused",
                        row.subject,
                        utc(row.not_after)
                    );
                }
                let id = dir.store.add_trusted_certificate(&row)?;
                println!(
                    "trusted certificate {id} added to service {:?}: {} (SHA-256 {})",
                    s.name, row.subject, row.sha256
                );
            }
            Ok(())
        }
        TrustCommand::List { service } => {
            let s = dir.service(&service)?;
            println!("id\tsubject\tissuer\tserial\tnot-after\tsha256");
            for t in dir.store.trusted_certificates(s.id)? {
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
            let s = dir.service(&service)?;
            if !dir
                .store
                .delete_trusted_certificate(s.id, id, &crate::operate::actor())?
            {
                bail!(
                    "service {:?} has no trusted certificate {id} (see `sceptic trust list --service {}`)",
                    s.name,
                    s.name
                );
            }
            println!("trusted certificate {id} deleted");
            Ok(())
        }
    }
}
