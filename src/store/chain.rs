//! The audit trail's hash chain: what a record's hash covers and how a sequence of records is
//! verified. Pure: no database, no files (the store writes records, the CLI reads exports).
//!
//! Every record carries `hash` = SHA-256 over all its fields (id, time, actor, action, campaign,
//! account, detail) and `prev`, the hash of the record before it **in the same campaign's
//! chain** (records without a campaign form one chain of their own); a chain starts at
//! [`GENESIS`]. One chain per campaign keeps `audit export --campaign NAME` verifiable on its
//! own; ids rising strictly through a file tie the chains of a whole export together, so a
//! record moved across chains is caught too.
//!
//! What the chain proves: an export (or the store) has not been edited record by record. Whoever
//! can write the store can also recompute every hash after the record they change, and can drop
//! the newest records of a chain unseen; comparing the chain heads [`Verified`] reports with a
//! copy kept elsewhere (a ticket, a mail, an earlier export) closes that gap.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit record as the store keeps it and `audit export` writes it, one JSON object a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub id: i64,
    /// RFC 3339 with milliseconds, exactly as stored (the hash covers this text).
    pub at: String,
    pub actor: String,
    pub action: String,
    pub campaign: Option<String>,
    pub account: Option<String>,
    pub detail: Option<String>,
    pub prev: String,
    pub hash: String,
}

impl AuditRecord {
    /// The hash this record's content and `prev` call for (whatever its `hash` field says).
    /// Each field is length-prefixed, so no two different records encode alike.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"pwresetd-audit-v1\0");
        let id = self.id.to_string();
        let fields = [
            Some(id.as_str()),
            Some(self.at.as_str()),
            Some(self.actor.as_str()),
            Some(self.action.as_str()),
            self.campaign.as_deref(),
            self.account.as_deref(),
            self.detail.as_deref(),
            Some(self.prev.as_str()),
        ];
        for field in fields {
            match field {
                None => h.update(b"-"),
                Some(text) => {
                    h.update(format!("+{}:", text.len()).as_bytes());
                    h.update(text.as_bytes());
                }
            }
        }
        hex(&h.finalize())
    }

    /// Sets `hash` from the content and `prev`.
    pub fn seal(mut self) -> Self {
        self.hash = self.compute_hash();
        self
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Why a record does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("line {line}: not an audit record ({reason})")]
    Malformed { line: usize, reason: String },
    #[error("line {line}: record {id}'s content does not match its hash: it was changed")]
    Changed { line: usize, id: i64 },
    #[error(
        "line {line}: record {id} does not follow the record before it in its chain ({chain}): \
         a record was removed, added or moved before it"
    )]
    Unlinked { line: usize, id: i64, chain: String },
    #[error("line {line}: record {id} comes after record {previous}: records were added or reordered")]
    OutOfOrder { line: usize, id: i64, previous: i64 },
}

impl Broken {
    /// The 1-based line (position in the sequence) of the first record that does not verify.
    pub fn line(&self) -> usize {
        match self {
            Broken::Malformed { line, .. }
            | Broken::Changed { line, .. }
            | Broken::Unlinked { line, .. }
            | Broken::OutOfOrder { line, .. } => *line,
        }
    }
}

/// The chain name used in messages: the campaign, or "no campaign".
fn chain_name(campaign: Option<&str>) -> String {
    campaign.map_or_else(|| "no campaign".to_owned(), |c| format!("campaign {c:?}"))
}

/// Checks records one at a time, in the order of a file or of the store.
#[derive(Debug, Default)]
pub struct Verifier {
    heads: BTreeMap<Option<String>, (String, usize)>,
    last_id: Option<i64>,
    line: usize,
}

/// A sequence that verified: how many records, and each chain's newest hash and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: usize,
    /// (campaign, head hash, records in the chain), campaigns in name order.
    pub chains: Vec<(Option<String>, String, usize)>,
}

impl Verifier {
    /// Checks the next record: its hash, its link to its chain's head, its id after the last.
    pub fn push(&mut self, record: &AuditRecord) -> Result<(), Broken> {
        self.line += 1;
        let line = self.line;
        if record.compute_hash() != record.hash {
            return Err(Broken::Changed { line, id: record.id });
        }
        if let Some(previous) = self.last_id.filter(|p| record.id <= *p) {
            return Err(Broken::OutOfOrder {
                line,
                id: record.id,
                previous,
            });
        }
        let head = self.heads.get(&record.campaign).map_or(GENESIS, |(h, _)| h.as_str());
        if record.prev != head {
            return Err(Broken::Unlinked {
                line,
                id: record.id,
                chain: chain_name(record.campaign.as_deref()),
            });
        }
        let count = self.heads.get(&record.campaign).map_or(0, |(_, n)| *n);
        self.heads
            .insert(record.campaign.clone(), (record.hash.clone(), count + 1));
        self.last_id = Some(record.id);
        Ok(())
    }

    /// Parses one line of an export and checks it.
    pub fn push_line(&mut self, text: &str) -> Result<(), Broken> {
        match serde_json::from_str::<AuditRecord>(text) {
            Ok(record) => self.push(&record),
            Err(e) => Err(self.malformed(e.to_string())),
        }
    }

