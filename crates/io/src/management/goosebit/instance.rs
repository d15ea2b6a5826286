//! A throw-away goosebit server for tests and benchmarks: a fresh SQLite
//! database and artifacts directory in a temporary directory, migrations
//! run, `uvicorn goosebit:app` on a free loopback port, and a first admin
//! created through `POST /setup`. Dropping the [`Instance`] kills the server
//! (its whole process group) and removes the directory.
//!
//! Needs a virtualenv with goosebit 0.2.12 (`scripts/goosebit-venv` makes
//! one; the tests get its path from `FLEETSIM_GOOSEBIT_VENV`). Every wait is
//! bounded; the server's output goes to `server.log` in the directory, and
//! errors quote its tail.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant as WallClock};

use crate::management::Secret;

/// Environment variable naming the goosebit virtualenv.
pub const VENV_ENV: &str = "FLEETSIM_GOOSEBIT_VENV";

/// How long the server may take to answer `GET /login`.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long the migrations may take.
const MIGRATE_WITHIN: Duration = Duration::from_secs(120);

/// Settings of a throw-away instance.
#[derive(Clone, Debug)]
pub struct InstanceOptions {
    /// The virtualenv with goosebit installed.
    pub venv: PathBuf,
    /// `GOOSEBIT_POLL_TIME`, `HH:MM:SS`.
    pub poll_time: String,
    /// Admin user created on the fresh instance.
    pub user: String,
}

impl InstanceOptions {
    /// Options for the venv in `FLEETSIM_GOOSEBIT_VENV`, or `None` when unset.
    pub fn from_env(poll_time: &str) -> Option<InstanceOptions> {
        let venv = std::env::var_os(VENV_ENV).filter(|v| !v.is_empty())?;
        Some(InstanceOptions {
            venv: PathBuf::from(venv),
            poll_time: poll_time.to_string(),
            user: "fleetsim-admin".to_string(),
        })
    }
}

/// Why an instance could not be started.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// The virtualenv lacks a program.
    #[error("{0} not found: run scripts/goosebit-venv and set FLEETSIM_GOOSEBIT_VENV to the path it prints")]
    Missing(PathBuf),
    /// A file or process operation failed.
    #[error("{what}: {err}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        err: std::io::Error,
    },
    /// A step failed; `log` is the tail of its output.
    #[error("goosebit {step} failed: {why}\n--- log tail ---\n{log}")]
    Step {
        /// Which step.
        step: &'static str,
        /// The server process exited before it served (worth a retry on another port).
        early: bool,
        /// What happened.
        why: String,
        /// Tail of the output.
        log: String,
    },
}

/// A running goosebit server. Killed on drop.
pub struct Instance {
    child: Option<Child>,
    dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The listening address.
    pub addr: SocketAddr,
    /// Admin user.
    pub user: String,
    /// Admin password (random per instance).
    pub password: Secret,
    /// DDI tenant the instance serves.
    pub tenant: String,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("base_url", &self.base_url)
            .field("dir", &self.dir)
            .field("user", &self.user)
            .finish()
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> InstanceError {
    let what = what.into();
    move |err| InstanceError::Io { what, err }
}

/// A value that differs between instances and runs (not for cryptography
/// beyond a test server's lifetime).
fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The last `n` lines of a file (empty if unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The site-packages directory of the venv's goosebit.
fn site_packages(venv: &Path) -> Result<PathBuf, InstanceError> {
    let lib = venv.join("lib");
    let entries = std::fs::read_dir(&lib).map_err(io(format!("read {}", lib.display())))?;
    for e in entries.flatten() {
        let p = e.path().join("site-packages");
        if p.join("goosebit").is_dir() {
            return Ok(p);
        }
    }
    Err(InstanceError::Missing(
        lib.join("python3.*/site-packages/goosebit"),
    ))
}

/// Waits for `child` to exit, at most `within`; kills it when late.
fn wait_bounded(child: &mut Child, within: Duration) -> Result<Option<i32>, std::io::Error> {
    let deadline = WallClock::now() + within;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status.code().unwrap_or(-1)));
        }
        if WallClock::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 exchange on loopback with `Connection: close`; returns the
