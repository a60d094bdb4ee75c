//! Running the real `pwresetd serve`: a notification socket the test owns (as systemd would),
//! free loopback ports, signals, and a kill on drop so a failing test leaks nothing.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    notify: UnixDatagram,
    pub notifications: Vec<String>,
    pub admin: u16,
    pub portal: u16,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `pwresetd --config CONFIG serve` with `NOTIFY_SOCKET` pointing at a socket of ours.
    pub fn start(config: &Path, admin: u16, portal: u16) -> Daemon {
        Daemon::start_with(config, (admin, portal), &[])
    }

    /// [`start`](Self::start) with extra environment variables.
    pub fn start_with(config: &Path, (admin, portal): (u16, u16), env: &[(&str, &Path)]) -> Daemon {
        let dir = super::artifacts::tempdir();
        let socket = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&socket).unwrap();
        notify.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let log = dir.path().join("daemon.log");
        let child = Command::new(env!("CARGO_BIN_EXE_pwresetd"))
            .args(["--config", config.to_str().unwrap(), "serve"])
            .env("NOTIFY_SOCKET", &socket)
            .env("PWRESETD_LOG", "info")
            .env_remove("JOURNAL_STREAM")
            .env_remove("PWRESETD_CONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            notify,
            notifications: Vec::new(),
            admin,
            portal,
            log,
            _dir: dir,
        }
    }

    /// Reads notifications until one line equals or starts with `wanted`, or `limit` passes.
    pub fn wait_notification(&mut self, wanted: &str, limit: Duration) -> Option<String> {
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        while started.elapsed() < limit {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                for line in text.lines() {
                    self.notifications.push(line.to_owned());
                    if line.starts_with(wanted) {
                        return Some(line.to_owned());
                    }
                }
            }
            if self.child.try_wait().unwrap().is_some() {
                return None;
            }
        }
        None
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET on the admin listener: (status, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        get(&format!("http://127.0.0.1:{}{path}", self.admin)).await
    }
}

pub async fn get(url: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    match client.get(url).send().await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
