//! Which fields of `request` a policy reads, found once at load time, so each
//! call builds only those (`schema::request`): a policy about key sizes does not
//! pay for copying the signer. Every way to reach request data starts at the
//! identifier `request`, so every maximal `request.a.b` chain is a field it
//! reads; `request` used whole (as a function argument, say) needs everything.

use std::collections::BTreeSet;

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr};

/// The request fields a policy reads, as dotted paths ("csr.subject").
#[derive(Debug, Default)]
pub struct Needs {
    all: bool,
    /// Paths read; a path to a record means the whole record.
    read: BTreeSet<String>,
}

impl Needs {
    pub fn of(expression: &IdedExpr) -> Self {
        let mut needs = Needs::default();
        needs.walk(expression);
        needs
    }

    /// Whether the value at `path` must be built: it is read, lies inside
    /// something read, or holds something read.
    pub fn wants(&self, path: &str) -> bool {
        self.all
            || self
                .read
                .iter()
                .any(|read| within(path, read) || within(read, path))
    }

    fn walk(&mut self, e: &IdedExpr) {
        if let Some(path) = request_path(e) {
            if path.is_empty() {
                self.all = true;
            } else {
                self.read.insert(path.join("."));
            }
            return;
        }
        match &e.expr {
            Expr::Select(s) => self.walk(&s.operand),
            Expr::Call(c) => {
                c.target.iter().for_each(|t| self.walk(t));
                c.args.iter().for_each(|a| self.walk(a));
            }
            Expr::Comprehension(c) => {
                for x in [
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ] {
                    self.walk(x);
                }
            }
            Expr::List(l) => l.elements.iter().for_each(|x| self.walk(x)),
            Expr::Map(m) => self.entries(&m.entries),
            Expr::Struct(s) => self.entries(&s.entries),
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    fn entries(&mut self, entries: &[cel::common::ast::IdedEntryExpr]) {
        for entry in entries {
            match &entry.expr {
                EntryExpr::MapEntry(m) => {
                    self.walk(&m.key);
                    self.walk(&m.value);
                }
                EntryExpr::StructField(f) => self.walk(&f.value),
            }
        }
    }
}

/// `inner` is `outer` or lies inside it ("csr.subject" within "csr").
fn within(inner: &str, outer: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// The fields of a `request.a.b` chain (presence tests included), or None when
/// the expression is no such chain. A macro variable named `request` shadows the
/// request; its chains are then marked too, which only builds more.
fn request_path(e: &IdedExpr) -> Option<Vec<&str>> {
    match &e.expr {
        Expr::Ident(name) if name == "request" => Some(Vec::new()),
        Expr::Select(s) => {
            let mut path = request_path(&s.operand)?;
            path.push(&s.field);
            Some(path)
        }
        _ => None,
    }
}
