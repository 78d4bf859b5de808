//! Real storage servers on loopback for the tests, each private to its test (own folder,
//! own ports) so a test can kill and restart it: Garage (S3-compatible; single node,
//! sqlite metadata, replication factor 1) and rclone's WebDAV server.
//!
//! The binaries come from `scripts/test.sh` (Garage built once by `cargo install` into
//! the tools folder, rclone from Debian): `$CHATVAULT_GARAGE` and
//! `$CHATVAULT_RCLONE` name them, else `<tools>/garage-<version>/bin/garage` and `rclone`
//! on the PATH. A missing binary is a test failure that says how to get it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start listening on port {port}");
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The folder scripts/test.sh caches the test tools in (scripts/tools-dir.sh says the same):
/// `$CHATVAULT_TOOLS`, else `$XDG_CACHE_HOME/chatvault-tools`, else `~/.cache/chatvault-tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHATVAULT_TOOLS") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| workspace().join("target"));
    cache.join("chatvault-tools")
}

fn binary(env: &str, fallback: PathBuf, how: &str) -> PathBuf {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or(fallback);
    let found = path.is_file()
        || (path.components().count() == 1
            && std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(&path).is_file())));
    assert!(found, "{} not found: {how}", path.display());
    path
}

/// The Garage release scripts/test.sh installs (the tools folder keys it by this version).
pub const GARAGE_VERSION: &str = "2.5.0";

/// A single-node Garage with one bucket and one key.
pub struct Garage {
    dir: PathBuf,
    config: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
    /// S3 endpoint, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Bucket created for the test.
    pub bucket: String,
    /// Access key id.
    pub key_id: String,
    /// Secret key.
    pub secret: String,
}

impl Garage {
    /// Starts Garage in `dir`, lays out one node, creates `bucket` and a key allowed on it.
    pub fn start(dir: &Path, bucket: &str) -> Garage {
        let bin = binary(
            "CHATVAULT_GARAGE",
            tools_dir().join(format!("garage-{GARAGE_VERSION}/bin/garage")),
            "run scripts/test.sh, which builds it once with `cargo install garage`",
        );
        std::fs::create_dir_all(dir).unwrap();
        let (s3, rpc, admin) = (free_port(), free_port(), free_port());
        let mut secret = [0u8; 32];
        getrandom_fill(&mut secret);
        let config = dir.join("garage.toml");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
                meta = dir.join("meta").display(),
                data = dir.join("data").display(),
                secret = hex(&secret),
            ),
        )
        .unwrap();
        let mut g = Garage {
            dir: dir.to_path_buf(),
            config,
            bin,
            child: None,
            endpoint: format!("http://127.0.0.1:{s3}"),
            bucket: bucket.to_string(),
            key_id: String::new(),
            secret: String::new(),
        };
        g.restart();
        wait_for_port(rpc, "garage rpc");
        let status = g.cli(&["status"]);
        let node = status
            .lines()
            .find_map(|l| {
                let id = l.split_whitespace().next()?;
                (id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()))
                    .then(|| id.to_string())
            })
            .unwrap_or_else(|| panic!("no node id in `garage status`:\n{status}"));
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&["bucket", "create", bucket]);
        let key = g.cli(&["key", "create", "chatvault-test"]);
        let field = |name: &str| {
            key.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| panic!("no {name} in `garage key create`:\n{key}"))
        };
        g.key_id = field("Key ID");
        g.secret = field("Secret key");
        g.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            bucket,
            "--key",
            "chatvault-test",
        ]);
        g
    }

    /// Runs a `garage` admin command and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "garage {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The repository location for `prefix` in the test bucket.
    pub fn location(&self, prefix: &str) -> String {
        format!(
            "s3://{}/{prefix}?endpoint={}&region=garage",
            self.bucket, self.endpoint
        )
    }

    /// Kills the server (SIGKILL) without waiting for anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts (or restarts) the server on the same ports and data.
    pub fn restart(&mut self) {
        self.kill();
        let log = std::fs::File::create(self.dir.join("garage.log")).unwrap();
        self.child = Some(
            Command::new(&self.bin)
                .arg("-c")
                .arg(&self.config)
                .arg("server")
                .env("RUST_LOG", "garage=warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start garage"),
        );
        let port: u16 = self
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap();
        wait_for_port(port, "garage s3 api");
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}

/// rclone serving a folder over WebDAV with a user and password.
pub struct WebDav {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Certificate and key files when it serves https.
    tls: Option<(PathBuf, PathBuf)>,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl WebDav {
    /// Serves `root` over https on a free loopback port with a certificate for 127.0.0.1
    /// issued by a test CA made here (openssl); returns the server and the CA's PEM file.
    pub fn start_tls(root: &Path) -> (WebDav, PathBuf) {
        let dir = root.with_extension("tls");
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl (Debian package openssl) makes the test certificates");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=ChatVault test CA",
        ]);
        openssl(&ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(&csr);
        std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ]);
        let mut w = WebDav::new(root);
        w.tls = Some((dir.join("server.pem"), dir.join("server.key")));
        w.restart();
        (w, dir.join("ca.pem"))
    }

    /// Serves `root` on a free loopback port.
    pub fn start(root: &Path) -> WebDav {
        let mut w = WebDav::new(root);
        w.restart();
        w
    }

    fn new(root: &Path) -> WebDav {
        let bin = binary(
            "CHATVAULT_RCLONE",
            PathBuf::from("rclone"),
            "install the Debian package rclone (scripts/test.sh does)",
        );
        std::fs::create_dir_all(root).unwrap();
        WebDav {
            root: root.to_path_buf(),
            bin,
            port: free_port(),
            child: None,
            tls: None,
            user: "phone".into(),
            password: "dav password".into(),
        }
    }

    /// The repository location for `path` on this server.
    pub fn location(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("webdav+{scheme}://127.0.0.1:{}/{path}", self.port)
    }

    /// The folder served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts (or restarts) it on the same port and folder.
    pub fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "webdav"])
            .arg(&self.root)
            .args(["--addr", &format!("127.0.0.1:{}", self.port)])
            .args(["--user", &self.user, "--pass", &self.password]);
        if let Some((cert, key)) = &self.tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        self.child = Some(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start rclone"),
        );
        wait_for_port(self.port, "rclone webdav");
    }
}

impl Drop for WebDav {
    fn drop(&mut self) {
        self.kill();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn getrandom_fill(b: &mut [u8]) {
    use rand::RngCore;
    rand::rng().fill_bytes(b);
}
