//! A throwaway Mosquitto broker for tests against a real third-party broker:
//! started on a free loopback port with a generated config (anonymous, no
//! persistence; TLS from given PEM files with [`Mosquitto::start_tls`]) in
//! a temporary directory, killed and cleaned up on drop. Mosquitto cannot
//! derive a device from its password, so it always carries the generic
//! `fleetsim/<cik>/...` topics ([`super::Dialect::Generic`]).
//! The binary is `$FLEETSIM_MOSQUITTO`, `mosquitto` on `PATH`, or Debian's
//! `/usr/sbin/mosquitto` (package `mosquitto`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::MqttError;

/// A running Mosquitto; dropping it kills it.
pub struct Mosquitto {
    addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Mosquitto {
    /// The Mosquitto binary, if one is installed.
    pub fn find() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("FLEETSIM_MOSQUITTO") {
            return Some(PathBuf::from(p));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin")])
            .map(|d| d.join("mosquitto"))
            .find(|p| p.is_file())
    }

    /// Starts `binary` on a free loopback port and waits (at most 10 s)
    /// until it accepts connections.
    pub fn start(binary: &Path) -> Result<Mosquitto, MqttError> {
        Mosquitto::start_with(binary, None)
    }

    /// [`Mosquitto::start`] speaking TLS only, with the PEM certificate
    /// chain and key `(cert, key)` (Mosquitto's `certfile`/`keyfile`).
    pub fn start_tls(binary: &Path, cert_pem: &str, key_pem: &str) -> Result<Mosquitto, MqttError> {
        Mosquitto::start_with(binary, Some((cert_pem, key_pem)))
    }

    fn start_with(binary: &Path, tls: Option<(&str, &str)>) -> Result<Mosquitto, MqttError> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let dir =
            std::env::temp_dir().join(format!("fleetsim-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("mosquitto.conf");
        let tls_lines = match tls {
            Some((cert, key)) => {
                std::fs::write(dir.join("cert.pem"), cert)?;
                std::fs::write(dir.join("key.pem"), key)?;
                format!(
                    "certfile {}\nkeyfile {}\n",
                    dir.join("cert.pem").display(),
                    dir.join("key.pem").display()
                )
            }
            None => String::new(),
        };
        // `user root` keeps a root-started broker from switching to a
        // `mosquitto` user that may not exist; ignored when not root.
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{tls_lines}allow_anonymous true\npersistence false\n\
                 user root\nlog_dest stderr\nlog_type error\nlog_type warning\n"
            ),
        )?;
        let stderr = std::fs::File::create(dir.join("stderr.log"))?;
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        let mut m = Mosquitto { addr, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = m.child.try_wait()? {
                let log = std::fs::read_to_string(m.dir.join("stderr.log")).unwrap_or_default();
                return Err(MqttError::Broker(format!(
                    "mosquitto exited with {status}: {}",
                    log.trim()
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(m);
            }
            if Instant::now() > deadline {
                return Err(MqttError::Broker(format!(
                    "mosquitto did not open {addr} within 10 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
