//! The dry run: what a campaign would cover, without writing anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::directory::{Directory, DirectoryError, ScanItem, Warning};

/// How many sample accounts a plan lists.
pub const SAMPLE_SIZE: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct SampleAccount {
    pub login: String,
    pub dn: String,
    pub flagged: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub in_scope: u64,
    /// In scope and already carrying the flag: they stay in and count as marked.
    pub already_flagged: u64,
    /// In scope without a mail address: they cannot be notified by email.
    pub without_mail: u64,
    pub excluded: u64,
    pub excluded_by_reason: BTreeMap<String, u64>,
    pub sample: Vec<SampleAccount>,
    pub warnings: Vec<Warning>,
    /// One account in scope under each password policy its accounts name (`None`: the
    /// directory's default), so that each policy's rules can be read (the preflight's
    /// effective policy).
    #[serde(skip)]
    pub policy_accounts: BTreeMap<Option<String>, String>,
}

/// Scans the scope and counts; nothing is written to the directory or the store.
pub async fn plan(dir: Arc<dyn Directory>) -> Result<Plan, DirectoryError> {
    let (tx, mut rx) = mpsc::channel(1024);
    let scanner = {
        let dir = dir.clone();
        tokio::spawn(async move { dir.scan(tx).await })
    };
    let mut plan = Plan::default();
    while let Some(item) = rx.recv().await {
        match item {
            ScanItem::InScope(a) => {
                plan.in_scope += 1;
                plan.already_flagged += u64::from(a.flagged);
                plan.without_mail += u64::from(a.mail.is_empty());
                plan.policy_accounts.entry(a.policy).or_insert_with(|| a.dn.clone());
                if plan.sample.len() < SAMPLE_SIZE {
                    plan.sample.push(SampleAccount {
                        login: a.login,
                        dn: a.dn,
                        flagged: a.flagged,
                    });
                }
            }
            ScanItem::Excluded { reason, .. } => {
                plan.excluded += 1;
                *plan.excluded_by_reason.entry(reason.as_str().to_owned()).or_default() += 1;
            }
        }
    }
    scanner.await.map_err(|e| DirectoryError::ConnectionLost {
        url: String::new(),
        op: "scan",
        message: e.to_string(),
    })??;
    let mut policies: BTreeSet<Option<String>> = plan.policy_accounts.keys().cloned().collect();
    if policies.is_empty() {
        policies.insert(None);
    }
    plan.warnings = dir.policy_warnings(&policies).await?;
    Ok(plan)
}
