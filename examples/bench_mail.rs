//! Mail throughput: renders COUNT notices (a distinct person, login and one-time link each), builds
//! their MIME messages, then sends them all through one `Mailer` (SMTP pool of `--connections`
//! sessions) to the server at `--url`, and prints what it measured as `key=value` lines for
//! `scripts/bench-mail` (which runs postfix's smtp-sink and smtp-source around it).
//!
//! `cargo run --release --example bench_mail -- --url smtp://127.0.0.1:2525 [--count 10000]
//! [--connections 4] [--runtime current-thread|multi-thread]`. Measures, never asserts.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use pwresetd::notify::{Built, Kind, MailConfig, Mailer, Recipient, Templates, Vars, message};

struct Options {
    url: String,
    count: usize,
    connections: u32,
    multi_thread: bool,
}

fn options() -> Options {
    let mut o = Options {
        url: String::new(),
        count: 10_000,
        connections: 4,
        multi_thread: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => o.url = args.next().unwrap_or_default(),
            "--count" => o.count = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.count),
            "--connections" => o.connections = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.connections),
            "--runtime" => o.multi_thread = args.next().as_deref() == Some("multi-thread"),
            other => {
                eprintln!("bench_mail: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    if o.url.is_empty() {
        eprintln!("bench_mail: --url smtp://HOST:PORT is required");
        std::process::exit(2);
    }
    o
}

/// A 43-character URL-safe token, as a real one-time link carries.
fn token(i: usize) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..43)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            alphabet[(x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 58) as usize] as char
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = options();
    let runtime = if o.multi_thread {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()?
    } else {
        // What `pwresetd` itself runs on (src/cli/mod.rs).
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    };
    runtime.block_on(run(o))
}

async fn run(o: Options) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir();
    let settings = MailConfig {
        transport: "smtp".into(),
        smtp_url: Some(o.url.clone()),
        starttls: Some(false),
        allow_insecure: true,
        from: Some("IT Security <it-security@example.org>".into()),
        reply_to: Some("helpdesk@example.org".into()),
        max_connections: o.connections,
        organisation: "Example Corp".into(),
        helpdesk: "+33 1 23 45 67 89 or helpdesk@example.org".into(),
        timezone: "Europe/Paris".into(),
        ..MailConfig::default()
    }
    .validate(&dir, None)?;
    let templates = Templates::load(&settings)?;

    let started = Instant::now();
    let now = Utc::now();
    let built: Vec<Built> = (0..o.count)
        .map(|i| {
            let vars = Vars {
                display_name: format!("Zoë Ångström-{i}"),
                login: format!("user{i:06}"),
                link: Some(format!("https://portal.example.org/reset/{}", token(i))),
                ..Vars::sample(now)
            };
            let language = if i % 3 == 0 { "fr" } else { "en" };
            let rendered = templates.render(Kind::Notice, Some(language), &vars)?;
            let addresses = [format!("user{i:06}@example.org")];
            let recipient = Recipient {
                display_name: &vars.display_name,
                addresses: &addresses,
            };
            Ok(message::build(&rendered, &recipient, &settings)?)
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let render_secs = started.elapsed().as_secs_f64();

    let sizes: Vec<(usize, usize)> = built
        .iter()
        .map(|b| {
            let raw = b.message.formatted();
            let headers = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
            (raw.len(), raw.len() - headers)
        })
        .collect();
    let mean = |f: fn(&(usize, usize)) -> usize| sizes.iter().map(f).sum::<usize>() / sizes.len().max(1);

    let mailer = Arc::new(Mailer::new(&settings)?);
    let started = Instant::now();
    let results: Vec<_> = stream::iter(built)
        .map(|b| {
            let mailer = mailer.clone();
            async move { mailer.send(&b.message).await }
        })
        .buffer_unordered(o.connections as usize * 2)
        .collect()
        .await;
    let send_secs = started.elapsed().as_secs_f64();
    mailer.shutdown().await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("bench_mail: first failure: {e}");
    }

    println!("count={}", o.count);
    println!("connections={}", o.connections);
    println!(
        "runtime={}",
        if o.multi_thread {
            "multi-thread"
        } else {
            "current-thread"
        }
    );
    println!("failed={failed}");
    println!("message_bytes={}", mean(|s| s.0));
    println!("body_bytes={}", mean(|s| s.1));
    println!("render_build_secs={render_secs:.3}");
    println!("render_build_per_sec={:.0}", o.count as f64 / render_secs);
    println!("send_secs={send_secs:.3}");
    println!("send_per_sec={:.0}", o.count as f64 / send_secs);
    println!("end_to_end_per_sec={:.0}", o.count as f64 / (send_secs + render_secs));
    Ok(())
}
