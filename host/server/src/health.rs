//! What the server says about its own state: `GET /health` on the SCEP port,
//! for anyone (load balancers, monitoring), and `GET /api/v1/health` on the
//! admin port, for an admin.
//!
//! Both name the services that are down or degraded and what is wrong in kind
//! (not loaded, quarantined, serving a previous configuration). Only the admin
//! answer carries the reasons: they quote plugin errors, file paths and what a
//! policy file failed to parse, none of which is for whoever can reach the SCEP
//! port.

use std::time::Instant;

use crate::runtime::ServiceTable;

/// Where the public answer sends an operator for the reasons.
pub(crate) const WHY_ELSEWHERE: &str =
    "GET /api/v1/health on the admin port, or the server log, says why";

/// The server's state at one moment.
pub struct Health {
    pub generation: i64,
    /// Services loaded and answering.
    pub services: usize,
    /// What makes the server unhealthy (503): services not loaded, plugins
    /// quarantined. One line each, sorted.
    pub problems: Vec<String>,
    /// What an operator should know while it stays healthy (200): services still
    /// serving their previous configuration because the new one did not load.
    pub notes: Vec<String>,
}

impl Health {
    /// The state of `table`; with `reasons`, each line says why.
    pub fn of(table: &ServiceTable, reasons: bool) -> Self {
        let why = |reason: &str| {
            if reasons {
                reason.to_owned()
            } else {
                WHY_ELSEWHERE.to_owned()
            }
        };
        let next_try = table
            .retry
            .map(|r| r.at.saturating_duration_since(Instant::now()).as_secs() + 1)
            .unwrap_or_default();
        let mut problems: Vec<String> = table
            .broken
            .iter()
            .map(|(alias, reason)| {
                format!(
                    "{alias}: not loaded (tried again within {next_try} s, and on any edit): {}",
                    why(reason)
                )
            })
            .collect();
        // Quarantined plugins (limits::QUARANTINE_AFTER_FAULTS faults in a row).
        for (alias, rt) in &table.by_alias {
            let policies = rt.chain.policies().iter().chain(rt.approval.iter());
            for policy in policies.filter(|p| p.quarantined()) {
                problems.push(format!(
                    "{alias}: plugin {} quarantined after repeated faults (see the audit log); \
                     edit the service to retry it",
                    policy.identity()
                ));
            }
            if rt.issuer.quarantined() {
                problems.push(format!(
                    "{alias}: issuer {} quarantined after repeated faults (see the audit log); \
                     edit the service to retry it",
                    rt.issuer.identity()
                ));
            }
        }
        problems.sort();
        let mut notes: Vec<String> = table
            .stale
            .iter()
            .map(|(alias, reason)| {
                format!(
                    "{alias}: serving its previous configuration; the new one did not load: {}",
                    why(reason)
                )
            })
            .collect();
        notes.sort();
        Health {
            generation: table.generation,
            services: table.by_alias.len(),
            problems,
            notes,
        }
    }

    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// 200 while every service serves and nothing is quarantined, else 503.
    pub fn status(&self) -> hyper::StatusCode {
        if self.ok() {
            hyper::StatusCode::OK
        } else {
            hyper::StatusCode::SERVICE_UNAVAILABLE
        }
    }

    /// The plain-text answer of `GET /health`.
    pub fn text(&self) -> String {
        let mut lines = if self.ok() {
            vec![format!(
                "ok: {} services, configuration generation {}",
                self.services, self.generation
            )]
        } else {
            self.problems.clone()
        };
        lines.extend(self.notes.iter().cloned());
        if !self.ok() {
            lines.push(format!("configuration generation {}", self.generation));
        }
        lines.join("\n")
    }

    /// The JSON answer of `GET /api/v1/health`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.ok(),
            "services": self.services,
            "configuration_generation": self.generation,
            "problems": self.problems,
            "notes": self.notes,
        })
    }
}
