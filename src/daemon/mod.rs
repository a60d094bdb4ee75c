//! `pwresetd serve`: the long-running service. Wires the adapters (directory, store, mailer) to
//! the core and runs, in one process: the campaign worker (marking, reverting, reconciliation,
//! mails), the portal, and the admin listener (metrics, health, helpdesk). This module is the
//! composition root: it alone knows the whole configuration ([`config`]) and wires adapters
//! together ([`services`]); [`preflight`] checks all of it (`check-config`).
//!
//! Lifecycle: load the configuration → [`Services::build`] (store, templates, mailer, policy,
//! TLS, tokens; all before the directory is contacted) → first successful directory bind →
//! bind the listeners → READY=1. SIGHUP reloads ([`reload`]). The shutdown future
//! (SIGTERM/SIGINT in the binary) → STOPPING=1, one [`CancellationToken`] stops accepting and
//! starting work, in-flight requests, marks and mails finish within `shutdown_grace`.

pub mod admin;
pub mod config;
pub mod housekeeping;
pub mod instrumented;
mod leases;
mod mail;
pub mod metrics;
pub mod preflight;
mod reload;
pub mod services;
pub mod systemd;
pub mod worker;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::directory::Directory;
use config::Config;
pub use mail::MailGlue;
use reload::Reloadable;
pub use services::Services;

/// Time allowed to send the request headers on the admin listener: a slow-loris client must not
/// hold one of its bounded connections (and so `/healthz`) for long.
const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request body on the admin listener: the helpdesk's forms and JSON bodies
/// are small, as the portal's (see `crate::web::deadline`).
const ADMIN_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Changes the log filter at run time (SIGHUP).
pub type SetLogFilter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Runs the service built in `services` until `shutdown` resolves; `path` is read again on
/// SIGHUP.
pub async fn run(
    path: &Path,
    services: Services,
    set_log_filter: SetLogFilter,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    if let Err(e) = set_log_filter(&services.config.daemon.log_level) {
        tracing::warn!(error = %e, "daemon.log_level");
    }
    tokio::pin!(shutdown);
    tokio::select! {
        () = first_bind(&services.directory, &services.config) => {}
        () = &mut shutdown => return Ok(()),
    }
    let listeners = Listeners::bind(&services.config).await?;
    // The API tokens in force from now on, in the audit trail.
    services.helpdesk.audit_token_changes().await;
    let stop = CancellationToken::new();
    let (mut tasks, reloadable) = start(services, listeners, &stop);
    let watchdog = systemd::watchdog_interval().map(|every| tokio::spawn(watchdog(every)));
    systemd::ready();
    tracing::info!("ready");
    let mut hangup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("SIGHUP handler")?;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = hangup.recv() => reloadable.reload(path, &set_log_filter),
        }
    }
    let grace = reloadable.config.borrow().daemon.shutdown_grace;
    drain(&mut tasks, &stop, grace, watchdog).await;
    reloadable.mail.current_mailer().shutdown().await;
    Ok(())
}

/// The two listening sockets, bound once the directory answered.
struct Listeners {
    portal: TcpListener,
    admin: TcpListener,
}

impl Listeners {
    async fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let bind = |addr: SocketAddr, key: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {key} {addr}"))
        };
        Ok(Listeners {
            portal: bind(config.portal.listen, "portal.listen").await?,
            admin: bind(config.daemon.admin_listen, "daemon.admin_listen").await?,
        })
    }
}

/// Spawns the worker, the portal and the admin listener; all stop when `stop` is cancelled.
fn start(s: Services, listeners: Listeners, stop: &CancellationToken) -> (JoinSet<()>, Reloadable) {
    let metrics_token = s.config.daemon.metrics_token.clone();
    let (admin_max_connections, grace) = (s.config.daemon.admin_max_connections, s.config.daemon.shutdown_grace);
    let (config_tx, config_rx) = watch::channel(Arc::new(s.config));
    let worker = worker::Worker {
        directory: s.directory.clone(),
        store: s.store.clone(),
        config: config_rx,
        metrics: s.metrics.clone(),
        mail: Some(s.mail.clone()),
        stop: stop.clone(),
        holder: crate::store::holder_name("daemon"),
    };
    let metrics = s.metrics.clone();
    let health = admin::Health {
        directory: s.directory,
        store: s.store,
        metrics: s.metrics,
        metrics_token,
    };
    let mut tasks = JoinSet::new();
    tasks.spawn(worker.run());
    let (portal, portal_stop) = (s.portal.clone(), stop.clone().cancelled_owned());
    tasks.spawn(async move {
        let counted = |router| admin::counted(router, metrics, "portal");
        if let Err(e) = crate::portal::serve_with(portal, counted, listeners.portal, portal_stop).await {
            tracing::error!(error = %e, "portal listener");
        }
    });
    let admin_stop = stop.clone().cancelled_owned();
    let app = admin::router(health, crate::helpdesk::router(s.helpdesk));
    let bounds = crate::web::listener::Bounds {
        name: "admin",
        max_connections: admin_max_connections,
        max_connections_per_client: 0,
        trusted_proxies: Vec::new(),
        header_timeout: ADMIN_HEADER_TIMEOUT,
        body_timeout: ADMIN_BODY_TIMEOUT,
        drain: grace,
    };
    tasks.spawn(async move {
        if let Err(e) = crate::web::listener::serve(app, listeners.admin, bounds, None, admin_stop).await {
            tracing::error!(error = %e, "admin listener");
        }
    });
    let reloadable = Reloadable {
        config: config_tx,
        mail: s.mail,
        portal: s.portal,
    };
    (tasks, reloadable)
}

async fn watchdog(every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        systemd::watchdog();
    }
}

/// STOPPING=1, then lets in-flight work finish within `grace`; abandons what is left after.
async fn drain(tasks: &mut JoinSet<()>, stop: &CancellationToken, grace: Duration, watchdog: Option<JoinHandle<()>>) {
    systemd::stopping();
    tracing::info!(
        grace_secs = grace.as_secs(),
        "stopping: finishing in-flight requests, marks and mails"
    );
    stop.cancel();
    let drained = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if let Some(w) = watchdog {
        w.abort();
    }
    match drained {
        Ok(()) => tracing::info!("stopped cleanly"),
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "shutdown grace exceeded: abandoning work still in flight"
            );
            tasks.abort_all();
        }
    }
}

impl MailGlue {
    fn current_mailer(&self) -> Arc<crate::notify::Mailer> {
        self.mail.read().unwrap_or_else(|p| p.into_inner()).mailer.clone()
    }
}

/// Waits (with backoff) for the first successful bind; READY must not come before it.
async fn first_bind(dir: &Arc<dyn Directory>, config: &Config) {
    let mut delay = Duration::from_secs(1);
    loop {
        match dir.check().await {
            Ok(warnings) => {
                for w in warnings {
                    tracing::warn!("{}", w.message);
                }
                return;
            }
            Err(e) => {
                let text = format!("waiting for the directory {}: {e}", config.directory.url);
                tracing::warn!("{text}");
                systemd::status(&text);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
