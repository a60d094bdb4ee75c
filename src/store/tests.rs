use super::*;
use crate::campaign::scope::{Account, ExclusionReason, ScanItem};
use crate::campaign::state::AccountState;

pub(super) fn spec(name: &str) -> CampaignSpec {
    CampaignSpec {
        name: name.into(),
        reason: "Targeted intrusion".into(),
        deadline: DateTime::parse_from_rfc3339("2026-12-04T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        scope: Scope {
            flavor: "openldap".into(),
            base_dn: "ou=people,dc=example,dc=org".into(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            exclude_filter: None,
            login_attribute: "uid".into(),
        },
    }
}

pub(super) fn account(login: &str, flagged: bool) -> ScanItem {
    ScanItem::InScope(Account {
        dn: format!("uid={login},ou=people,dc=example,dc=org"),
        login: login.into(),
        mail: vec![format!("{login}@example.org")],
        display_name: Some(login.to_uppercase()),
        given_name: None,
        surname: None,
        language: None,
        flagged,
        policy: None,
    })
}

pub(super) fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db")).unwrap();
    (dir, store)
}

#[test]
fn create_resume_and_mismatch() {
    let (_d, store) = open();
    let (c, o) = store.create_or_resume(&spec("a"), "test").unwrap();
    assert_eq!(o, Opened::Created);
    let (c2, o2) = store.create_or_resume(&spec("a"), "test").unwrap();
    assert_eq!((o2, c2.id), (Opened::Resumed, c.id));
    let mut other = spec("a");
    other.reason = "Other".into();
    other.scope.exclude_filter = Some("(employeeType=service)".into());
    match store.create_or_resume(&other, "test") {
        Err(StoreError::CampaignMismatch { differences, .. }) => {
            assert_eq!(differences.len(), 2, "{differences:?}");
            assert!(differences[0].starts_with("reason"));
            assert!(differences[1].starts_with("exclude_filter"));
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(store.campaigns().unwrap().len(), 1);
}

#[test]
fn scan_insert_is_idempotent_and_records_prior_flag() {
    let (_d, store) = open();
    let (c, _) = store.create_or_resume(&spec("a"), "test").unwrap();
    let items = vec![
        account("ann", false),
        account("bob", true),
        ScanItem::Excluded {
            dn: "uid=svc,ou=people,dc=example,dc=org".into(),
            login: Some("svc".into()),
            reason: ExclusionReason::ExcludeFilter,
        },
    ];
    let fresh = store.insert_scanned(c.id, &items).unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].dn, "uid=ann,ou=people,dc=example,dc=org");
    // Again, with bob's flag now unset (as if we marked and crashed): nothing new, prior kept.
    let again = store
        .insert_scanned(c.id, &[account("ann", true), account("bob", false)])
        .unwrap();
    assert!(again.is_empty());
    let bob = store.accounts_for("bob", None).unwrap();
    assert_eq!(bob.len(), 1);
    assert!(bob[0].prior_flagged);
    assert_eq!(bob[0].state, AccountState::Marked);
    let counts = store.counts(c.id).unwrap();
    assert_eq!(counts[&AccountState::Pending], 1);
    assert_eq!(counts[&AccountState::Marked], 1);
    assert_eq!(counts[&AccountState::Excluded], 1);
    assert_eq!(store.exclusions(c.id).unwrap()["exclude_filter"], 1);
}

#[test]
fn record_results_and_retry_failed() {
    let (_d, store) = open();
    let (c, _) = store.create_or_resume(&spec("a"), "test").unwrap();
    let fresh = store
        .insert_scanned(c.id, &[account("ann", false), account("cid", false)])
        .unwrap();
    store
        .record(&[
            Update::new(fresh[0].id, AccountState::Marked, None),
            Update::new(
                fresh[1].id,
                AccountState::Failed,
                Some("insufficientAccessRights (50)".into()),
            ),
        ])
        .unwrap();
    let ann = &store.accounts_for("ann", None).unwrap()[0];
    assert!(ann.marked_at.is_some());
    let failed = store.accounts_in_state(c.id, AccountState::Failed, 10).unwrap();
    assert_eq!(failed[0].last_error.as_deref(), Some("insufficientAccessRights (50)"));
    assert_eq!(store.retry_failed(c.id).unwrap(), 1);
    let work = store.work_after(c.id, &[AccountState::Pending], 0, 10).unwrap();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].dn, "uid=cid,ou=people,dc=example,dc=org");
    assert!(
        store
            .work_after(c.id, &[AccountState::Pending], work[0].id, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn reopen_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let store = Store::open(&path).unwrap();
        store.create_or_resume(&spec("a"), "test").unwrap();
        store
            .audit(&AuditEntry {
                at: Utc::now(),
                actor: "cli:root".into(),
                action: "campaign.start".into(),
                campaign: Some("a".into()),
                account: None,
                detail: None,
            })
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.campaigns().unwrap().len(), 1);
    assert_eq!(store.audit_trail(Some("a"), None).unwrap().len(), 1);
    assert!(store.audit_trail(Some("b"), None).unwrap().is_empty());
}

#[test]
fn open_in_missing_directory_names_it() {
    let err = Store::open(Path::new("/nonexistent/dir/state.db")).err().unwrap();
    assert!(err.to_string().contains("/nonexistent/dir does not exist"), "{err}");
}

#[test]
fn guarded_updates_lose_to_changes_made_meanwhile() {
    let (_d, store) = open();
    let (c, _) = store.create_or_resume(&spec("a"), "test").unwrap();
    let fresh = store.insert_scanned(c.id, &[account("ann", false)]).unwrap();
    let id = fresh[0].id;
    let stale = Update {
        expected: Some(AccountState::Marked),
        ..Update::new(id, AccountState::Completed, None)
    };
    let audit = Some(("reconcile", "password.changed", "x".to_string()));
    store.record(&[Update { audit, ..stale }]).unwrap();
    let ann = &store.accounts_for("ann", None).unwrap()[0];
    assert_eq!(
        ann.state,
        AccountState::Pending,
        "the account was pending, not marked: nothing applied"
    );
    assert!(
        store.audit_trail(None, Some("ann")).unwrap().is_empty(),
        "no audit for an update not applied"
    );
    let current = Update {
        expected: Some(AccountState::Pending),
        ..Update::new(id, AccountState::Marked, None)
    };
    store.record(&[current]).unwrap();
    assert_eq!(store.accounts_for("ann", None).unwrap()[0].state, AccountState::Marked);
}
