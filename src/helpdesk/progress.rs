//! Campaign views: counts per top-level OU, completions over time (and their chart, an SVG
//! drawn here with presentation attributes only: no script, no style element, no external
//! asset, so the CSP `default-src 'self'` lets it show), and account lists as CSV. Pure: the
//! store reads are the caller's.

use std::collections::HashMap;
use std::fmt::Write;

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use serde::Serialize;

use crate::campaign::state::AccountState;
use crate::directory::dn;
use crate::engine::Status;
use crate::store::{AccountRecord, Progress};

/// Accounts directly under the base DN are counted under this name.
pub const DIRECTLY_UNDER_BASE: &str = "(directly under the base DN)";

/// Counts for one top-level OU.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OuCount {
    pub ou: String,
    pub in_scope: u64,
    pub pending: u64,
    pub marked: u64,
    pub failed: u64,
    pub completed: u64,
    pub exempted: u64,
    /// Reverted or gone.
    pub other: u64,
}

/// One point of the completions curve: completed accounts by the end of the bucket at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub completed: u64,
}

/// What `GET /api/v1/campaigns/{name}/progress` answers.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignProgress {
    #[serde(flatten)]
    pub status: Status,
    pub by_ou: Vec<OuCount>,
    /// Bucket size of `completions`, in seconds (an hour, or a day for long campaigns).
    pub bucket_secs: i64,
    pub completions: Vec<Point>,
}

impl CampaignProgress {
    pub fn new(status: Status, base_dn: &str, raw: &Progress, now: DateTime<Utc>) -> Self {
        let (bucket, completions) = series(&raw.completions, status.created_at, now);
        CampaignProgress {
            by_ou: by_ou(base_dn, &raw.accounts),
            bucket_secs: bucket.num_seconds(),
            completions,
            status,
        }
    }
}

/// Counts per top-level OU under `base_dn`, largest first; excluded accounts are not counted.
///
/// An account's OU depends only on the DN of its parent entry (and whether that is the base),
/// so it is worked out once per parent, from the first account under it: parsing every DN was
/// most of the progress page's time at 100k accounts (a few hundred parents).
pub fn by_ou(base_dn: &str, accounts: &[(String, AccountState)]) -> Vec<OuCount> {
    let base_len = dn::parse(base_dn).map_or(0, |r| r.len());
    // Rows by lower-cased OU, and each parent DN's row: one hash lookup per account.
    let mut rows: Vec<OuCount> = Vec::new();
    let mut row_of_ou: HashMap<String, usize> = HashMap::new();
    let mut row_of_parent: HashMap<&str, usize> = HashMap::new();
    for (account_dn, state) in accounts {
        if !state.in_scope() {
            continue;
        }
        let mut row_of = |ou: String| {
            *row_of_ou.entry(ou.to_lowercase()).or_insert_with(|| {
                rows.push(OuCount {
                    ou,
                    ..OuCount::default()
                });
                rows.len() - 1
            })
        };
        let row = match parent(account_dn) {
            Some(p) => match row_of_parent.get(p) {
                Some(&row) => row,
                None => {
                    let row = row_of(ou_of(account_dn, base_dn, base_len));
                    row_of_parent.insert(p, row);
                    row
                }
            },
            None => row_of(ou_of(account_dn, base_dn, base_len)),
        };
        let c = &mut rows[row];
        c.in_scope += 1;
        match state {
            AccountState::Pending => c.pending += 1,
            AccountState::Marked => c.marked += 1,
            AccountState::Failed => c.failed += 1,
            AccountState::Completed => c.completed += 1,
            AccountState::Exempted => c.exempted += 1,
            _ => c.other += 1,
        }
    }
    rows.sort_by(|a, b| b.in_scope.cmp(&a.in_scope).then_with(|| a.ou.cmp(&b.ou)));
    rows
}

/// The top-level OU (under `base_dn`, of `base_len` RDNs) an account's DN counts under.
fn ou_of(account_dn: &str, base_dn: &str, base_len: usize) -> String {
    let depth = dn::parse(account_dn).map_or(0, |r| r.len());
    match dn::child_of(account_dn, base_dn) {
        Some(_) if depth == base_len + 1 => DIRECTLY_UNDER_BASE.to_owned(),
        Some(child) => child,
        None => "(outside the base DN)".to_owned(),
    }
}

/// The DN of an account's parent entry: the text after the first RDN's separator (a `,` not
/// escaped with `\` nor inside quotes); `None` when the DN has one RDN, has an empty parent or
/// cannot be split this simply (then the account's DN is worked out alone).
fn parent(account_dn: &str) -> Option<&str> {
    let (mut escaped, mut quoted) = (false, false);
    for (i, b) in account_dn.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => return Some(&account_dn[i + 1..]).filter(|p| !p.trim().is_empty()),
            _ => {}
        }
    }
    None
}

