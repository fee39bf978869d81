//! `script-policy`: a policy written by the operator in CEL (the Common
//! Expression Language), evaluated against each request.
//!
//! ## Settings
//!
//! | key | meaning |
//! |---|---|
//! | `file` | absolute path of the `.cel` file. The **host** reads it when the service loads (plugins have no filesystem) and hands its text to this plugin as `source`; a changed file takes effect when the service is loaded again (`sceptic service edit`, or a restart) |
//! | `source` | the policy text itself, instead of `file` (for short expressions set through the API: a `--policy` spec cannot hold a comma) |
//! | anything else | a setting the policy reads as `config.KEY` (a string), e.g. `domain=example.com` |
//!
//! ## What a policy sees
//!
//! - `request`: the WIT request record, field names in snake_case:
//!   `service`, `message_type` (`"pkcs-req"`, `"renewal-req"`, ...), `transaction_id`,
//!   `csr` {`subject`, `sans` [{`kind` (`"dns"`, `"email"`, `"uri"`, `"ip"`, `"other"`),
//!   `value`}], `key_algorithm`, `key_bits`, `challenge_present`}, `signer` {`subject`,
//!   `issuer`, `serial`, `not_before`, `not_after`, `self_signed`, `key_usage`},
//!   `http_method`, `client_address`, `received_at` (Unix seconds).
//! - `config`: the settings above other than `file` and `source`.
//! - CEL's standard library with the `strings` and `lists` extensions, and the
//!   helpers of `functions.rs`: `cn(subject)`, `inCidr(address, networks)`,
//!   `inDomain(name, domain)`, `utcHour(t)`, `utcWeekday(t)` (1 = Monday). The
//!   `timestamp` and `duration` types are left out (cel's `chrono` feature: a
//!   third of the component): times are Unix seconds.
//!
//! ## What a policy answers
//!
//! | the expression evaluates to | decision |
//! |---|---|
//! | `true` or `"abstain"` | abstain: the policy has no objection; the service's other policies decide (a requirement met never authorises a request by itself) |
//! | `"allow"` | allow: the policy authorises the request |
//! | `false`, `"deny"` or `"deny:REASON"` | deny (badRequest), the reason prefixed with the policy's name (the file's stem) |
//! | `"pending"` or `"pending:QUEUE"` | hold for manual approval in QUEUE (default: the service's name) |
//! | anything else, or an error while evaluating | deny, saying why: fail closed |
//!
//! ## Load-time checks (`init`)
//!
//! The policy is parsed and checked once (`check.rs`): unknown fields of
//! `request`, unknown `config` keys, settings the policy never reads, unknown
//! variables and functions, and constant networks and domains that could never
//! match are errors with `FILE:LINE:COLUMN`. Then the policy runs once on a sample
//! request (`schema::sample`); a type error there, or a result that is not a
//! decision, refuses it too. That trial run also pays CEL's first-call set-up.
//!
//! ## State between calls
//!
//! The parsed policy is kept in this instance (`COMPILED`), made by `init`. The
//! host reuses warm instances of this built-in (host/plugins/src/warm.rs), so a
//! request costs an evaluation, not a parse. Nothing else is kept: each call gets
//! a fresh `request` scope, and CEL evaluation has no side effects, so nothing of
//! one request can reach the next.

wit_bindgen::generate!({
    world: "policy-plugin",
    path: "../../wit/v0.2",
    generate_all,
});

mod check;
mod functions;
mod needs;
mod schema;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use cel::{Context, Env, ExecutionError, Program, Value};
use exports::sceptic::plugin::policy::Guest;
use sceptic::host::{config, log};
use sceptic::types::types::{Decision, Denial, FailInfo, Request};

/// Settings this plugin reads itself; every other key is the policy's `config`.
const RESERVED: &[&str] = &["source", "file"];

/// The largest policy accepted. Real policies are a few lines; this bounds the
/// parse (done once per instance) and the text the host passes in.
const MAX_SOURCE_BYTES: usize = 64 << 10;

