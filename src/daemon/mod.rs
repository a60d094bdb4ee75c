//! `pwresetd serve`: the long-running service. Wires the adapters (directory, store, mailer) to
//! the core and runs, in one process: the campaign worker (marking, reverting, reconciliation,
//! mails), the portal, and the admin listener (metrics, health). Only this module wires
//! adapters together.
//!
//! Lifecycle: validate config → open the store → first successful directory bind → bind the
//! listeners → READY=1. SIGHUP reloads configuration, templates, policy word lists and the log
//! filter (an invalid new configuration is logged and the old one kept). The shutdown future
//! (SIGTERM/SIGINT in the binary) → STOPPING=1, stop accepting, let in-flight requests, marks
//! and mails finish within `shutdown_grace`, then return.

pub mod admin;
pub mod config;
pub mod instrumented;
mod mail;
pub mod metrics;
pub mod systemd;
pub mod worker;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::directory::{self, Directory};
use crate::helpdesk::{HelpdeskParts, HelpdeskState};
use crate::notify::pass::Mail;
use crate::notify::{Mailer, Templates};
use crate::policy::Policy;
use crate::portal::{PortalParts, PortalState};
use crate::store::Store;
use config::Config;
pub use mail::MailGlue;
use metrics::Metrics;

/// Changes the log filter at run time (SIGHUP).
pub type SetLogFilter = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Runs the service until `shutdown` resolves.
pub async fn run(
    path: PathBuf,
    config: Config,
    set_log_filter: SetLogFilter,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    if let Err(e) = set_log_filter(&config.daemon.log_level) {
        tracing::warn!(error = %e, "daemon.log_level");
    }
    let metrics = Arc::new(Metrics::new());
    let store_path = config.store.path.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&store_path))
        .await
        .context("store worker")??;
    let raw = directory::connect(&config.directory)?;
    let dir: Arc<dyn Directory> = Arc::new(instrumented::Instrumented::new(raw, metrics.clone()));
    tokio::pin!(shutdown);
    tokio::select! {
        ready = first_bind(&dir, &config) => ready,
        () = &mut shutdown => return Ok(()),
    }

    let templates = Templates::load(&config.mail).context("mail templates")?;
    let mailer = Mailer::new(&config.mail).context("mail transport")?;
    let glue = Arc::new(MailGlue {
        mail: RwLock::new(Mail {
            settings: Arc::new(config.mail.clone()),
            templates: Arc::new(templates),
            mailer: Arc::new(mailer),
        }),
        store: store.clone(),
        links: RwLock::new(config.portal.links()),
        metrics: metrics.clone(),
    });
    let policy = Arc::new(Policy::load(&config.policy).context("password policy")?);
    let portal = PortalState::new(PortalParts {
        config: config.portal.clone(),
        directory: dir.clone(),
        store: store.clone(),
        policy,
        notifier: glue.clone(),
    })
    .context("portal")?;
    let portal_handle = portal.clone();
    let helpdesk = HelpdeskState::new(HelpdeskParts {
        config: config.helpdesk.clone(),
        directory: dir.clone(),
        store: store.clone(),
        resender: glue.clone(),
        admin_listen: config.daemon.admin_listen,
    })
    .context("helpdesk")?;
    let portal_listener = TcpListener::bind(config.portal.listen)
        .await
        .with_context(|| format!("cannot listen on portal.listen {}", config.portal.listen))?;
    let admin_listener = TcpListener::bind(config.daemon.admin_listen)
        .await
        .with_context(|| format!("cannot listen on daemon.admin_listen {}", config.daemon.admin_listen))?;

    let stop = CancellationToken::new();
    let (config_tx, config_rx) = watch::channel(Arc::new(config));
    let worker = worker::Worker {
        directory: dir.clone(),
        store: store.clone(),
        config: config_rx,
        metrics: metrics.clone(),
        mail: Some(glue.clone()),
        stop: stop.clone(),
        holder: crate::store::holder_name("daemon"),
    };
    let health = admin::Health {
        directory: dir.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(worker.run());
    let portal_stop = stop.clone().cancelled_owned();
    tasks.spawn(async move {
        if let Err(e) = crate::portal::serve(portal, portal_listener, portal_stop).await {
            tracing::error!(error = %e, "portal listener");
        }
    });
    let admin_stop = stop.clone().cancelled_owned();
    tasks.spawn(async move {
        let app = admin::router(health, crate::helpdesk::router(helpdesk));
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(admin_listener, app)
            .with_graceful_shutdown(admin_stop)
            .await
        {
            tracing::error!(error = %e, "admin listener");
        }
    });
    let watchdog = systemd::watchdog_interval().map(|every| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                systemd::watchdog();
            }
        })
    });

    systemd::ready();
    tracing::info!("ready");
    let mut hangup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("SIGHUP handler")?;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = hangup.recv() => reload(&path, &config_tx, &glue, &portal_handle, &set_log_filter),
        }
    }

    systemd::stopping();
    let grace = config_tx.borrow().daemon.shutdown_grace;
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
    glue.current_mailer().shutdown().await;
    Ok(())
}

impl MailGlue {
    fn current_mailer(&self) -> Arc<Mailer> {
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

/// SIGHUP: reads the configuration again; applies what can change without a restart.
fn reload(
    path: &std::path::Path,
    config_tx: &watch::Sender<Arc<Config>>,
    glue: &MailGlue,
    portal: &PortalState,
    set_log_filter: &SetLogFilter,
) {
    systemd::reloading();
    let result = config::load(path).map_err(anyhow::Error::new).and_then(|new| {
        let templates = Templates::load(&new.mail).context("mail templates")?;
        let policy = Policy::load(&new.policy).context("password policy")?;
        Ok((new, templates, policy))
    });
    match result {
        Ok((new, templates, policy)) => {
            let old = config_tx.borrow().clone();
            for (key, changed) in [
                (
                    "directory",
                    format!("{:?}", old.directory) != format!("{:?}", new.directory),
                ),
                ("store", old.store.path != new.store.path),
                ("portal.listen", old.portal.listen != new.portal.listen),
                (
                    "daemon.admin_listen",
                    old.daemon.admin_listen != new.daemon.admin_listen,
                ),
            ] {
                if changed {
                    tracing::warn!(key, "changed in the configuration: takes effect at the next restart");
                }
            }
            if let Err(e) = set_log_filter(&new.daemon.log_level) {
                tracing::warn!(error = %e, "daemon.log_level");
            }
            glue.reload(templates, new.portal.links());
            portal.set_policy(Arc::new(policy));
            let _ = config_tx.send(Arc::new(new));
            tracing::info!(config = %path.display(), "configuration reloaded");
        }
        Err(e) => {
            tracing::error!(config = %path.display(), "invalid new configuration, keeping the running one: {e:#}")
        }
    }
    systemd::ready();
}
