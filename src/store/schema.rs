//! Schema migrations, applied in order; `PRAGMA user_version` records how many ran.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: campaigns, their accounts, the audit trail.
    r#"
    CREATE TABLE campaigns (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        reason        TEXT NOT NULL,
        deadline      TEXT NOT NULL,
        scope         TEXT NOT NULL,
        state         TEXT NOT NULL,
        scan_complete INTEGER NOT NULL DEFAULT 0,
        created_at    TEXT NOT NULL,
        created_by    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE TABLE accounts (
        id              INTEGER PRIMARY KEY,
        campaign_id     INTEGER NOT NULL REFERENCES campaigns(id),
        dn              TEXT NOT NULL,
        login           TEXT,
        mail            TEXT NOT NULL DEFAULT '[]',
        display_name    TEXT,
        language        TEXT,
        state           TEXT NOT NULL,
        prior_flagged   INTEGER NOT NULL DEFAULT 0,
        excluded_reason TEXT,
        last_error      TEXT,
        marked_at       TEXT,
        completed_at    TEXT,
        completed_via   TEXT,
        updated_at      TEXT NOT NULL,
        UNIQUE (campaign_id, dn)
    );
    CREATE INDEX accounts_by_state ON accounts (campaign_id, state, id);
    CREATE INDEX accounts_by_login ON accounts (login);
    CREATE TABLE audit (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        actor    TEXT NOT NULL,
        action   TEXT NOT NULL,
        campaign TEXT,
        account  TEXT,
        detail   TEXT
    );
    CREATE INDEX audit_by_account ON audit (account, id);
    "#,
];
