//! The load-time check that `cel` lacks (it has no type checker): walks the
//! parsed policy and reports, with the place in the source, every
//! - member access on `request` (or on a SAN a macro iterates) that the request
//!   schema does not have, and every field access on a string, int or bool;
//! - `config` key the operator did not set, and every setting the policy never
//!   reads (a typo on either side would otherwise be a silent false);
//! - unknown variable and unknown function;
//! - `inCidr` network or `inDomain` domain, written in the policy or taken from a
//!   setting, that could never match.
//!
//! Without it a typo is a runtime "no such key", i.e. a deny on every request.

use std::collections::{BTreeMap, BTreeSet};

use cel::IdedExpr;
use cel::Program;
use cel::common::ast::{EntryExpr, Expr, LiteralValue};

use crate::functions;
use crate::schema::{REQUEST, Ty};

/// One finding: a byte offset into the source and what is wrong there.
pub struct Finding {
    /// None for a finding about the settings rather than a place in the policy.
    pub offset: Option<usize>,
    pub message: String,
}

/// CEL's type names, which are identifiers too (`type(x) == int`).
const TYPE_NAMES: &[&str] = &[
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
];

pub fn check(
    program: &Program,
    source: &str,
    settings: &BTreeMap<String, String>,
    function_exists: &dyn Fn(&str) -> bool,
) -> Vec<Finding> {
    let mut checker = Checker {
        program,
        source,
        settings,
        function_exists,
        scopes: Vec::new(),
        read: BTreeSet::new(),
        optional: BTreeSet::new(),
        dynamic_config: false,
        findings: Vec::new(),
    };
    presence_tests(program.expression(), &mut checker.optional);
    checker.ty(program.expression());
    if !checker.dynamic_config {
        for key in settings.keys().filter(|k| !checker.read.contains(*k)) {
            checker.findings.push(Finding {
                offset: None,
                message: format!(
                    "the setting {key:?} is never read by the policy (it reads {}); \
                     remove it or use config.{key}",
                    listed(checker.read.iter())
                ),
            });
        }
    }
    checker.findings.sort_by_key(|f| f.offset);
    // The same finding at several places (a missing setting read three times)
    // is told once, at the first.
    let mut seen = BTreeSet::new();
    checker.findings.retain(|f| seen.insert(f.message.clone()));
    checker.findings
}

