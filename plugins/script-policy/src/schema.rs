//! The `request` variable: its schema (what the load-time check walks) and its
//! value (the WIT `request` record as a CEL map, made once per call). Both follow
//! the WIT record field for field in snake_case, except the DER bytes, which a
//! policy has no use for and which would be copied on every call.
//!
//! The value is built straight in cel's runtime types (`CelMap`, `CelString`...)
//! with static keys: going through `cel::Value` would convert it all a second
//! time when it is bound, which was two thirds of a call's cost. Only the fields
//! the policy reads are built (`needs.rs`).

use std::collections::HashMap;

use cel::common::types::{CelBool, CelInt, CelList, CelMap, CelMapKey, CelString};
use cel::common::value::Val;

use crate::needs::Needs;

use crate::sceptic::types::types::{
    Certificate, Csr, MessageType, Request, SanKind, SubjectAltName,
};

/// What the load-time check knows about a value's shape.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Str,
    Int,
    Bool,
    List(&'static Ty),
    Record(&'static Record),
    /// The `config` map: the operator's settings, keys known at load time.
    Config,
    /// Anything the check does not follow (results of calls, literals of maps).
    Unknown,
}

impl Ty {
    pub fn describe(self) -> &'static str {
        match self {
            Ty::Str => "a string",
            Ty::Int => "an int",
            Ty::Bool => "a bool",
            Ty::List(_) => "a list",
            Ty::Record(_) | Ty::Config => "a map",
            Ty::Unknown => "a value",
        }
    }
}

/// A record of the request: its name in messages and its fields.
#[derive(Debug)]
pub struct Record {
    pub path: &'static str,
    pub fields: &'static [(&'static str, Ty)],
}

impl Record {
    pub fn field(&self, name: &str) -> Option<Ty> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }

    pub fn field_names(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }
}

pub static SAN: Record = Record {
    path: "a SAN (request.csr.sans[])",
    fields: &[("kind", Ty::Str), ("value", Ty::Str)],
};

pub static CSR: Record = Record {
    path: "request.csr",
    fields: &[
        ("subject", Ty::Str),
        ("sans", Ty::List(&Ty::Record(&SAN))),
        ("key_algorithm", Ty::Str),
        ("key_bits", Ty::Int),
        ("challenge_present", Ty::Bool),
    ],
};

pub static SIGNER: Record = Record {
    path: "request.signer",
    fields: &[
        ("subject", Ty::Str),
        ("issuer", Ty::Str),
        ("serial", Ty::Str),
        ("not_before", Ty::Int),
        ("not_after", Ty::Int),
        ("self_signed", Ty::Bool),
        ("key_usage", Ty::List(&Ty::Str)),
    ],
};

pub static REQUEST: Record = Record {
    path: "request",
    fields: &[
        ("service", Ty::Str),
        ("message_type", Ty::Str),
        ("transaction_id", Ty::Str),
        ("csr", Ty::Record(&CSR)),
        ("signer", Ty::Record(&SIGNER)),
        ("http_method", Ty::Str),
        ("client_address", Ty::Str),
        ("received_at", Ty::Int),
    ],
};

type Boxed = Box<dyn Val>;

fn text(s: &str) -> Boxed {
    Box::new(CelString::from(s.to_owned()))
}

fn int(i: i64) -> Boxed {
    Box::new(CelInt::from(i))
}

fn boolean(b: bool) -> Boxed {
    Box::new(CelBool::from(b))
}

fn list(items: Vec<Boxed>) -> Boxed {
    Box::new(CelList::from(items))
}

/// A record being built: only the fields the policy reads.
struct Fields<'n> {
    needs: &'n Needs,
    map: HashMap<CelMapKey<'static>, Boxed>,
}

impl<'n> Fields<'n> {
    fn new(needs: &'n Needs) -> Self {
        Self {
            needs,
            map: HashMap::new(),
        }
    }

    /// Adds the field at `path` ("csr.subject") if the policy reads it.
    fn add(&mut self, path: &'static str, make: impl FnOnce() -> Boxed) {
        if self.needs.wants(path) {
            let key = path.rsplit('.').next().unwrap_or(path);
            self.map.insert(CelMapKey::from(key), make());
        }
    }

