//! The helpers CEL lacks and PKI policies need: the CN of an RFC 4514 subject,
//! IP-in-CIDR, DNS-name-under-domain, and the UTC hour and weekday of a Unix
//! time. Each can be called as a function or as a method on its first argument:
//! `cn(request.csr.subject)` or `request.csr.subject.cn()`.

use std::net::IpAddr;
use std::sync::Arc;

use cel::extractors::This;
use cel::{Context, ExecutionError, FunctionContext, Value};

/// The helpers' names, for the load-time check of function names.
pub const NAMES: &[&str] = &["cn", "inCidr", "inDomain", "utcHour", "utcWeekday"];

const SECONDS_PER_DAY: i64 = 86_400;
const SECONDS_PER_HOUR: i64 = 3_600;

pub fn register(context: &mut Context) -> Result<(), cel::DeclarationError> {
    context.add_function("cn", cn)?;
    context.add_function("inCidr", in_cidr)?;
    context.add_function("inDomain", in_domain)?;
    context.add_function("utcHour", utc_hour)?;
    context.add_function("utcWeekday", utc_weekday)?;
    Ok(())
}

/// `cn(subject)`: the value of the first CN in an RFC 4514 subject (the most
/// specific RDN comes first in that form), unescaped; "" when there is none.
fn cn(This(subject): This<Arc<String>>) -> String {
    let mut rest = subject.as_str();
    while !rest.is_empty() {
        let Some((attribute, after)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = rdn_value(after);
        let attribute = attribute.trim();
        if attribute.eq_ignore_ascii_case("CN") || attribute == "2.5.4.3" {
            return value;
        }
        rest = next;
    }
    String::new()
}

/// Reads an RFC 4514 attribute value up to the unescaped `,` or `+` that ends
/// it: (the value unescaped, the text after that separator).
fn rdn_value(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, h))
                    if h.is_ascii_hexdigit()
                        && chars.peek().is_some_and(|(_, l)| l.is_ascii_hexdigit()) =>
                {
                    let l = chars.next().map_or('0', |(_, l)| l);
                    let hex = [h as u8, l as u8];
                    let byte = std::str::from_utf8(&hex)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    value.push(char::from(byte.unwrap_or(b'?')));
                }
                Some((_, escaped)) => value.push(escaped),
                None => {}
            },
            ',' | '+' => return (value, &text[at + 1..]),
            _ => value.push(c),
        }
    }
    (value, "")
}

/// `inCidr(address, cidrs)`: whether an IP address lies in one of the networks.
/// `cidrs` is a list of strings or one string of networks separated by spaces,
/// commas or semicolons (a plugin setting cannot hold a comma, so `;` or spaces
/// there). A network without a prefix length is one address. An IPv4 address
/// in IPv6 form (`::ffff:10.1.2.3`) matches IPv4 networks. An unreadable
/// address or network is an error, so the request is refused.
fn in_cidr(
    ftx: &FunctionContext,
    This(address): This<Arc<String>>,
    cidrs: Value,
) -> Result<bool, ExecutionError> {
    let ip: IpAddr = address
        .trim()
        .parse()
        .map_err(|_| ftx.error(format!("{address:?} is not an IP address")))?;
    let ip = ip.to_canonical();
    for network in networks(&cidrs).map_err(|e| ftx.error(e))? {
        let (net, prefix) = parse_cidr(&network).map_err(|e| ftx.error(e))?;
        if contains(net, prefix, ip) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The networks an `inCidr` argument names.
pub fn networks(cidrs: &Value) -> Result<Vec<String>, String> {
    let split = |s: &str| -> Vec<String> {
        s.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match cidrs {
        Value::String(s) => Ok(split(s)),
        Value::List(items) => {
            let mut out = Vec::new();
            for item in items.iter() {
                match item {
                    Value::String(s) => out.extend(split(s)),
                    other => return Err(format!("a network must be a string, not {other:?}")),
                }
            }
            Ok(out)
        }
        other => Err(format!(
            "networks must be a string or a list of strings, not {other:?}"
        )),
    }
}

/// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address.
pub fn parse_cidr(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not a network (e.g. 10.0.0.0/8 or 2001:db8::/32)"))?;
    let ip = ip.to_canonical();
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
    };
    Ok((ip, prefix))
}

fn contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// `inDomain(name, domain)`: whether a DNS name is the domain or under it, by
/// whole labels (`a.example.com` is under `example.com`, `badexample.com` is
/// not), ignoring case and a trailing dot. An empty domain is an error.
fn in_domain(
    ftx: &FunctionContext,
    This(name): This<Arc<String>>,
    domain: Arc<String>,
) -> Result<bool, ExecutionError> {
    let domain = trimmed(&domain).trim_start_matches('.');
    if domain.is_empty() {
        return Err(ftx.error("the domain is empty"));
    }
    let name = trimmed(&name);
    let Some(cut) = name.len().checked_sub(domain.len()) else {
        return Ok(false);
    };
    let (head, tail) = (&name.as_bytes()[..cut], &name.as_bytes()[cut..]);
    Ok(tail.eq_ignore_ascii_case(domain.as_bytes())
        && (head.is_empty() || (head.len() > 1 && head.ends_with(b"."))))
}

fn trimmed(name: &str) -> &str {
    name.trim().trim_end_matches('.')
}

/// `utcHour(t)`: the hour of day, 0 to 23, in UTC, of a Unix time in seconds.
fn utc_hour(This(t): This<i64>) -> i64 {
    t.rem_euclid(SECONDS_PER_DAY) / SECONDS_PER_HOUR
}

/// `utcWeekday(t)`: the ISO weekday in UTC, 1 (Monday) to 7 (Sunday).
fn utc_weekday(This(t): This<i64>) -> i64 {
    // 1970-01-01 was a Thursday, ISO weekday 4.
    (t.div_euclid(SECONDS_PER_DAY) + 3).rem_euclid(7) + 1
}
