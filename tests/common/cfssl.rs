//! Test support for tests/cfssl.rs: a real `cfssl serve` with its own CA, and
//! the Python issuer example built with componentize-py into the target
//! directory (not by host/plugins/build.rs: the host builds without Python).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::{self, Server, require_tool, scratch};

/// How long `cfssl serve` may take to listen.
const CFSSL_START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the CLI's check and the server's reload may take together. Both
/// compile the 19 MB Python component (CPython in WebAssembly): about 25 s each
/// on a loaded two-core machine, as long as the host keeps no precompiled cache.
const PYTHON_RELOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Builds cfssl_issuer.wasm once per test run into <target>/example-plugins, and
/// again only when its source or the WIT is newer than the component.
pub fn python_issuer() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        common::build_example(
            "cfssl-issuer-python",
            &["app.py", "build.sh"],
            "cfssl_issuer.wasm",
            "componentize-py",
        )
    })
}

/// A `cfssl serve` on 127.0.0.1 with a fresh CA (`cfssl gencert -initca`).
pub struct Cfssl {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Cfssl {
    pub fn start() -> Cfssl {
        require_tool("cfssl");
        let dir = scratch("cfssl");
        std::fs::write(
            dir.join("ca-csr.json"),
            r#"{"CN":"sceptic test CFSSL CA","key":{"algo":"rsa","size":2048},"names":[{"O":"Example"}]}"#,
        )
        .unwrap();
        let gencert = Command::new("cfssl")
            .args(["gencert", "-initca", "ca-csr.json"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            gencert.status.success(),
            "{}",
            String::from_utf8_lossy(&gencert.stderr)
        );
        let made: serde_json::Value = serde_json::from_slice(&gencert.stdout).unwrap();
        std::fs::write(dir.join("ca.pem"), made["cert"].as_str().unwrap()).unwrap();
        std::fs::write(dir.join("ca-key.pem"), made["key"].as_str().unwrap()).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cfssl = Cfssl {
            dir,
            port,
            child: None,
        };
        cfssl.resume();
        cfssl
    }

    /// Starts `cfssl serve` (again) on the same port with the same CA.
    pub fn resume(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("cfssl.log"))
            .unwrap();
        let child = Command::new("cfssl")
            .args([
                "serve",
                "-address",
                "127.0.0.1",
                "-port",
                &self.port.to_string(),
            ])
            .args(["-ca", "ca.pem", "-ca-key", "ca-key.pem"])
            .current_dir(&self.dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + CFSSL_START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cfssl serve did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cfssl {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `--issuer` for the Python adapter talking to `url`, allowed to reach `allowed`.
pub fn issuer_spec(url: &str, allowed: &str) -> String {
    format!(
        "{},url={url},allowed-hosts={allowed}",
        python_issuer().display()
    )
}

/// `Server::reconfigure` for a change that loads the Python component: the same,
/// with time to compile it.
pub fn reconfigure_slowly(server: &Server, args: &[&str]) {
    let generation = || {
        let (_, _, body) = common::http(server.port, "GET", "/health", &[], &[]);
        let body = String::from_utf8_lossy(&body).into_owned();
        body.rsplit("generation ")
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let before = generation();
    server.cli_ok(args);
    let deadline = Instant::now() + PYTHON_RELOAD_TIMEOUT;
    while generation() == before {
        assert!(
            Instant::now() < deadline,
            "server did not reload after {args:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (status, _, body) = common::http(server.port, "GET", "/health", &[], &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

pub fn pem_der(path: &Path) -> Vec<u8> {
    der::pem::decode_vec(std::fs::read(path).unwrap().as_slice())
        .unwrap()
        .1
}