/// Findings listed in one refusal; the rest are counted. The first few are what
/// an operator fixes first, and the refusal stays readable.
const MAX_REPORTED_FINDINGS: usize = 10;

struct Compiled {
    program: Program,
    /// The request fields it reads: each call builds only those.
    needs: needs::Needs,
    /// Standard library, helpers and `config`; each call adds `request` in a child scope.
    context: Context<'static, 'static>,
    /// The file's stem, prefixed to deny reasons so the audit says which policy.
    name: String,
}

thread_local! {
    static COMPILED: RefCell<Option<Compiled>> = const { RefCell::new(None) };
}

struct ScriptPolicy;

impl Guest for ScriptPolicy {
    fn init() -> Result<(), String> {
        let compiled = compile()?;
        COMPILED.with_borrow_mut(|slot| *slot = Some(compiled));
        Ok(())
    }

    fn evaluate(request: Request) -> Decision {
        COMPILED.with_borrow(|compiled| match compiled {
            Some(compiled) => compiled.decide(&request),
            // The host runs `init` first in every instance; refusing is the safe answer.
            None => deny("script-policy: the policy was not loaded".into()),
        })
    }
}

fn compile() -> Result<Compiled, String> {
    let source = match (config::get("source"), config::get("file")) {
        (Some(source), _) => source,
        (None, Some(file)) => {
            return Err(format!(
                "the host did not read {file}: it reads `file` for builtin:script-policy only"
            ));
        }
        (None, None) => {
            return Err(
                "script-policy needs its policy: set file=/absolute/path/policy.cel \
                        (the host reads it) or source=EXPRESSION"
                    .into(),
            );
        }
    };
    if source.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "the policy is {} bytes; at most {} KiB",
            source.len(),
            MAX_SOURCE_BYTES >> 10
        ));
    }
    let file = config::get("file");
    let label = file.clone().unwrap_or_else(|| "source".into());
    let name = file
        .as_deref()
        .and_then(|f| std::path::Path::new(f).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "script-policy".into());
    let settings: BTreeMap<String, String> = config::keys()
        .into_iter()
        .filter(|k| !RESERVED.contains(&k.as_str()))
        .filter_map(|k| config::get(&k).map(|v| (k, v)))
        .collect();

    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .and_then(|()| env.add_extension(cel::extensions::lists))
        .map_err(|e| format!("cannot set up CEL: {e}"))?;
    let env = Arc::new(env);
    let program = env.compile(&source).map_err(|errors| {
        let lines: Vec<String> = errors
            .errors
            .iter()
            .map(|e| format!("{label}:{}:{}: {}", e.pos.0, e.pos.1, e.msg))
            .collect();
        lines.join("\n")
    })?;
    // `Context::add_function` refuses a name the environment already declares:
    // the one public way to ask cel whether a function exists.
    let exists = |name: &str| {
        Context::with_env(env.clone())
            .add_function(name, || true)
            .is_err()
    };
    let findings = check::check(&program, &source, &settings, &exists);
    if !findings.is_empty() {
        let mut lines: Vec<String> = findings
            .iter()
            .take(MAX_REPORTED_FINDINGS)
            .map(|f| match f.offset {
                Some(offset) => {
                    let (line, column) = position(&source, offset);
                    format!("{label}:{line}:{column}: {}", f.message)
                }
                None => format!("{label}: {}", f.message),
            })
            .collect();
        if findings.len() > MAX_REPORTED_FINDINGS {
            lines.push(format!(
                "... and {} more",
                findings.len() - MAX_REPORTED_FINDINGS
            ));
        }
        return Err(lines.join("\n"));
    }

    let mut context = Context::with_env(env);
    functions::register(&mut context).map_err(|e| format!("cannot register the helpers: {e}"))?;
    context.add_variable_from_value(
        "config",
        settings
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    );
    let compiled = Compiled {
        needs: needs::Needs::of(program.expression()),
        program,
        context,
        name,
    };
    compiled.trial(&label)?;
    log::log(
        log::Level::Debug,
        &format!("policy {} loaded from {label}", compiled.name),
    );
    Ok(compiled)
}

