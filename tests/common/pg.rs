//! PostgreSQL for integration tests: whether the suite has one (`scripts/test` exports
//! `PWRESETD_TEST_PG_*` and `PWRESETD_REQUIRE_PG=1`), and a server of a test's own
//! (`scripts/pg-start` in a temp dir) that the test may stop, restart on the same port, freeze
//! and thaw — for outages — with the `[store]` lines that point pwresetd at it.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pwresetd::secret::Secret;
use pwresetd::store::config::PgConfig;

use super::read_env;

/// Whether the suite has PostgreSQL; without it a test skips, unless `PWRESETD_REQUIRE_PG=1`.
pub fn available() -> bool {
    if std::env::var_os("PWRESETD_TEST_PG_URL").is_some() {
        return true;
    }
    assert!(
        std::env::var("PWRESETD_REQUIRE_PG").as_deref() != Ok("1"),
        "PWRESETD_REQUIRE_PG=1 but PWRESETD_TEST_PG_URL is not set: run scripts/test"
    );
    eprintln!("skipped: no PWRESETD_TEST_PG_URL (scripts/pg-start)");
    false
}

/// A PostgreSQL of this test's own.
pub struct PrivatePg {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl PrivatePg {
    /// `None` (skip) where the suite has no PostgreSQL.
    pub fn start() -> Option<PrivatePg> {
        if !available() {
            return None;
        }
        // The server runs as the postgres user: its folder must be traversable.
        let dir = tempfile::Builder::new().prefix("pwresetd-pgo.").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut pg = PrivatePg {
            dir,
            env: HashMap::new(),
        };
        pg.script("pg-start", &[]);
        pg.env = read_env(&pg.path().join("env"));
        Some(pg)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("pg")
    }

    /// Runs `scripts/NAME DIR ARGS`: `("pg-stop", &["--keep"])` stops the server keeping its
    /// data, `("pg-start", &["--start-only"])` starts it again on the same port.
    pub fn script(&self, name: &str, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name);
        let out = Command::new(script).arg(self.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The validated `[store]` settings for this server.
    pub fn config(&self) -> PgConfig {
        let password = Secret::from_file(Path::new(&self.env["PWRESETD_TEST_PG_PASSWORD_FILE"])).unwrap();
        let ca = PathBuf::from(&self.env["PWRESETD_TEST_PG_CA"]);
        PgConfig::new(&self.env["PWRESETD_TEST_PG_URL"], password, Some(ca), false).unwrap()
    }

    pub fn postmaster(&self) -> String {
        let pidfile = std::fs::read_to_string(self.path().join("data/postmaster.pid")).unwrap();
        pidfile.lines().next().unwrap().trim().to_owned()
    }

    /// `kill SIGNAL` to the postmaster: `-STOP` freezes the server (connections are accepted by
    /// the kernel, nothing answers), `-CONT` thaws it.
    pub fn signal(&self, signal: &str) {
        assert!(
            Command::new("kill")
                .args([signal, &self.postmaster()])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        // SIGCONT first: a test that failed while the server was frozen must not leave it so.
        if let Ok(pidfile) = std::fs::read_to_string(self.path().join("data/postmaster.pid")) {
            let pid = pidfile.lines().next().unwrap_or_default().trim().to_owned();
            let _ = Command::new("kill").args(["-CONT", &pid]).status();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg-stop");
        let _ = Command::new(script).arg(self.path()).output();
    }
}

impl PrivatePg {
    /// The `[store]` section for pwresetd's configuration file.
    pub fn store_section(&self) -> String {
        format!(
            "[store]\nurl = \"{}\"\npassword_file = \"{}\"\nca_file = \"{}\"\n",
            self.env["PWRESETD_TEST_PG_URL"],
            self.env["PWRESETD_TEST_PG_PASSWORD_FILE"],
            self.env["PWRESETD_TEST_PG_CA"]
        )
    }
}
