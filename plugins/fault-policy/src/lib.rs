//! `fault-policy`: a deliberately broken policy for fault-injection tests. Its
//! `fault` setting picks the failure: `loop` (never returns), `trap` (panics),
//! `memory` (allocates without bound) or `none` (abstains). The host must turn each
//! into a deny within its limits and keep serving. Not embedded in the binary.

wit_bindgen::generate!({
    world: "policy-plugin",
    path: "../../wit/v0.1",
    generate_all,
});

use exports::sceptic::plugin::policy::Guest;
use sceptic::host::config;
use sceptic::types::types::{Decision, Request};

struct FaultPolicy;

impl Guest for FaultPolicy {
    fn init() -> Result<(), String> {
        match config::get("fault").as_deref() {
            Some("loop" | "trap" | "memory" | "none") => Ok(()),
            other => Err(format!(
                "fault must be loop, trap, memory or none, not {other:?}"
            )),
        }
    }

    fn evaluate(_request: Request) -> Decision {
        match config::get("fault").as_deref() {
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("trap") => panic!("fault-policy: trap on purpose"),
            Some("memory") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            _ => Decision::Abstain,
        }
    }
}

export!(FaultPolicy);