/// Cumulative completions per hour (per day when the campaign is older than 3 days), from the
/// campaign's start to `now`. `completions` must be sorted.
pub fn series(completions: &[DateTime<Utc>], start: DateTime<Utc>, now: DateTime<Utc>) -> (Duration, Vec<Point>) {
    let end = now.max(completions.last().copied().unwrap_or(now)).max(start);
    let bucket = if end - start > Duration::days(3) {
        Duration::days(1)
    } else {
        Duration::hours(1)
    };
    let first = start.duration_trunc(bucket).unwrap_or(start);
    let mut points = Vec::new();
    let mut t = first;
    let mut done = 0usize;
    // At most a year of days or of hours: bounded whatever the dates say.
    while t <= end && points.len() < 9000 {
        let bucket_end = t + bucket;
        while done < completions.len() && completions[done] < bucket_end {
            done += 1;
        }
        points.push(Point {
            at: bucket_end.min(end),
            completed: done as u64,
        });
        t = bucket_end;
    }
    (bucket, points)
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The completions chart: a step line of completed accounts over time against the accounts in
/// scope, with the deadline marked when it falls inside.
pub fn chart_svg(
    title: &str,
    points: &[Point],
    in_scope: u64,
    start: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> String {
    const W: f64 = 720.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 28.0;
    const BOTTOM: f64 = 36.0;
    let end = points.last().map_or(start, |p| p.at).max(start + Duration::hours(1));
    let span = (end - start).num_seconds().max(1) as f64;
    let top = in_scope.max(1) as f64;
    let x = |t: DateTime<Utc>| LEFT + ((t - start).num_seconds().max(0) as f64 / span) * (W - LEFT - RIGHT);
    let y = |n: u64| TOP + (1.0 - n as f64 / top) * (H - TOP - BOTTOM);
    let mut path = format!("M{:.1},{:.1}", x(start), y(0));
    let mut last = 0;
    for p in points {
        let _ = write!(path, " V{:.1} H{:.1}", y(last), x(p.at));
        last = p.completed;
    }
    let _ = write!(path, " V{:.1}", y(last));
    let done = points.last().map_or(0, |p| p.completed);
    let pct = if in_scope == 0 {
        0.0
    } else {
        100.0 * done as f64 / in_scope as f64
    };
    let label = format!("{title}: {done} of {in_scope} accounts changed their password ({pct:.0}%)");
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{label}" font-family="sans-serif" font-size="12">
<title>{label}</title>
<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>
<line x1="{LEFT}" y1="{y0:.1}" x2="{xr:.1}" y2="{y0:.1}" stroke="#6b7280"/>
<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{y0:.1}" stroke="#6b7280"/>
<line x1="{LEFT}" y1="{TOP}" x2="{xr:.1}" y2="{TOP}" stroke="#d1d5db" stroke-dasharray="4 4"/>
<text x="{lx:.1}" y="{ty:.1}" text-anchor="end" fill="#374151">{in_scope}</text>
<text x="{lx:.1}" y="{by:.1}" text-anchor="end" fill="#374151">0</text>
<text x="{LEFT}" y="{xl:.1}" fill="#374151">{from}</text>
<text x="{xr:.1}" y="{xl:.1}" text-anchor="end" fill="#374151">{to}</text>
<text x="{LEFT}" y="16" fill="#111827" font-weight="bold">{heading}</text>
"##,
        label = esc(&label),
        heading = esc(&format!("Completed: {done} / {in_scope} ({pct:.0}%)")),
        y0 = y(0),
        xr = W - RIGHT,
        lx = LEFT - 6.0,
        ty = TOP + 4.0,
        by = y(0) + 4.0,
        xl = H - 12.0,
        from = start.format("%Y-%m-%d %H:%M UTC"),
        to = end.format("%Y-%m-%d %H:%M UTC"),
    );
    if deadline > start && deadline <= end {
        let dx = x(deadline);
        let _ = write!(
            s,
            r##"<line x1="{dx:.1}" y1="{TOP}" x2="{dx:.1}" y2="{y0:.1}" stroke="#b91c1c" stroke-dasharray="6 3"/>
<text x="{tx:.1}" y="{ty:.1}" fill="#b91c1c">deadline</text>
"##,
            y0 = y(0),
            tx = dx + 4.0,
            ty = TOP + 14.0,
        );
    }
    let _ = write!(
        s,
        r##"<path d="{path}" fill="none" stroke="#1d4ed8" stroke-width="2"/>
</svg>
"##
    );
    s
}

/// One CSV field: quoted when needed, and made inert for spreadsheets (a value starting with
/// `=`, `+`, `-`, `@`, tab or CR would be read as a formula: it gets a leading `'`).
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Columns of an exported list.
pub const CSV_HEADER: &str = "login,display_name,mail,dn,state,deadline,marked_at,last_error";

/// An account list as CSV (RFC 4180, CRLF line ends).
pub fn csv(records: &[AccountRecord]) -> String {
    let mut out = String::with_capacity(64 + records.len() * 160);
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    let t = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    for r in records {
        let cells = [
            r.login.clone().unwrap_or_default(),
            r.display_name.clone().unwrap_or_default(),
            r.mail.join(" "),
            r.dn.clone(),
            r.state.as_str().to_owned(),
            t(Some(r.effective_deadline())),
            t(r.marked_at),
            r.last_error.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn counts_per_ou() {
        let base = "ou=people,dc=example,dc=org";
        let a = |dn: &str, s| (format!("{dn},{base}"), s);
        use AccountState::*;
        let accounts = [
            a("uid=a,ou=Sales", Marked),
            a("uid=b,ou=sales", Completed),
            a("uid=c,ou=sub,ou=Sales", Pending),
            a("uid=d,ou=IT", Exempted),
            a("uid=e,ou=IT", Excluded),
            a("uid=f", Failed),
            ("uid=g,dc=other".into(), Gone),
        ];
        let got = by_ou(base, &accounts);
        let row = |ou: &str| got.iter().find(|c| c.ou.eq_ignore_ascii_case(ou)).cloned().unwrap();
        assert_eq!(got[0].in_scope, 3, "largest first: {got:?}");
        let sales = row("ou=Sales");
        assert_eq!((sales.marked, sales.completed, sales.pending), (1, 1, 1));
        assert_eq!(row("ou=IT").in_scope, 1, "excluded accounts are not counted");
        assert_eq!(row(DIRECTLY_UNDER_BASE).failed, 1);
        assert_eq!(row("(outside the base DN)").other, 1);
    }

    #[test]
    fn accounts_count_under_their_own_parent_whatever_their_first_rdn() {
        let base = "ou=people,dc=example,dc=org";
        use AccountState::*;
        // Escaped commas in a first RDN are not separators: `uid=x\,ou=IT` sits directly under
        // the base, and the real ou=IT account after it still counts under ou=IT.
        let accounts: Vec<(String, AccountState)> = [
            r"uid=x\,ou=IT,ou=people,dc=example,dc=org",
            "uid=w,ou=IT,ou=people,dc=example,dc=org",
            r"uid=Doe\, John,ou=Sales,ou=people,dc=example,dc=org",
            "cn=a+uid=b,ou=Sales,ou=people,dc=example,dc=org",
            "uid=y,OU=People,DC=example,DC=org",
            "uid=z,dc=example,dc=org",
            "uid=solo",
        ]
        .into_iter()
        .map(|dn| (dn.to_owned(), Marked))
        .collect();
        let got: Vec<(String, u64)> = by_ou(base, &accounts).into_iter().map(|c| (c.ou, c.in_scope)).collect();
        let want = [
            ("(directly under the base DN)", 2),
            ("(outside the base DN)", 2),
            ("ou=Sales", 2),
            ("ou=IT", 1),
        ]
        .map(|(ou, n)| (ou.to_owned(), n));
        assert_eq!(got, want);
    }

    #[test]
    fn series_is_cumulative_and_bucketed() {
        let start = t("2026-11-27T08:10:00Z");
        let done = [
            t("2026-11-27T08:20:00Z"),
            t("2026-11-27T08:59:59Z"),
            t("2026-11-27T10:05:00Z"),
        ];
        let (bucket, points) = series(&done, start, t("2026-11-27T10:30:00Z"));
        assert_eq!(bucket, Duration::hours(1));
        let counts: Vec<u64> = points.iter().map(|p| p.completed).collect();
        assert_eq!(counts, [2, 2, 3]);
        assert_eq!(points[2].at, t("2026-11-27T10:30:00Z"));
        let (bucket, points) = series(&done, start, t("2026-12-04T17:00:00Z"));
        assert_eq!(bucket, Duration::days(1));
        assert_eq!(points.len(), 8);
        assert_eq!(points[0].completed, 3);
        assert!(series(&[], start, start).1.len() == 1);
    }

    #[test]
    fn chart_is_self_contained_svg() {
        let start = t("2026-11-27T08:00:00Z");
        let (_, points) = series(&[t("2026-11-27T09:00:00Z")], start, t("2026-11-27T12:00:00Z"));
        let svg = chart_svg("<incident>", &points, 4, start, t("2026-11-27T11:00:00Z"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("1 of 4 accounts changed their password (25%)"));
        assert!(svg.contains("&lt;incident&gt;") && !svg.contains("<incident>"));
        assert!(svg.contains("deadline"));
        for banned in ["<script", "<style", "style=", "href", "url("] {
            assert!(!svg.contains(banned), "{banned}");
        }
    }

    #[test]
    fn csv_quotes_and_defuses() {
        for (value, expected) in [
            ("plain", "plain"),
            ("Doe, John", "\"Doe, John\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\""),
            ("-1", "'-1"),
            ("@sum", "'@sum"),
            ("two\nlines", "\"two\nlines\""),
        ] {
            assert_eq!(field(value), expected, "{value}");
        }
        assert_eq!(csv(&[]), format!("{CSV_HEADER}\r\n"));
    }
}