    /// Counts a line that could not be read as a record (e.g. not UTF-8): the refusal to report.
    pub fn malformed(&mut self, reason: String) -> Broken {
        self.line += 1;
        Broken::Malformed {
            line: self.line,
            reason,
        }
    }

    pub fn finish(self) -> Verified {
        Verified {
            records: self.line,
            chains: self
                .heads
                .into_iter()
                .map(|(campaign, (hash, n))| (campaign, hash, n))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records 1..=n alternating between campaigns "a" and "b", with one campaign-less record.
    pub(crate) fn sample(n: i64) -> Vec<AuditRecord> {
        let mut heads: BTreeMap<Option<String>, String> = BTreeMap::new();
        (1..=n)
            .map(|id| {
                let campaign = match id % 3 {
                    0 => None,
                    1 => Some("a".to_owned()),
                    _ => Some("b".to_owned()),
                };
                let prev = heads.get(&campaign).cloned().unwrap_or_else(|| GENESIS.into());
                let record = AuditRecord {
                    id,
                    at: format!("2026-12-01T10:00:{id:02}.000Z"),
                    actor: "cli:root".into(),
                    action: "campaign.start".into(),
                    campaign: campaign.clone(),
                    account: (id % 2 == 0).then(|| format!("user{id}")),
                    detail: Some(format!("detail {id}")),
                    prev,
                    hash: String::new(),
                }
                .seal();
                heads.insert(campaign, record.hash.clone());
                record
            })
            .collect()
    }

    fn verify(records: &[AuditRecord]) -> Result<Verified, Broken> {
        let mut v = Verifier::default();
        for r in records {
            v.push(r)?;
        }
        Ok(v.finish())
    }

    /// The line a tampered sequence is refused at (`None`: it verifies).
    fn check(records: &[AuditRecord], expected_line: Option<usize>) {
        let got = verify(records).err().map(|b| b.line());
        assert_eq!(got, expected_line, "{:?}", verify(records));
    }

    #[test]
    fn an_untouched_chain_verifies_with_its_heads() {
        let records = sample(9);
        let verified = verify(&records).unwrap();
        assert_eq!(verified.records, 9);
        let names: Vec<_> = verified.chains.iter().map(|(c, _, n)| (c.clone(), *n)).collect();
        assert_eq!(names, [(None, 3), (Some("a".into()), 3), (Some("b".into()), 3)]);
        assert_eq!(verified.chains[1].1, records[6].hash, "a's head is its newest record");
        check(&[], None);
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = sample(1).remove(0);
        let edits: [fn(&mut AuditRecord); 8] = [
            |r| r.id += 1,
            |r| r.at.push('Z'),
            |r| r.actor.push('x'),
            |r| r.action.push('x'),
            |r| r.campaign = None,
            |r| r.account = Some(String::new()),
            |r| r.detail = None,
            |r| r.prev = "1".repeat(64),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut r = base.clone();
            edit(&mut r);
            assert_ne!(r.compute_hash(), base.hash, "edit {i} left the hash unchanged");
        }
        // Length prefixes: moving text between fields changes the hash.
        let mut a = base.clone();
        (a.actor, a.action) = ("ab".into(), "c".into());
        let mut b = base.clone();
        (b.actor, b.action) = ("a".into(), "bc".into());
        assert_ne!(a.compute_hash(), b.compute_hash());
    }

    #[test]
    fn a_changed_record_is_named_by_its_own_line() {
        let mut records = sample(9);
        records[4].detail = Some("nothing happened".into());
        check(&records, Some(5));
        assert!(matches!(verify(&records), Err(Broken::Changed { line: 5, id: 5 })));
        // Re-sealed after the change: the next record of its chain no longer follows it.
        records[4] = records[4].clone().seal();
        check(&records, Some(8));
    }

    #[test]
    fn a_removed_record_breaks_the_link_of_the_next_in_its_chain() {
        let mut records = sample(9);
        records.remove(3); // id 4 (campaign a); id 7 (a) is now line 6.
        check(&records, Some(6));
        let mut records = sample(9);
        records.remove(0); // the first of chain a: id 4 no longer starts from GENESIS.
        check(&records, Some(3));
    }

    #[test]
    fn an_added_record_is_named_by_its_line() {
        let mut records = sample(9);
        let copy = records[1].clone();
        records.insert(5, copy);
        check(&records, Some(6));
        // A forged record appended with a fresh id but a stale link.
        let mut records = sample(9);
        let mut forged = records[3].clone();
        forged.id = 10;
        records.push(forged.seal());
        check(&records, Some(10));
    }

    #[test]
    fn reordered_records_are_refused() {
        let mut records = sample(9);
        records.swap(0, 3); // both campaign a: the link breaks at line 1
        check(&records, Some(1));
        let mut records = sample(9);
        records.swap(4, 5); // different chains: the ids go backwards at line 6
        check(&records, Some(6));
    }

    #[test]
    fn lines_that_are_not_records_are_named() {
        let mut v = Verifier::default();
        let line = serde_json::to_string(&sample(1)[0]).unwrap();
        v.push_line(&line).unwrap();
        let err = v.push_line("{\"id\": 2}").unwrap_err();
        assert_eq!(err.line(), 2);
        let mut v = Verifier::default();
        let extra = line.replacen('{', "{\"extra\":1,", 1);
        assert!(matches!(v.push_line(&extra), Err(Broken::Malformed { line: 1, .. })));
    }
}