    fn build(self) -> Boxed {
        Box::new(CelMap::from(self.map))
    }
}

/// The WIT case name, as a policy compares it: `request.message_type == "pkcs-req"`.
pub fn message_type(m: MessageType) -> &'static str {
    match m {
        MessageType::PkcsReq => "pkcs-req",
        MessageType::RenewalReq => "renewal-req",
        MessageType::CertPoll => "cert-poll",
        MessageType::GetCert => "get-cert",
        MessageType::GetCrl => "get-crl",
    }
}

pub fn san_kind(k: SanKind) -> &'static str {
    match k {
        SanKind::Dns => "dns",
        SanKind::Email => "email",
        SanKind::Uri => "uri",
        SanKind::Ip => "ip",
        SanKind::Other => "other",
    }
}

fn san(s: &SubjectAltName) -> Boxed {
    let map: HashMap<CelMapKey<'static>, Boxed> = [
        (CelMapKey::from("kind"), text(san_kind(s.kind))),
        (CelMapKey::from("value"), text(&s.value)),
    ]
    .into();
    Box::new(CelMap::from(map))
}

fn csr(c: &Csr, needs: &Needs) -> Boxed {
    let mut f = Fields::new(needs);
    f.add("csr.subject", || text(&c.subject));
    f.add("csr.sans", || list(c.sans.iter().map(san).collect()));
    f.add("csr.key_algorithm", || text(&c.key_algorithm));
    f.add("csr.key_bits", || int(i64::from(c.key_bits)));
    f.add("csr.challenge_present", || boolean(c.challenge_present));
    f.build()
}

fn certificate(c: &Certificate, needs: &Needs) -> Boxed {
    let mut f = Fields::new(needs);
    f.add("signer.subject", || text(&c.subject));
    f.add("signer.issuer", || text(&c.issuer));
    f.add("signer.serial", || text(&c.serial));
    f.add("signer.not_before", || int(c.not_before));
    f.add("signer.not_after", || int(c.not_after));
    f.add("signer.self_signed", || boolean(c.self_signed));
    f.add("signer.key_usage", || {
        list(c.key_usage.iter().map(|u| text(u)).collect())
    });
    f.build()
}

/// The `request` variable for one call, with the fields the policy reads.
pub fn request(r: &Request, needs: &Needs) -> Boxed {
    let mut f = Fields::new(needs);
    f.add("service", || text(&r.service));
    f.add("message_type", || text(message_type(r.message_type)));
    f.add("transaction_id", || text(&r.transaction_id));
    f.add("csr", || csr(&r.csr, needs));
    f.add("signer", || certificate(&r.signer, needs));
    f.add("http_method", || text(&r.http_method));
    f.add("client_address", || text(&r.client_address));
    f.add("received_at", || int(r.received_at));
    f.build()
}

/// An ordinary first enrollment, for the trial run at load time (see `lib.rs`):
/// every field set, one SAN of each common kind, on a Wednesday at noon UTC.
pub fn sample() -> Request {
    const WEDNESDAY_NOON: i64 = 1_768_392_000; // 2026-01-14T12:00:00Z
    const YEAR: i64 = 365 * 24 * 3600;
    let subject = "CN=device.example.com,O=Example".to_owned();
    Request {
        service: "sample".into(),
        message_type: MessageType::PkcsReq,
        transaction_id: "sample".into(),
        csr: Csr {
            der: Vec::new(),
            subject: subject.clone(),
            sans: vec![
                SubjectAltName {
                    kind: SanKind::Dns,
                    value: "device.example.com".into(),
                },
                SubjectAltName {
                    kind: SanKind::Ip,
                    value: "192.0.2.10".into(),
                },
            ],
            key_algorithm: "rsa".into(),
            key_bits: 2048,
            challenge_present: true,
        },
        signer: Certificate {
            der: Vec::new(),
            subject: subject.clone(),
            issuer: subject,
            serial: "01".into(),
            not_before: WEDNESDAY_NOON - 60,
            not_after: WEDNESDAY_NOON + YEAR,
            self_signed: true,
            key_usage: vec!["digitalSignature".into(), "keyEncipherment".into()],
        },
        http_method: "POST".into(),
        client_address: "192.0.2.1".into(),
        received_at: WEDNESDAY_NOON,
    }
}
