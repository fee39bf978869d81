//! Enrollment load: N PKCSReq enrollments against a running server, C at a time,
//! with the crate's own client. Reports wall time, latency percentiles and, given
//! the server's pid, the server's CPU time per enrollment (from /proc).
//!
//! ```text
//! sceptic secret add --service default --value LOADSECRET --global
//! cargo run --release --example enroll_load -- http://127.0.0.1:8080/scep/default LOADSECRET 200 1 [SERVER_PID]
//! ```
//! A global secret is used because single-use secrets would need one per request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sceptic_proto::client::{self, RequestOptions, Requester};
use sceptic_proto::{ContentCipher, DigestAlg, KeyTransport, MessageType, PkiStatus};

/// Requester keys made up front and reused: key generation is client work, not
/// what is being measured.
const REQUESTERS: usize = 8;

fn exchange(host: &str, method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(stream, "{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response");
    assert!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw[..split])
    );
    raw[split + 4..].to_vec()
}

fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: enroll_load URL SECRET COUNT CONCURRENCY [SERVER_PID]");
        std::process::exit(2);
    }
    let url = args[1].strip_prefix("http://").expect("an http:// URL");
    let (host, path) = url
        .split_once('/')
        .map(|(h, p)| (h.to_owned(), format!("/{p}")))
        .unwrap();
    let secret = args[2].clone();
    let count: usize = args[3].parse().expect("COUNT");
    let concurrency: usize = args[4].parse().expect("CONCURRENCY");
    let pid = args.get(5).cloned();

    let ca = exchange(&host, "GET", &format!("{path}?operation=GetCACert"), &[]);
    let ra = extract_last_certificate(&ca);
    let requesters: Arc<Vec<(Requester, Vec<u8>)>> = Arc::new(
        (0..REQUESTERS)
            .map(|i| {
                let r = Requester::generate(2048, &format!("load-{i}"));
                let csr = client::build_csr(&r.key, &format!("CN=load-{i}"), Some(&secret), &[]);
                (r, csr)
            })
            .collect(),
    );

    // Requests are built before the clock starts and replies are only verified
    // (signature, status) inside it: the client's own RSA work must not compete
    // with the server for the CPU being measured.
    let prepared: Arc<Vec<(usize, Vec<u8>)>> = Arc::new(
        (0..count)
            .map(|n| {
                let (requester, csr) = &requesters[n % REQUESTERS];
                let opts = RequestOptions {
                    message_type: MessageType::PkcsReq,
                    transaction_id: format!("load-{n}-{}", std::process::id()),
                    digest: DigestAlg::Sha256,
                    cipher: ContentCipher::Aes256,
                    key_transport: KeyTransport::Pkcs1v15,
                };
                (
                    n % REQUESTERS,
                    client::build_request(requester, &ra, csr, &opts).0,
                )
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let last_reply = Arc::new(Mutex::new(None));
    let cpu_before = pid.as_deref().and_then(cpu_ticks);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, latencies, prepared, last_reply) = (
                next.clone(),
                latencies.clone(),
                prepared.clone(),
                last_reply.clone(),
            );
            let (host, path) = (host.clone(), path.clone());
            std::thread::spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= count {
                        break;
                    }
                    let (who, request) = &prepared[n];
                    let t = Instant::now();
                    let reply = exchange(
                        &host,
                        "POST",
                        &format!("{path}?operation=PKIOperation"),
                        request,
                    );
                    latencies.lock().unwrap().push(t.elapsed());
                    let message =
                        sceptic_proto::decode_pki_message(&reply).expect("a signed CertRep");
                    assert_eq!(
                        message.pki_status,
                        Some(PkiStatus::Success),
                        "{:?}",
                        message.fail_info_text
                    );
                    *last_reply.lock().unwrap() = Some((*who, reply));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let wall = started.elapsed();
    let cpu_after = pid.as_deref().and_then(cpu_ticks);
    // Outside the clock: one reply decrypted in full, its certificate checked.
    if let Some((who, reply)) = last_reply.lock().unwrap().take() {
        let decrypted =
            client::read_cert_rep(&reply, &requesters[who].0).expect("a readable CertRep");
        assert_eq!(
            decrypted.issued_certificates.len(),
            1,
            "one issued certificate"
        );
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{count} enrollments, concurrency {concurrency}: {:.2} s, {:.1} enrollments/s; latency p50 {:.2} ms, p99 {:.2} ms",
        wall.as_secs_f64(),
        count as f64 / wall.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
        let ticks = after - before;
        let hz = 100.0; // USER_HZ on Linux
        println!(
            "server CPU: {:.2} s total, {:.2} ms per enrollment",
            ticks as f64 / hz,
            ticks as f64 / hz * 1e3 / count as f64
        );
    }
}

/// The last certificate of a certs-only SignedData (the RA's): found by walking
/// the DER for SEQUENCEs that parse as certificates.
fn extract_last_certificate(p7: &[u8]) -> Vec<u8> {
    use der::Decode;
    let mut last = None;
    let mut i = 0;
    while i + 4 < p7.len() {
        if p7[i] == 0x30 && p7[i + 1] == 0x82 {
            let len = usize::from(p7[i + 2]) << 8 | usize::from(p7[i + 3]);
            if let Some(candidate) = p7.get(i..i + 4 + len)
                && x509_cert::Certificate::from_der(candidate).is_ok()
            {
                last = Some(candidate.to_vec());
                i += 4 + len;
                continue;
            }
        }
        i += 1;
    }
    last.expect("a certificate in GetCACert")
}
