//! Prometheus metrics: one registry per daemon, updated by the instrumented directory, the
//! worker, the mailer and the HTTP layers; encoded as text at `/metrics`. The mail server's
//! gauges are read from its [`ServerHealth`] at each scrape, so they are current even while a
//! mail pass runs.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::notify::ServerHealth;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CampaignState {
    pub campaign: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CampaignName {
    pub campaign: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Op {
    pub op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpError {
    pub op: String,
    /// The LDAP result code, or "unavailable" when the server did not answer.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailResult {
    /// sent, failed, retried, no_address.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Rule {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Request {
    pub listener: String,
    pub route: String,
    pub status: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub accounts: Family<CampaignState, Gauge>,
    /// Only campaigns that are marking or active: an alert on "deadline near" needs no filter.
    pub deadline: Family<CampaignName, Gauge>,
    /// 1 on the instance holding the campaign's lease, 0 on the others (campaigns not reverted).
    pub lease_held: Family<CampaignName, Gauge>,
    /// Campaign work stopped because another instance had taken the lease over (fencing).
    pub fenced: Counter,
    pub marks: Counter,
    pub directory_seconds: Family<Op, Histogram, fn() -> Histogram>,
    pub directory_errors: Family<OpError, Counter>,
    pub mails: Family<MailResult, Counter>,
    pub policy_refusals: Family<Rule, Counter>,
    pub requests: Family<Request, Counter>,
    pub ready: Gauge,
    mail_server_up: Gauge,
    mail_last_delivery: Gauge,
    mail_health: OnceLock<Arc<ServerHealth>>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pwresetd");
        let accounts = Family::<CampaignState, Gauge>::default();
        registry.register("accounts", "Accounts per campaign and state", accounts.clone());
        let deadline = Family::<CampaignName, Gauge>::default();
        registry.register(
            "campaign_deadline_timestamp_seconds",
            "Deadline of each campaign that is marking or active (Unix time)",
            deadline.clone(),
        );
        let lease_held = Family::<CampaignName, Gauge>::default();
        registry.register(
            "campaign_lease_held",
            "1 when this instance holds the campaign's lease (works it), else 0",
            lease_held.clone(),
        );
        let fenced = Counter::default();
        registry.register(
            "campaign_fenced",
            "Campaign writes refused because another instance had taken the campaign's lease over",
            fenced.clone(),
        );
        let marks = Counter::default();
        registry.register("marks", "Accounts marked as must-change by this process", marks.clone());
        let directory_seconds = Family::<Op, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "directory_operation_seconds",
            "Directory operation latency",
            directory_seconds.clone(),
        );
        let directory_errors = Family::<OpError, Counter>::default();
        registry.register(
            "directory_errors",
            "Directory operations that failed, by result code",
            directory_errors.clone(),
        );
        let mails = Family::<MailResult, Counter>::default();
        registry.register(
            "mails",
            "Mails by result (sent, failed, retried, no_address)",
            mails.clone(),
        );
        let policy_refusals = Family::<Rule, Counter>::default();
        registry.register(
            "policy_refusals",
            "New passwords refused, by rule",
            policy_refusals.clone(),
        );
        let requests = Family::<Request, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by listener, route and status",
            requests.clone(),
        );
        let ready = Gauge::default();
        registry.register("ready", "1 when the directory and the store answer", ready.clone());
        let mail_server_up = Gauge::default();
        mail_server_up.set(1);
        registry.register(
            "mail_server_up",
            "0 while the mail server is down (mail.server_failures failures in a row, or TLS/AUTH refused), else 1",
            mail_server_up.clone(),
        );
        let mail_last_delivery = Gauge::default();
        registry.register(
            "mail_last_delivery_timestamp_seconds",
            "When the mail server last accepted a mail (Unix time; 0: none since the start)",
            mail_last_delivery.clone(),
        );
        Metrics {
            registry,
            accounts,
            deadline,
            lease_held,
            fenced,
            marks,
            directory_seconds,
            directory_errors,
            mails,
            policy_refusals,
            requests,
            ready,
            mail_server_up,
            mail_last_delivery,
            mail_health: OnceLock::new(),
        }
    }

    /// Reads the mail server's gauges from `health` from now on (once; the mailer lives as
    /// long as the daemon).
    pub fn watch_mail(&self, health: Arc<ServerHealth>) {
        let _ = self.mail_health.set(health);
    }

    /// The Prometheus text exposition (format 0.0.4, as `/metrics` declares it).
    pub fn encode(&self) -> String {
        if let Some(health) = self.mail_health.get() {
            let h = health.snapshot();
            self.mail_server_up.set(i64::from(h.down_since.is_none()));
            self.mail_last_delivery
                .set(h.last_delivery.map_or(0, |t| t.timestamp()));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        text_format(&out)
    }
}