fn listed<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Collects KEY of every `has(config.KEY)` (a macro variable named `config`
/// would be caught too; it only makes the check more lenient).
fn presence_tests(e: &IdedExpr, keys: &mut BTreeSet<String>) {
    match &e.expr {
        Expr::Select(s) => {
            if s.test && matches!(&s.operand.expr, Expr::Ident(n) if n == "config") {
                keys.insert(s.field.clone());
            }
            presence_tests(&s.operand, keys);
        }
        Expr::Call(c) => {
            c.target.iter().for_each(|t| presence_tests(t, keys));
            c.args.iter().for_each(|a| presence_tests(a, keys));
        }
        Expr::Comprehension(c) => {
            for x in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                presence_tests(x, keys);
            }
        }
        Expr::List(l) => l.elements.iter().for_each(|x| presence_tests(x, keys)),
        Expr::Map(m) => entry_values(&m.entries).for_each(|x| presence_tests(x, keys)),
        Expr::Struct(s) => entry_values(&s.entries).for_each(|x| presence_tests(x, keys)),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// The key and value expressions of map or struct entries.
fn entry_values(entries: &[cel::common::ast::IdedEntryExpr]) -> impl Iterator<Item = &IdedExpr> {
    entries.iter().flat_map(|entry| match &entry.expr {
        EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
        EntryExpr::StructField(f) => vec![&f.value],
    })
}

struct Checker<'a> {
    program: &'a Program,
    source: &'a str,
    settings: &'a BTreeMap<String, String>,
    function_exists: &'a dyn Fn(&str) -> bool,
    /// Variables bound by macros (`s` in `sans.all(s, ...)`), innermost last.
    scopes: Vec<(String, Ty)>,
    /// Settings the policy reads by name.
    read: BTreeSet<String>,
    /// Settings the policy tests with `has(config.KEY)`: it may read them unset.
    optional: BTreeSet<String>,
    /// Whether it reads `config[expr]` with a computed key.
    dynamic_config: bool,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn offset(&self, e: &IdedExpr) -> usize {
        self.program
            .source_info()
            .offset_for(e.id)
            .map(|(start, _)| start as usize)
            .unwrap_or(0)
    }

    fn report(&mut self, offset: usize, message: String) {
        self.findings.push(Finding {
            offset: Some(offset),
            message,
        });
    }

    /// Where `name` is written after `from`, following a dot: the field of a
    /// selection (the parser records the dot, or `has(` for a presence test).
    fn field_offset(&self, from: usize, name: &str) -> usize {
        let bytes = self.source.as_bytes();
        let mut at = from;
        while let Some(found) = self.source.get(at..).and_then(|rest| rest.find(name)) {
            let start = at + found;
            let before = self.source[..start].trim_end();
            let whole = !bytes
                .get(start + name.len())
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
            if before.ends_with('.') && whole {
                return start;
            }
            at = start + name.len();
        }
        from
    }

    /// Where the function of a call is named: the parser records the `(`.
    fn call_offset(&self, paren: usize, name: &str) -> usize {
        let before = self.source.get(..paren).unwrap_or("").trim_end();
        match before.strip_suffix(name) {
            Some(head) => head.len(),
            None => paren,
        }
    }

    fn lookup(&self, name: &str) -> Option<Ty> {
        if let Some((_, ty)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
            return Some(*ty);
        }
        match name {
            "request" => Some(Ty::Record(&REQUEST)),
            "config" => Some(Ty::Config),
            _ if TYPE_NAMES.contains(&name) => Some(Ty::Unknown),
            _ => None,
        }
    }

    /// `a.b.c` as written, when the expression is a plain name.
    fn path(e: &IdedExpr) -> Option<String> {
        match &e.expr {
            Expr::Ident(name) => Some(name.clone()),
            Expr::Select(s) if !s.test => Some(format!("{}.{}", Self::path(&s.operand)?, s.field)),
            _ => None,
        }
    }

    /// The root identifier of a name that is no variable: `optional` in
    /// `optional.of(x)`, a function namespace.
    fn namespace(&self, e: &IdedExpr) -> Option<String> {
        let path = Self::path(e)?;
        let root = path.split('.').next()?;
        self.lookup(root).is_none().then_some(path)
    }

    fn ty(&mut self, e: &IdedExpr) -> Ty {
        match &e.expr {
            Expr::Ident(name) => match self.lookup(name) {
                // `config` as a whole (`size(config)`): any setting may be read.
                Some(Ty::Config) => {
                    self.dynamic_config = true;
                    Ty::Config
                }
                Some(ty) => ty,
                None => {
                    self.report(
                        self.offset(e),
                        format!("unknown variable {name:?} (variables: request, config)"),
                    );
                    Ty::Unknown
                }
            },
            Expr::Select(select) => {
                let base = if self.is_config(&select.operand) {
                    Ty::Config
                } else {
                    self.ty(&select.operand)
                };
                let at = self.field_offset(self.offset(e), &select.field);
                let field = &select.field;
                let ty = match base {
                    Ty::Record(record) => record.field(field).unwrap_or_else(|| {
                        self.report(
                            at,
                            format!(
                                "{} has no field {field:?} (fields: {})",
                                record.path,
                                record.field_names()
                            ),
                        );
                        Ty::Unknown
                    }),
                    Ty::Config => self.config_key(at, field, select.test),
                    Ty::Str | Ty::Int | Ty::Bool | Ty::List(_) => {
                        let what = Self::path(&select.operand).unwrap_or_else(|| "this".into());
                        self.report(
                            at,
                            format!(
                                "{what} is {}, which has no field {field:?}",
                                base.describe()
                            ),
                        );
                        Ty::Unknown
                    }
                    Ty::Unknown => Ty::Unknown,
                };
                if select.test { Ty::Bool } else { ty }
            }
            Expr::Call(call) => self.call(e, call),
            Expr::Comprehension(c) => {
                let range = self.ty(&c.iter_range);
                let element = match range {
                    Ty::List(element) => *element,
                    _ => Ty::Unknown,
                };
                self.ty(&c.accu_init);
                let depth = self.scopes.len();
                match &c.iter_var2 {
                    // Two-variable form: index (or key), then element (or value).
                    Some(second) => {
                        self.scopes.push((c.iter_var.clone(), Ty::Unknown));
                        self.scopes.push((second.clone(), element));
                    }
                    None => self.scopes.push((c.iter_var.clone(), element)),
                }
                self.scopes.push((c.accu_var.clone(), Ty::Unknown));
                self.ty(&c.loop_cond);
                self.ty(&c.loop_step);
                self.scopes.truncate(depth);
                self.scopes.push((c.accu_var.clone(), Ty::Unknown));
                self.ty(&c.result);
                self.scopes.truncate(depth);
                Ty::Unknown
            }
            Expr::List(list) => {
                for element in &list.elements {
                    self.ty(element);
                }
                Ty::Unknown
            }
            Expr::Map(map) => {
                self.entries(&map.entries);
                Ty::Unknown
            }
            Expr::Struct(s) => {
                self.entries(&s.entries);
                Ty::Unknown
            }
            Expr::Literal(LiteralValue::String(_)) => Ty::Str,
            Expr::Literal(LiteralValue::Int(_)) => Ty::Int,
            Expr::Literal(LiteralValue::Boolean(_)) => Ty::Bool,
            Expr::Literal(_) | Expr::Unspecified => Ty::Unknown,
        }
    }

    fn entries(&mut self, entries: &[cel::common::ast::IdedEntryExpr]) {
        for e in entry_values(entries) {
            self.ty(e);
        }
    }

    fn config_key(&mut self, at: usize, key: &str, presence_test: bool) -> Ty {
        self.read.insert(key.to_owned());
        if self.settings.contains_key(key) || presence_test || self.optional.contains(key) {
            return Ty::Str;
        }
        self.report(
            at,
            format!(
                "config has no key {key:?}: the policy is attached without that setting \
                 (settings: {}); add ,{key}=VALUE to its --policy",
                listed(self.settings.keys())
            ),
        );
        Ty::Unknown
    }

    fn call(&mut self, e: &IdedExpr, call: &cel::common::ast::CallExpr) -> Ty {
        let name = call.func_name.as_str();
        if name == "_[_]" && call.args.len() == 2 {
            let base = if self.is_config(&call.args[0]) {
                Ty::Config
            } else {
                self.ty(&call.args[0])
            };
            self.ty(&call.args[1]);
            return match (base, &call.args[1].expr) {
                (Ty::List(element), _) => *element,
                (Ty::Config, Expr::Literal(LiteralValue::String(key))) => {
                    let at = self.offset(&call.args[1]);
                    self.config_key(at, key, false)
                }
                (Ty::Config, _) => {
                    self.dynamic_config = true;
                    Ty::Str
                }
                _ => Ty::Unknown,
            };
        }
        let namespace = call.target.as_deref().and_then(|t| self.namespace(t));
        if namespace.is_none()
            && let Some(target) = &call.target
        {
            self.ty(target);
        }
        for arg in &call.args {
            self.ty(arg);
        }
        // Operators (`_==_`, `@in`, `!_`...) are the parser's own.
        let operator = name.starts_with(['_', '@', '!', '-']);
        let full = match &namespace {
            Some(ns) => format!("{ns}.{name}"),
            None => name.to_owned(),
        };
        if !operator && !functions::NAMES.contains(&full.as_str()) && !(self.function_exists)(&full)
        {
            let at = self.call_offset(self.offset(e), name);
            self.report(at, format!("unknown function {full:?}"));
        }
        let operands: Vec<&IdedExpr> = call
            .target
            .as_deref()
            .into_iter()
            .chain(&call.args)
            .collect();
        match (name, operands.as_slice()) {
            ("inCidr", [_, networks]) => self.constant_networks(networks),
            ("inDomain", [_, domain]) => {
                if let Some((at, text)) = self.constant_text(domain)
                    && text.trim().trim_matches('.').is_empty()
                {
                    self.report(at, "inDomain: the domain is empty".into());
                }
            }
            _ => {}
        }
        Ty::Unknown
    }

    /// A string written in the policy, or the value of a setting it names.
    fn constant_text(&self, e: &IdedExpr) -> Option<(usize, String)> {
        match &e.expr {
            Expr::Literal(LiteralValue::String(s)) => Some((self.offset(e), s.to_string())),
            Expr::Select(s) if !s.test && self.is_config(&s.operand) => {
                let at = self.field_offset(self.offset(e), &s.field);
                self.settings.get(&s.field).map(|v| (at, v.clone()))
            }
            _ => None,
        }
    }

    fn is_config(&self, e: &IdedExpr) -> bool {
        matches!(&e.expr, Expr::Ident(name) if matches!(self.lookup(name), Some(Ty::Config)))
    }

    fn constant_networks(&mut self, e: &IdedExpr) {
        let texts: Vec<(usize, String)> = match &e.expr {
            Expr::List(list) => list
                .elements
                .iter()
                .filter_map(|x| self.constant_text(x))
                .collect(),
            _ => self.constant_text(e).into_iter().collect(),
        };
        for (at, text) in texts {
            let value = cel::Value::String(text.into());
            let problem = functions::networks(&value).and_then(|nets| {
                if nets.is_empty() {
                    return Err("inCidr: no network given".to_owned());
                }
                nets.iter()
                    .try_for_each(|n| functions::parse_cidr(n).map(|_| ()))
            });
            if let Err(why) = problem {
                self.report(at, format!("inCidr: {why}"));
            }
        }
    }
}
