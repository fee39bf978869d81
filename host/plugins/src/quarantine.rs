//! Quarantine: a plugin that faults [`QUARANTINE_AFTER_FAULTS`] times in a row is
//! no longer called until its service is reloaded (an edit, or a restart). Its
//! calls fail at once with [`Fault::Quarantined`], which the chain turns into a
//! deny (an issuer's into a FAILURE) and the server audits; `/health` names it.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::Fault;
use crate::limits::QUARANTINE_AFTER_FAULTS;

/// Faults in a row of one loaded plugin. A success resets it.
#[derive(Debug, Default)]
pub struct FaultStreak(AtomicU32);

impl FaultStreak {
    /// Refuses the call when the plugin is quarantined.
    pub fn admit(&self) -> Result<(), Fault> {
        let faults = self.0.load(Ordering::Relaxed);
        if faults >= QUARANTINE_AFTER_FAULTS {
            Err(Fault::Quarantined(faults))
        } else {
            Ok(())
        }
    }

    /// Counts a call's outcome.
    pub fn record<T>(&self, outcome: &Result<T, Fault>) {
        match outcome {
            Ok(_) => self.0.store(0, Ordering::Relaxed),
            Err(_) => {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn quarantined(&self) -> bool {
        self.0.load(Ordering::Relaxed) >= QUARANTINE_AFTER_FAULTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_faults_in_a_row_quarantine_and_a_success_resets() {
        let streak = FaultStreak::default();
        let fault: Result<(), Fault> = Err(Fault::Trap("boom".into()));
        for _ in 0..QUARANTINE_AFTER_FAULTS - 1 {
            streak.admit().unwrap();
            streak.record(&fault);
        }
        streak.record(&Ok::<(), Fault>(()));
        for _ in 0..QUARANTINE_AFTER_FAULTS {
            streak.admit().unwrap();
            streak.record(&fault);
        }
        assert!(streak.quarantined());
        assert_eq!(
            streak.admit(),
            Err(Fault::Quarantined(QUARANTINE_AFTER_FAULTS))
        );
    }
}
