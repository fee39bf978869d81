//! Test harness: a real `sceptic` server process on a random 127.0.0.1 port with a
//! temporary data directory, a minimal HTTP client, and helpers for the CLI.
#![allow(dead_code)]

pub mod plugin_calls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to load its services and start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for one HTTP exchange with the server under test.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

pub fn sceptic_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sceptic")
}

/// A fresh, empty scratch directory under the system temp dir.
pub fn scratch(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sceptic-it-{}-{label}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A test component built by host/plugins/build.rs beside the built-ins under
/// <target>/wasm-plugins (e.g. "fault-policy", "deferred-issuer").
pub fn test_component(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/<test binary>
    let target = exe.ancestors().nth(3).unwrap();
    let path = target.join(format!(
        "wasm-plugins/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    assert!(
        path.exists(),
        "test component missing at {}",
        path.display()
    );
    path
}

pub fn fault_component() -> PathBuf {
    test_component("fault-policy")
}

pub struct Server {
    pub root: PathBuf,
    pub data_dir: PathBuf,
    pub port: u16,
    /// The admin REST API's port.
    pub admin_port: u16,
    /// The admin API token `init` printed.
    pub admin_token: String,
    /// The single-use secret `init` printed.
    pub secret: String,
    pub log: PathBuf,
    child: Child,
}

impl Server {
    /// `sceptic init` in a scratch directory, then `sceptic serve` on a free port.
    pub fn start(label: &str) -> Server {
        let root = scratch(label);
        let data_dir = root.join("data");
        let init = Command::new(sceptic_bin())
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("init")
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let stdout = String::from_utf8(init.stdout).unwrap();
        let secret = stdout.lines().last().unwrap().trim().to_owned();
        let admin_token = stdout
            .lines()
            .find_map(|l| l.strip_prefix("admin API token (shown only now): "))
            .expect("init prints an admin token")
            .trim()
            .to_owned();
        let log = root.join("server.log");
        let (child, port, admin_port) = launch(&data_dir, &log);
        Server {
            root,
            data_dir,
            port,
            admin_port,
            admin_token,
            secret,
            log,
            child,
        }
    }

    /// Stops the server and starts it again on the same data directory.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, port, admin_port) = launch(&self.data_dir, &self.log);
        self.child = child;
        self.port = port;
        self.admin_port = admin_port;
    }

    pub fn url(&self, alias: &str) -> String {
        format!("http://127.0.0.1:{}/scep/{alias}", self.port)
    }

    /// Runs a `sceptic` CLI command against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(sceptic_bin())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// Like [`Server::cli`], asserting success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "sceptic {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A fresh single-use secret for a service.
    pub fn new_secret(&self, service: &str) -> String {
        self.cli_ok(&["secret", "generate", "--service", service])
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Makes a configuration change and waits until the server has loaded it.
    pub fn reconfigure(&self, args: &[&str]) {
        let before = self.generation();
        self.cli_ok(args);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.generation() == before {
            assert!(
                Instant::now() < deadline,
                "server did not reload after {args:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn generation(&self) -> String {
        let (_, _, body) = http(self.port, "GET", "/health", &[], &[]);
        let body = String::from_utf8_lossy(&body).into_owned();
        body.split("generation ")
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Sends SIGHUP to the server (reload every service) and waits until its log
    /// says the reload finished, or failed.
    pub fn hang_up(&self) {
        let before = self.log_text().matches("SIGHUP").count();
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.log_text().matches("SIGHUP").count() == before {
            assert!(
                Instant::now() < deadline,
                "no SIGHUP reload: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /api/v1/health` as the admin: (status, every problem and note
    /// line with its reason, joined by newlines).
    pub fn health_report(&self) -> (u16, String) {
        let auth = format!("Bearer {}", self.admin_token);
        let (status, _, body) = http(
            self.admin_port,
            "GET",
            "/api/v1/health",
            &[("Authorization", &auth)],
            &[],
        );
        let report: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let lines: Vec<String> = ["problems", "notes"]
            .iter()
            .flat_map(|k| report[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        (status, lines.join("\n"))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The certificates of the service's GetCACert answer, in order, as DER (CA
    /// first, the RA last), after checking its status and content type.
    pub fn ca_certs(&self, alias: &str) -> Vec<Vec<u8>> {
        let (status, headers, body) = http(
            self.port,
            "GET",
            &format!("/scep/{alias}?operation=GetCACert&message=x"),
            &[],
            &[],
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/x-x509-ca-ra-cert")
        );
        let file = scratch("cacert").join("ca.p7");
        std::fs::write(&file, &body).unwrap();
        let pems = openssl(&[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            file.to_str().unwrap(),
            "-print_certs",
        ]);
        pems.split("-----END CERTIFICATE-----")
            .filter(|chunk| chunk.contains("-----BEGIN CERTIFICATE-----"))
            .map(|chunk| {
                let pem = format!(
                    "{}-----END CERTIFICATE-----\n",
                    &chunk[chunk.find("-----BEGIN").unwrap()..]
                );
                der::pem::decode_vec(pem.as_bytes()).unwrap().1
            })
            .collect()
    }

    /// The service's current RA certificate (the last one GetCACert returns).
    pub fn ra_cert(&self, alias: &str) -> Vec<u8> {
        self.ca_certs(alias)
            .pop()
            .expect("GetCACert returned no certificate")
    }

    /// The CA certificate file `init` wrote.
    pub fn ca_pem(&self) -> PathBuf {
        self.data_dir.join("ca.pem")
    }

    /// Rows of a read-only SQL query on the server's database, via the sqlite CLI-free
    /// path: the audit trail as `sceptic` stored it.
    pub fn audit_events(&self) -> String {
        // The store is plain SQLite; read it with python's sqlite3 (always present here).
        let out = Command::new("python3")
            .arg("-c")
            .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=10); [print('|'.join(map(str,r))) for r in c.execute('select service,event,plugin,detail from audit order by id')]")
            .arg(self.data_dir.join("sceptic.db"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The single number a SQL query on the server's database returns. SQLite
    /// may answer "database is locked" to a second process while the server
    /// writes: python waits up to 10 s, and the query is tried three times.
    pub fn count(&self, sql: &str) -> i64 {
        let mut last_error = String::new();
        for _ in 0..3 {
            let out = Command::new("python3")
                .arg("-c")
                .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=10); print(c.execute(sys.argv[2]).fetchone()[0])")
                .arg(self.data_dir.join("sceptic.db"))
                .arg(sql)
                .output()
                .unwrap();
            if let Ok(n) = String::from_utf8_lossy(&out.stdout).trim().parse() {
                return n;
            }
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{sql} gave no number: {last_error}");
    }
}

/// `sceptic serve` on free ports; waits until it listens. Appends to `log`.
fn launch(data_dir: &Path, log: &Path) -> (Child, u16, u16) {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(sceptic_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let port_of = |addr: &str| addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    let mut admin_port = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("admin API listening on ") {
                    admin_port = port_of(addr);
                }
                if let Some(addr) = line.strip_prefix("listening on ") {
                    return (child, port_of(addr), admin_port);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not start; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange (Connection: close). Returns status, headers, body.
pub fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body)
}

/// Sends raw bytes and returns the response's status line.
pub fn raw_status(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `openssl verify -CAfile ca cert` must say OK.
pub fn openssl_verify(ca: &Path, cert: &Path) {
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca)
        .arg(cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Output of an openssl command that must succeed.
pub fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails loudly when a client the tests need is not installed: CI must not skip.
pub fn require_tool(name: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is not installed; run .ci/run (or: apt-get install -y scep certmonger dbus)"
    );
}

/// How long a run of a real SCEP client may take before the test gives up on it.
pub const CLIENT_TIMEOUT: &str = "180";

/// A private certmonger daemon on a private D-Bus, all state under `dir`
/// (CLIENTS.md). Runs `script` inside it and returns the daemon's output.
pub fn certmonger(dir: &Path, script: &str) -> String {
    require_tool("certmonger");
    require_tool("dbus-run-session");
    for sub in ["home", "cas", "requests", "local", "config", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("inner.sh"), script).unwrap();
    let d = dir.to_str().unwrap();
    let out = Command::new("timeout")
        .arg(CLIENT_TIMEOUT)
        .arg("dbus-run-session")
        .arg("--")
        .args(["certmonger", "-s", "-n", "-d", "1", "-c"])
        .arg(format!("bash {d}/inner.sh"))
        .env("HOME", format!("{d}/home"))
        .env("CERTMONGER_CAS_DIR", format!("{d}/cas"))
        .env("CERTMONGER_REQUESTS_DIR", format!("{d}/requests"))
        .env("CERTMONGER_LOCAL_CA_DIR", format!("{d}/local"))
        .env("CERTMONGER_CONFIG_DIR", format!("{d}/config"))
        .env("CERTMONGER_TMPDIR", format!("{d}/tmp"))
        .env("CERTMONGER_SYSTEM_LOCK_FILE", format!("{d}/lock"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// certmonger asks `alias` for `CN=cn,O=Example` with `challenge` (GET, the
/// strongest cipher and digest advertised). Returns its directory (key.pem,
/// cert.pem) and the daemon's output, which ends with `getcert list`.
pub fn certmonger_request(
    server: &Server,
    alias: &str,
    challenge: &str,
    cn: &str,
) -> (PathBuf, String) {
    let dir = scratch("certmonger");
    let d = dir.to_str().unwrap();
    // No -N: the RA certificate in GetCACert is found by its key usage.
    let script = format!(
        "getcert add-scep-ca -s -c sceptic -u {url}\n\
         getcert request -s -c sceptic -k {d}/key.pem -f {d}/cert.pem -N 'CN={cn},O=Example' -L {challenge} -w -v\n\
         getcert list -s\n",
        url = server.url(alias)
    );
    let output = certmonger(&dir, &script);
    (dir, output)
}

pub struct ScepClientRun {
    pub dir: PathBuf,
    pub output: String,
}

/// One `scepclient` enrollment in a fresh directory (it reuses csr.pem otherwise).
pub fn scepclient(server: &Server, alias: &str, challenge: &str, cn: &str) -> ScepClientRun {
    let dir = scratch("scepclient");
    let output = scepclient_in(&dir, server, alias, challenge, cn);
    ScepClientRun { dir, output }
}

/// `scepclient` in `dir`: where key.pem and cert.pem exist (and csr.pem does
/// not), it renews with a RenewalReq signed by cert.pem. An empty `challenge`
/// sends none. Returns its output.
pub fn scepclient_in(
    dir: &Path,
    server: &Server,
    alias: &str,
    challenge: &str,
    cn: &str,
) -> String {
    require_tool("scepclient");
    let mut command = Command::new("timeout");
    command
        .arg(CLIENT_TIMEOUT)
        .arg("scepclient")
        .args(["-server-url", &server.url(alias)]);
    if !challenge.is_empty() {
        command.args(["-challenge", challenge]);
    }
    let out = command
        .args([
            "-private-key",
            "key.pem",
            "-certificate",
            "cert.pem",
            "-cn",
            cn,
            "-organization",
            "Example",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The certificate verifies against the server's CA, has the CSR's public key
/// (the client's key.pem) and a subject containing `subject_part` (RFC 2253).
pub fn assert_issued_for(server: &Server, cert: &Path, key: &Path, subject_part: &str) {
    openssl_verify(&server.ca_pem(), cert);
    let cert_key = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"]);
    let own_key = openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]);
    assert_eq!(
        cert_key, own_key,
        "the certificate must carry the requester's public key"
    );
    let subject = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert!(
        subject.contains(subject_part),
        "subject {subject:?} lacks {subject_part:?}"
    );
}

/// Builds an example plugin (plugins/examples/EXAMPLE, with its `build.sh OUT`)
/// into <target>/example-plugins, and again only when one of `sources` (in the
/// example's folder) or a WIT file is newer than `wasm`. `tools` says what
/// scripts/setup installs for it, for the failure message.
pub fn build_example(example: &str, sources: &[&str], wasm: &str, tools: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("plugins/examples").join(example);
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/<test binary>
    let out = exe.ancestors().nth(3).unwrap().join("example-plugins");
    let wasm = out.join(wasm);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let newest = sources
        .iter()
        .map(|s| dir.join(s))
        .chain(files_under(&root.join("wit/v0.2")))
        .filter_map(|p| modified(&p))
        .max();
    if modified(&wasm).is_none_or(|built| newest.is_some_and(|n| built < n)) {
        let run = Command::new("bash")
            .arg(dir.join("build.sh"))
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "building plugins/examples/{example} failed (run scripts/setup for {tools}):\n{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    wasm
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// One PKCSReq from `requester` for `CN=cn` with `challenge`, encrypted with
/// `cipher` to `alias`'s RA and POSTed as `application/x-pki-message` under a fresh
/// transactionID. Returns the reply after checking HTTP 200 and that it answers
/// this request (transactionID, recipientNonce).
pub fn pkcs_req(
    server: &Server,
    alias: &str,
    requester: &sceptic_proto::client::Requester,
    cn: &str,
    challenge: &str,
    cipher: sceptic_proto::ContentCipher,
) -> sceptic_proto::client::Reply {
    static SEQUENCE: AtomicUsize = AtomicUsize::new(0);
    let transaction_id = format!(
        "{alias}-{cn}-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::SeqCst)
    );
    pkcs_req_as(
        server,
        alias,
        requester,
        cn,
        challenge,
        cipher,
        &transaction_id,
    )
}

/// [`pkcs_req`] under a transactionID the caller chooses (to find it later).
pub fn pkcs_req_as(
    server: &Server,
    alias: &str,
    requester: &sceptic_proto::client::Requester,
    cn: &str,
    challenge: &str,
    cipher: sceptic_proto::ContentCipher,
    transaction_id: &str,
) -> sceptic_proto::client::Reply {
    use sceptic_proto::client::{self, RequestOptions};
    let csr = client::build_csr(&requester.key, &format!("CN={cn}"), Some(challenge), &[]);
    let options = RequestOptions {
        message_type: sceptic_proto::MessageType::PkcsReq,
        transaction_id: transaction_id.to_owned(),
        digest: sceptic_proto::DigestAlg::Sha256,
        cipher,
        key_transport: sceptic_proto::KeyTransport::Pkcs1v15,
    };
    let (body, nonce) = client::build_request(requester, &server.ra_cert(alias), &csr, &options);
    let (status, _, answer) = http(
        server.port,
        "POST",
        &format!("/scep/{alias}?operation=PKIOperation"),
        &[("Content-Type", "application/x-pki-message")],
        &body,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let reply = client::read_cert_rep(&answer, requester).unwrap();
    assert_eq!(reply.message.transaction_id, options.transaction_id);
    assert_eq!(reply.message.recipient_nonce.as_deref(), Some(&nonce[..]));
    reply
}

/// `sceptic policy test --plugin PLUGIN FOLDER`: the folder's decision cases
/// through a built component. Asserts it passed; returns what it printed.
pub fn policy_test_plugin(plugin: &Path, folder: &Path) -> String {
    let run = Command::new(sceptic_bin())
        .args(["policy", "test", "--plugin"])
        .arg(plugin)
        .arg(folder)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// A folder of the repository (`plugins/examples/min-key-c`).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}