/// prometheus-client writes OpenMetrics, where a counter's HELP and TYPE lines name the family
/// (`pwresetd_marks`) and its sample adds `_total`; the 0.0.4 format's parsers (Prometheus's
/// text parser, `promtool check metrics`) then see a sample with no HELP and no type. Name the
/// counters' HELP and TYPE lines after their samples, and drop OpenMetrics' `# EOF`.
fn text_format(open_metrics: &str) -> String {
    let counters: Vec<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len() + 16 * counters.len());
    for line in open_metrics.lines().filter(|l| *l != "# EOF") {
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let (name, rest) = line.strip_prefix(prefix)?.split_once(' ')?;
            counters.contains(&name).then(|| format!("{prefix}{name}_total {rest}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_family() {
        let m = Metrics::new();
        m.marks.inc();
        m.accounts
            .get_or_create(&CampaignState {
                campaign: "c".into(),
                state: "marked".into(),
            })
            .set(3);
        m.directory_seconds
            .get_or_create(&Op { op: "mark".into() })
            .observe(0.002);
        m.directory_errors
            .get_or_create(&OpError {
                op: "mark".into(),
                code: "50".into(),
            })
            .inc();
        m.mails.get_or_create(&MailResult { result: "sent".into() }).inc();
        m.policy_refusals
            .get_or_create(&Rule {
                rule: "breached".into(),
            })
            .inc();
        m.requests
            .get_or_create(&Request {
                listener: "portal".into(),
                route: "/reset/{token}".into(),
                status: "200".into(),
            })
            .inc();
        let text = m.encode();
        for needle in [
            "pwresetd_marks_total 1",
            "pwresetd_accounts{campaign=\"c\",state=\"marked\"} 3",
            "pwresetd_directory_operation_seconds_bucket",
            "pwresetd_directory_errors_total{op=\"mark\",code=\"50\"} 1",
            "pwresetd_mails_total{result=\"sent\"} 1",
            "pwresetd_policy_refusals_total{rule=\"breached\"} 1",
            "pwresetd_http_requests_total{listener=\"portal\",route=\"/reset/{token}\",status=\"200\"} 1",
            "pwresetd_ready 0",
            "pwresetd_mail_server_up 1",
            "pwresetd_mail_last_delivery_timestamp_seconds 0",
            "# HELP pwresetd_mail_server_up 0 while the mail server is down",
            "# HELP pwresetd_mail_last_delivery_timestamp_seconds When the mail server last accepted",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }

    /// What `promtool check metrics` asks of every sample: a HELP and a TYPE line under the
    /// name it carries (histograms: the family's name before `_bucket`, `_sum`, `_count`).
    /// The live check with promtool itself is in tests/monitoring.rs.
    #[test]
    fn every_sample_has_help_and_type_under_its_own_name() {
        let m = Metrics::new();
        m.marks.inc();
        m.mails.get_or_create(&MailResult { result: "sent".into() }).inc();
        m.directory_seconds
            .get_or_create(&Op { op: "mark".into() })
            .observe(0.002);
        m.deadline
            .get_or_create(&CampaignName { campaign: "c".into() })
            .set(1_800_000_000);
        let text = m.encode();
        assert!(!text.contains("# EOF"), "{text}");
        let described = |kind: &str, name: &str| text.lines().any(|l| l.starts_with(&format!("# {kind} {name} ")));
        let mut samples = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let histogram = |f: &&str| text.lines().any(|l| l == format!("# TYPE {f} histogram"));
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(histogram))
                .unwrap_or(name);
            assert!(described("HELP", family), "no HELP for {name} in\n{text}");
            assert!(described("TYPE", family), "no TYPE for {name} in\n{text}");
            samples += 1;
        }
        assert!(samples >= 4, "{text}");
        assert!(
            text.contains("# TYPE pwresetd_marks_total counter\npwresetd_marks_total 1"),
            "{text}"
        );
    }
}