/// status and body. Bounded by `timeout` per socket operation.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    form: Option<&str>,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let body = form.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if form.is_some() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.take(1 << 20).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    Ok((status, body))
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Instance {
    /// Starts a fresh instance. Blocks up to ~3 minutes in the worst case
    /// (migrations plus start-up); call it from `spawn_blocking` in async code.
    pub fn start(opts: &InstanceOptions) -> Result<Instance, InstanceError> {
        let bin = opts.venv.join("bin");
        for prog in ["uvicorn", "aerich"] {
            if !bin.join(prog).is_file() {
                return Err(InstanceError::Missing(bin.join(prog)));
            }
        }
        let site = site_packages(&opts.venv)?;
        let dir = std::env::temp_dir().join(format!(
            "fleetsim-goosebit-{}-{}",
            std::process::id(),
            random_hex(4)
        ));
        std::fs::create_dir_all(dir.join("artifacts"))
            .map_err(io(format!("create {}", dir.display())))?;
        let mut inst = Instance {
            child: None,
            base_url: String::new(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            user: opts.user.clone(),
            password: Secret::new(random_hex(12)),
            tenant: "DEFAULT".to_string(),
            dir,
        };
        let env = inst.env(opts, &random_hex(24));
        inst.migrate(&bin, &site, &env)?;
        // A port picked by binding port 0 can be taken before uvicorn binds
        // it: retry with another one when the server dies early.
        let mut last = None;
        for _ in 0..3 {
            match inst.serve(&bin, &env) {
                Ok(()) => {
                    inst.setup()?;
                    return Ok(inst);
                }
                // Only an early exit (e.g. the port was taken) is worth another try.
                Err(e @ InstanceError::Step { early: true, .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| InstanceError::Step {
            step: "start",
            early: false,
            why: "no attempt made".into(),
            log: String::new(),
        }))
    }

    /// The temporary directory (database, artifacts, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the server's combined stdout/stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Tail of the server log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }

    fn env(&self, opts: &InstanceOptions, secret_key: &str) -> Vec<(String, String)> {
        let d = self.dir.display();
        // Warnings only: goosebit logs every poll at INFO, which costs it
        // throughput and fills the disk under load.
        let logging = r#"{"version":1,"disable_existing_loggers":false,"formatters":{"s":{"format":"%(asctime)s %(name)s %(levelname)s %(message)s"}},"handlers":{"c":{"class":"logging.StreamHandler","formatter":"s"}},"root":{"level":"WARNING","handlers":["c"]},"loggers":{"uvicorn.access":{"level":"WARNING"}}}"#;
        vec![
            (
                "GOOSEBIT_DB_URI".into(),
                format!("sqlite:///{d}/db.sqlite3"),
            ),
            ("GOOSEBIT_ARTIFACTS_DIR".into(), format!("{d}/artifacts")),
            ("GOOSEBIT_TENANT".into(), self.tenant.clone()),
            ("GOOSEBIT_POLL_TIME".into(), opts.poll_time.clone()),
            ("GOOSEBIT_SECRET_KEY".into(), secret_key.to_string()),
            ("GOOSEBIT_LOGGING".into(), logging.to_string()),
        ]
    }

    fn migrate(
        &self,
        bin: &Path,
        site: &Path,
        env: &[(String, String)],
    ) -> Result<(), InstanceError> {
        let toml = self.dir.join("aerich.toml");
        let text = format!(
            "[tool.aerich]\ntortoise_orm = \"goosebit.db.config.TORTOISE_CONF\"\nlocation = \"{}\"\nsrc_folder = \"./.\"\n",
            site.join("goosebit/db/migrations").display()
        );
        std::fs::write(&toml, text).map_err(io(format!("write {}", toml.display())))?;
        let log_path = self.dir.join("migrate.log");
        let log = std::fs::File::create(&log_path).map_err(io("create migrate.log"))?;
        let err = log.try_clone().map_err(io("dup migrate.log"))?;
        let mut child = Command::new(bin.join("aerich"))
            .arg("-c")
            .arg(&toml)
            .arg("upgrade")
            .current_dir(&self.dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(io("run aerich"))?;
        let outcome = wait_bounded(&mut child, MIGRATE_WITHIN).map_err(io("wait for aerich"))?;
        match outcome {
            Some(0) => Ok(()),
            other => Err(InstanceError::Step {
                step: "migration (aerich upgrade)",
                early: false,
                why: match other {
                    None => format!("not done within {} s", MIGRATE_WITHIN.as_secs()),
                    Some(code) => format!("exit code {code}"),
                },
                log: tail(&log_path, 20),
            }),
        }
    }

    fn serve(&mut self, bin: &Path, env: &[(String, String)]) -> Result<(), InstanceError> {
        use std::os::unix::process::CommandExt;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(io("pick a free loopback port"))?
            .port();
        let log_path = self.log_path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io("create server.log"))?;
        let err = log.try_clone().map_err(io("dup server.log"))?;
        let child = Command::new(bin.join("uvicorn"))
            .args(["goosebit:app", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .current_dir(&self.dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("GOOSEBIT_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            // Its own process group, so that drop can kill everything it started.
            .process_group(0)
            .spawn()
            .map_err(io("run uvicorn"))?;
        self.child = Some(child);
        self.addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self.base_url = format!("http://127.0.0.1:{port}");
        let deadline = WallClock::now() + READY_WITHIN;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(InstanceError::Step {
                        step: "start (uvicorn)",
                        early: true,
                        why: format!("server exited early ({status})"),
                        log: tail(&log_path, 20),
                    });
                }
            }
            // A fresh instance redirects `/login` to `/setup` (302) until
            // the first user exists; either answer means it is serving.
            if let Ok((200 | 302 | 307, _)) =
                http(self.addr, "GET", "/login", None, Duration::from_secs(5))
            {
                return Ok(());
            }
            if WallClock::now() >= deadline {
                self.kill();
                return Err(InstanceError::Step {
                    step: "start (uvicorn)",
                    early: false,
                    why: format!("GET /login not 200 within {} s", READY_WITHIN.as_secs()),
                    log: tail(&log_path, 20),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Creates the first admin (`POST /setup`, which needs no login on a
    /// fresh instance).
    fn setup(&mut self) -> Result<(), InstanceError> {
        let form = format!(
            "username={}&password={}",
            form_encode(&self.user),
            form_encode(self.password.expose())
        );
        let answer = http(
            self.addr,
            "POST",
            "/setup",
            Some(&form),
            Duration::from_secs(30),
        );
        match answer {
            Ok((200, _)) => Ok(()),
            Ok((status, _)) => Err(InstanceError::Step {
                step: "admin setup (POST /setup)",
                early: false,
                why: format!("answered {status}"),
                log: self.log_tail(20),
            }),
            Err(e) => Err(InstanceError::Step {
                step: "admin setup (POST /setup)",
                early: false,
                why: e.to_string(),
                log: self.log_tail(20),
            }),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the process group we created; no memory is touched.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM);
            }
            if wait_bounded_quiet(&mut child, Duration::from_secs(5)).is_none() {
                // SAFETY: as above.
                unsafe {
                    libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Like [`wait_bounded`] without killing when late.
fn wait_bounded_quiet(child: &mut Child, within: Duration) -> Option<()> {
    let deadline = WallClock::now() + within;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Some(()),
            Ok(None) if WallClock::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => return None,
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        if std::env::var_os("FLEETSIM_KEEP_GOOSEBIT_DIR").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(form_encode("Az09-_.~"), "Az09-_.~");
    }

    #[test]
    fn a_missing_venv_is_named() {
        let opts = InstanceOptions {
            venv: PathBuf::from("/nonexistent/venv"),
            poll_time: "00:00:05".into(),
            user: "u".into(),
        };
        let err = Instance::start(&opts).unwrap_err();
        assert!(err.to_string().contains("scripts/goosebit-venv"), "{err}");
    }
}