/// 1-based line and column (in characters) of a byte offset.
fn position(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

impl Compiled {
    fn run(&self, request: &Request) -> Result<Value, ExecutionError> {
        let mut scope = self.context.new_inner_scope();
        scope.add_variable_as_val("request", schema::request(request, &self.needs));
        self.program.execute(&scope)
    }

    /// The decision for one request; every deny reason names the policy.
    fn decide(&self, request: &Request) -> Decision {
        let decision = match self.run(request) {
            Ok(value) => decision(&value, &request.service).unwrap_or_else(deny),
            Err(e) => deny(format!("the policy failed on this request ({e}); refused")),
        };
        match decision {
            Decision::Deny(denial) => Decision::Deny(Denial {
                fail_info: denial.fail_info,
                reason: format!("{}: {}", self.name, denial.reason),
            }),
            other => other,
        }
    }

    /// Runs the policy on the sample request: a type error or a result that is
    /// no decision would refuse every request, so it refuses the policy now.
    fn trial(&self, label: &str) -> Result<(), String> {
        let sample = schema::sample();
        let structural = |e: &ExecutionError| {
            matches!(
                e,
                ExecutionError::NoSuchOverload(_)
                    | ExecutionError::UnexpectedType { .. }
                    | ExecutionError::UnsupportedBinaryOperator(..)
                    | ExecutionError::ValuesNotComparable(..)
                    | ExecutionError::UndeclaredReference(_)
            )
        };
        match self.run(&sample) {
            Err(e) if structural(&e) => Err(format!(
                "{label}: the policy fails on a sample request ({}): {e}",
                sample.csr.subject
            )),
            Err(_) => Ok(()),
            Ok(value) => decision(&value, &sample.service)
                .map(|_| ())
                .map_err(|why| format!("{label}: on a sample request, {why}")),
        }
    }
}

/// What a result means (the table in this file's header). Err says why it is no decision.
fn decision(value: &Value, service: &str) -> Result<Decision, String> {
    let text = match value {
        Value::Bool(true) => return Ok(Decision::Abstain),
        Value::Bool(false) => return Ok(deny("the request does not satisfy this policy".into())),
        Value::String(text) => text.as_str(),
        other => {
            return Err(format!(
                "the policy answered {}, which is not a decision {DECISIONS}",
                kind(other)
            ));
        }
    };
    let (word, detail) = match text.split_once(':') {
        Some((word, detail)) => (word, Some(detail.trim())),
        None => (text, None),
    };
    match (word.trim(), detail) {
        ("allow", None) => Ok(Decision::Allow),
        ("abstain", None) => Ok(Decision::Abstain),
        ("deny", None | Some("")) => Ok(deny("the request does not satisfy this policy".into())),
        ("deny", Some(reason)) => Ok(deny(reason.to_owned())),
        ("pending", None | Some("")) => Ok(Decision::Pending(service.to_owned())),
        ("pending", Some(queue)) => Ok(Decision::Pending(queue.to_owned())),
        _ => Err(format!(
            "the policy answered a string that is not a decision {DECISIONS}"
        )),
    }
}

/// The results that are decisions, for messages about one that is not.
const DECISIONS: &str = "(true, false, \"allow\", \"abstain\", \"deny:REASON\", \"pending:QUEUE\")";

/// What a result that is no decision is, by its type only. Its value is never
/// quoted: a `file=` can name a file that parses as CEL (a JSON file is a map
/// literal), and this message goes back to whoever edited the service.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => "a number",
        Value::Map(_) => "a map",
        Value::List(_) => "a list",
        Value::Bytes(_) => "bytes",
        Value::Null => "null",
        _ => "a value of another type",
    }
}

fn deny(reason: String) -> Decision {
    Decision::Deny(Denial {
        fail_info: FailInfo::BadRequest,
        reason,
    })
}

export!(ScriptPolicy);
