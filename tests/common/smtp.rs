//! The SMTP capture server (`scripts/smtp-start`), one per test that needs it: start the variant
//! a test needs, read what it captured, and stop it on drop, so a panicking test leaks no server.
//!
//! Captured messages are parsed by Python's `email` package (`/usr/bin/python3`, which the
//! capture server needs anyway): an independent MIME implementation, so a test checks that
//! another parser reads our messages as we meant them, not that our code agrees with itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}

/// A running capture server. Dropping it runs `scripts/smtp-stop`, which also removes its dir.
pub struct SmtpServer {
    dir: PathBuf,
    vars: HashMap<String, String>,
    flags: Vec<String>,
}

impl SmtpServer {
    /// Starts `scripts/smtp-start TEMPDIR FLAGS…` (e.g. `&["--tls", "--require-starttls"]`).
    /// `{dir}` in a flag is replaced by the server's directory (for `--auth user:{dir}/pw`).
    pub fn start(flags: &[&str]) -> SmtpServer {
        let dir = tempfile::Builder::new()
            .prefix("pwresetd-smtp-")
            .tempdir()
            .expect("temp dir for the SMTP server")
            .keep();
        let flags: Vec<String> = flags
            .iter()
            .map(|f| f.replace("{dir}", &dir.display().to_string()))
            .collect();
        let out = Command::new(scripts().join("smtp-start"))
            .arg(&dir)
            .args(&flags)
            .output()
            .expect("run scripts/smtp-start");
        // From here on, Drop stops the server and removes the dir, even if parsing env fails.
        let mut server = SmtpServer {
            dir,
            vars: HashMap::new(),
            flags: flags.clone(),
        };
        assert!(
            out.status.success(),
            "scripts/smtp-start {flags:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        server.vars = super::read_env(&server.dir.join("env"));
        server
    }

    /// Stops the server as an outage would (SIGTERM, then its port is closed) and keeps what it
    /// captured; [`SmtpServer::restart`] brings it back on the same port.
    pub fn stop_for_now(&self) {
        let pid = std::fs::read_to_string(self.dir.join("smtp.pid")).expect("smtp.pid");
        let pid = pid.trim();
        let status = Command::new("kill").args(["-TERM", pid]).status().expect("kill");
        assert!(status.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "the capture server {pid} ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the stopped server again in the same directory, on the same port, with the same
    /// flags; what it captured before stays in [`SmtpServer::messages`].
    pub fn restart(&mut self) {
        let port = self.port().to_string();
        let out = Command::new(scripts().join("smtp-start"))
            .arg(&self.dir)
            .args(&self.flags)
            .args(["--port", &port])
            .output()
            .expect("run scripts/smtp-start");
        assert!(
            out.status.success(),
            "scripts/smtp-start (restart) failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.vars = super::read_env(&self.dir.join("env"));
    }

    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from {}/env", self.dir.display()))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `smtp://127.0.0.1:PORT`, or `smtps://…` with `--implicit-tls`.
    pub fn url(&self) -> &str {
        self.var("SMTP_URL")
    }

    pub fn port(&self) -> u16 {
        self.var("SMTP_PORT").parse().expect("SMTP_PORT")
    }

    /// The CA that signed the server's certificate (`--tls`).
    pub fn ca_file(&self) -> PathBuf {
        self.var("SMTP_CA_FILE").into()
    }

    /// An unrelated CA (`--tls`): trusting it alone must fail the handshake.
    pub fn other_ca_file(&self) -> PathBuf {
        self.var("SMTP_OTHER_CA_FILE").into()
    }

    pub fn user(&self) -> &str {
        self.var("SMTP_USER")
    }

    pub fn password_file(&self) -> PathBuf {
        self.var("SMTP_PASSWORD_FILE").into()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("smtp.log")).unwrap_or_default()
    }

    /// The messages saved so far, in arrival order.
    pub fn messages(&self) -> Vec<Captured> {
        let mail_dir = PathBuf::from(self.var("SMTP_MAIL_DIR"));
        let mut emls: Vec<PathBuf> = std::fs::read_dir(&mail_dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        emls.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        emls.sort();
        emls.into_iter()
            .map(|eml| {
                let json = std::fs::read(eml.with_extension("json")).expect("envelope json");
                Captured {
                    raw: std::fs::read(&eml).expect("captured eml"),
                    envelope: serde_json::from_slice(&json).expect("envelope is JSON"),
                    path: eml,
                }
            })
            .collect()
    }

    /// Waits until `n` messages are saved (the server saves before replying 250, so after a
    /// successful send they are already there; this covers asynchronous senders).
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<Captured> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.messages();
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // The captured mail is an artifact of the run (the password check reads it).
        if let Some(mail) = self.vars.get("SMTP_MAIL_DIR") {
            super::artifacts::keep_mail(Path::new(mail), "smtp-mail-");
        }
        let _ = Command::new(scripts().join("smtp-stop")).arg(&self.dir).status();
    }
}

/// One message as the server saved it, with its envelope.
#[derive(Debug)]
pub struct Captured {
    pub path: PathBuf,
    pub raw: Vec<u8>,
    /// mail_from, rcpt_tos, peer, tls, auth_user, … (see scripts/smtp_capture.py).
    pub envelope: serde_json::Value,
}

impl Captured {
    pub fn parse(&self) -> ParsedMail {
        parse_eml(&self.path)
    }

    pub fn rcpt_tos(&self) -> Vec<String> {
        self.envelope["rcpt_tos"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// A message as Python's `email` package (policy `default`) reads it.
#[derive(Debug)]
pub struct ParsedMail {
    /// Header name → value, RFC 2047 decoded, unfolded. Repeated headers keep the first.
    pub headers: HashMap<String, String>,
    /// Header name → value as written (still encoded), unfolded.
    pub raw_headers: HashMap<String, String>,
    pub content_type: String,
    /// Leaf parts in order.
    pub parts: Vec<Part>,
    /// Everything Python found malformed (should be empty).
    pub defects: Vec<String>,
}

#[derive(Debug)]
pub struct Part {
    pub content_type: String,
    pub charset: Option<String>,
    /// Decoded text.
    pub body: String,
}

impl ParsedMail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn raw_header(&self, name: &str) -> Option<&str> {
        self.raw_headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    pub fn part(&self, content_type: &str) -> &Part {
        self.parts
            .iter()
            .find(|p| p.content_type == content_type)
            .unwrap_or_else(|| panic!("no {content_type} part in {:?}", self.parts))
    }
}

const PARSER: &str = r#"
import email, json, sys
from email import policy
data = open(sys.argv[1], 'rb').read()
msg = email.message_from_bytes(data, policy=policy.default)
raw = email.message_from_bytes(data, policy=policy.compat32)
defects = []
for part in msg.walk():
    defects += [type(d).__name__ + ': ' + str(d) for d in part.defects]
    for v in part.values():
        defects += [type(d).__name__ + ': ' + str(d) for d in getattr(v, 'defects', ())]
def unfold(v):
    return ' '.join(str(v).split())
parts = [
    {'content_type': p.get_content_type(), 'charset': p.get_content_charset(), 'body': p.get_content()}
    for p in msg.walk() if not p.is_multipart()
]
json.dump({
    'headers': [[k.lower(), unfold(v)] for k, v in msg.items()],
    'raw_headers': [[k.lower(), unfold(v)] for k, v in raw.items()],
    'content_type': msg.get_content_type(),
    'parts': parts,
    'defects': defects,
}, sys.stdout)
"#;

/// Parses an .eml file (captured or spooled) and checks the wire format: CRLF line ends only,
/// lines of at most 998 octets (RFC 5322 2.1.1).
pub fn parse_eml(path: &Path) -> ParsedMail {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let lines: Vec<&[u8]> = raw.split(|b| *b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if i + 1 < lines.len() {
            assert!(
                line.ends_with(b"\r"),
                "{}: line {} does not end with CRLF",
                path.display(),
                i + 1
            );
        }
        assert!(
            line.len() <= 999,
            "{}: line {} is {} octets long",
            path.display(),
            i + 1,
            line.len()
        );
    }
    let out = Command::new("/usr/bin/python3")
        .args(["-c", PARSER])
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python email parser: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("parser output is JSON");
    let pairs = |key: &str| -> HashMap<String, String> {
        let mut map = HashMap::new();
        for pair in v[key].as_array().into_iter().flatten() {
            let (k, v) = (
                pair[0].as_str().unwrap_or_default(),
                pair[1].as_str().unwrap_or_default(),
            );
            map.entry(k.to_owned()).or_insert_with(|| v.to_owned());
        }
        map
    };
    ParsedMail {
        headers: pairs("headers"),
        raw_headers: pairs("raw_headers"),
        content_type: v["content_type"].as_str().unwrap_or_default().to_owned(),
        parts: v["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| Part {
                content_type: p["content_type"].as_str().unwrap_or_default().to_owned(),
                charset: p["charset"].as_str().map(str::to_owned),
                body: p["body"].as_str().unwrap_or_default().to_owned(),
            })
            .collect(),
        defects: v["defects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect(),
    }
}
