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
    // 2: notifications (intent before sending, result after) and one-time link tokens.
    r#"
    CREATE TABLE notifications (
        id          INTEGER PRIMARY KEY,
        account_id  INTEGER NOT NULL REFERENCES accounts(id),
        kind        TEXT NOT NULL,
        step        INTEGER NOT NULL,
        state       TEXT NOT NULL,
        recipient   TEXT,
        message_id  TEXT,
        error       TEXT,
        created_at  TEXT NOT NULL,
        finished_at TEXT,
        UNIQUE (account_id, kind, step)
    );
    CREATE INDEX notifications_by_state ON notifications (state);
    CREATE TABLE tokens (
        hash        TEXT PRIMARY KEY,
        account_id  INTEGER NOT NULL REFERENCES accounts(id),
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        used_at     TEXT,
        revoked_at  TEXT
    );
    CREATE INDEX tokens_by_account ON tokens (account_id);
    ALTER TABLE accounts ADD COLUMN deadline TEXT;
    "#,
    // 3: argon2id hashes of passwords set through pwresetd, per account DN (lower case).
    r#"
    CREATE TABLE password_history (
        id         INTEGER PRIMARY KEY,
        dn         TEXT NOT NULL,
        phc        TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX password_history_by_dn ON password_history (dn, id);
    "#,
    // 4: one process works a campaign at a time.
    r#"
    CREATE TABLE leases (
        campaign_id INTEGER PRIMARY KEY REFERENCES campaigns(id),
        holder      TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    );
    "#,
    // 5: helpdesk: audit by campaign (the campaign's trail), completions over time.
    r#"
    CREATE INDEX audit_by_campaign ON audit (campaign, id);
    CREATE INDEX accounts_by_completion ON accounts (campaign_id, completed_at);
    "#,
    // 6: the deadline's action per campaign; per account, the lock the deadline set and the
    //    lock state found before it (so that revert and unlock restore exactly that).
    r#"
    ALTER TABLE campaigns ADD COLUMN at_deadline TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE campaigns ADD COLUMN grace_secs INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE accounts ADD COLUMN lock_state TEXT;
    ALTER TABLE accounts ADD COLUMN prior_locked INTEGER;
    ALTER TABLE accounts ADD COLUMN locked_at TEXT;
    ALTER TABLE accounts ADD COLUMN locked_by TEXT;
    CREATE INDEX accounts_by_lock ON accounts (campaign_id, lock_state, id);
    "#,
    // 7: the audit trail's hash chain; the records already there are chained by
    // `audit::chain_existing` right after this step, in the same transaction (AUDIT_CHAINED).
    r#"
    ALTER TABLE audit ADD COLUMN prev TEXT;
    ALTER TABLE audit ADD COLUMN hash TEXT;
    "#,
    // 8: the audit trail is append-only: no update or delete, whatever the caller, and no
    //    record outside the chain.
    r#"
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_chained_only BEFORE INSERT ON audit WHEN NEW.hash IS NULL
        BEGIN SELECT RAISE(ABORT, 'audit records are written through the chain (store::audit::append)'); END;
    "#,
    // 9: who undid an account's deadline lock and when (the helpdesk's unlock, an exemption, a
    //    revert): the account view shows it, and the deadline run never locks it again.
    r#"
    ALTER TABLE accounts ADD COLUMN unlocked_at TEXT;
    ALTER TABLE accounts ADD COLUMN unlocked_by TEXT;
    "#,
    // 10: the helpdesk's search by any part of a login, display name or mail address: a
    //    trigram index (case-insensitive), kept by triggers, filled for the accounts already
    //    there. Contentless: the text stays in `accounts`. And the labels of every mail sent
    //    (its reference code, Message-ID and link's token hash), for "is this mail ours?".
    r#"
    CREATE VIRTUAL TABLE accounts_search USING fts5(
        login, display_name, mail, content = '', contentless_delete = 1, tokenize = 'trigram');
    INSERT INTO accounts_search (rowid, login, display_name, mail)
        SELECT id, login, display_name, (SELECT group_concat(value, ' ') FROM json_each(accounts.mail))
        FROM accounts;
    CREATE TRIGGER accounts_search_insert AFTER INSERT ON accounts BEGIN
        INSERT INTO accounts_search (rowid, login, display_name, mail) VALUES (NEW.id, NEW.login,
            NEW.display_name, (SELECT group_concat(value, ' ') FROM json_each(NEW.mail)));
    END;
    CREATE TRIGGER accounts_search_update AFTER UPDATE OF login, display_name, mail ON accounts BEGIN
        DELETE FROM accounts_search WHERE rowid = OLD.id;
        INSERT INTO accounts_search (rowid, login, display_name, mail) VALUES (NEW.id, NEW.login,
            NEW.display_name, (SELECT group_concat(value, ' ') FROM json_each(NEW.mail)));
    END;
    CREATE TRIGGER accounts_search_delete AFTER DELETE ON accounts BEGIN
        DELETE FROM accounts_search WHERE rowid = OLD.id;
    END;
    CREATE TABLE mail_labels (
        id              INTEGER PRIMARY KEY,
        notification_id INTEGER NOT NULL REFERENCES notifications(id),
        reference       TEXT NOT NULL UNIQUE,
        message_id      TEXT NOT NULL,
        token_hash      TEXT,
        created_at      TEXT NOT NULL
    );
    CREATE INDEX mail_labels_by_message_id ON mail_labels (message_id);
    CREATE INDEX mail_labels_by_token ON mail_labels (token_hash);
    "#,
    // 11: the point (deadline − offset) each reminder was sent for, so that a later deadline
    //     re-arms the reminders (campaign::schedule); NULL for other mails and older reminders.
    r#"
    ALTER TABLE notifications ADD COLUMN point TEXT;
    "#,
    // 12: a foreground command waiting for the service's lease on a campaign: the service
    //     hands the lease over to it at its next stop (store/lease.rs).
    r#"
    ALTER TABLE leases ADD COLUMN wanted_by TEXT;
    ALTER TABLE leases ADD COLUMN wanted_until TEXT;
    "#,
    // 13: the helpdesk's account view looks an account up by DN across campaigns; the unique
    //     (campaign_id, dn) index cannot serve that, so at 100k accounts it was a full scan.
    r#"
    CREATE INDEX accounts_by_dn ON accounts (dn);
    "#,
    // 14: state several `serve` instances share and a restart keeps: the rate limits' buckets
    //     (store/rate_limits.rs; keys are SHA-256 hashes, times milliseconds since the epoch),
    //     the helpdesk's web sessions (store/sessions.rs; keyed by the hash of the id) and the
    //     budget of failed password binds with its reservations (store/bind_budget.rs), and
    //     the keys every instance must hold alike (store/secrets.rs: the CSRF keys), and the
    //     claims on accounts while a change or action is in flight (store/claims.rs).
    r#"
    CREATE TABLE rate_limits (
        key      TEXT PRIMARY KEY,
        tat      BIGINT NOT NULL,
        refusals BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX rate_limits_by_tat ON rate_limits (tat);
    CREATE TABLE helpdesk_sessions (
        id_hash             TEXT PRIMARY KEY,
        login               TEXT NOT NULL,
        dn                  TEXT NOT NULL,
        operator            BOOLEAN NOT NULL,
        flagged             BOOLEAN NOT NULL,
        password_changed_at TEXT,
        standing_checked    BIGINT NOT NULL,
        checked_at          BIGINT NOT NULL,
        created_at          BIGINT NOT NULL,
        last_seen           BIGINT NOT NULL,
        expires_at          BIGINT NOT NULL,
        flash               TEXT
    );
    CREATE INDEX helpdesk_sessions_by_expiry ON helpdesk_sessions (expires_at);
    CREATE INDEX helpdesk_sessions_by_last_seen ON helpdesk_sessions (last_seen);
    CREATE TABLE bind_budget (
        key        TEXT PRIMARY KEY,
        failures   BIGINT NOT NULL,
        expires_at BIGINT,
        in_flight  BIGINT NOT NULL
    );
    CREATE INDEX bind_budget_by_expiry ON bind_budget (expires_at);
    CREATE TABLE bind_reservations (
        id          TEXT PRIMARY KEY,
        key         TEXT NOT NULL,
        reserved_at BIGINT NOT NULL,
        window_ms   BIGINT NOT NULL
    );
    CREATE INDEX bind_reservations_by_time ON bind_reservations (reserved_at);
    CREATE TABLE shared_secrets (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE claims (
        key        TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    "#,
    // 15: the lease's fencing epoch, raised each time the lease passes to another holder; a
    //     holder's campaign writes carry it and are refused once it moved on (store/fence.rs).
    r#"
    ALTER TABLE leases ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
    "#,
    // 16: passwords the portal sent to the directory without confirming them, as argon2id PHC
    //     strings with an expiry, shared by every instance (store/unconfirmed.rs).
    r#"
    CREATE TABLE unconfirmed_passwords (
        dn_key     TEXT PRIMARY KEY,
        phc        TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX unconfirmed_passwords_by_expiry ON unconfirmed_passwords (expires_at);
    "#,
    // 17: Active Directory's DONT_EXPIRE_PASSWORD clear-and-restore ledger, shared by every
    //     instance (store/dont_expire.rs; until now a SQLite file per host, imported on first use).
    r#"
    CREATE TABLE dont_expire_ledger (
        dn_key            TEXT PRIMARY KEY,
        dn                TEXT NOT NULL,
        pwd_last_set_zero BIGINT NOT NULL,
        cleared_at        TEXT NOT NULL
    );
    "#,
    // 18: the portal's administrative password writes from just before each is sent until its
    //     change is recorded, so that reconciliation and a retry can tell a change the portal
    //     made but did not finish (killed between the write and the flag's clear) from another
    //     (store/portal_writes.rs).
    r#"
    CREATE TABLE portal_writes (
        dn_key     TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        phc        TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at   BIGINT
    );
    CREATE INDEX portal_writes_by_start ON portal_writes (started_at);
    "#,
];

/// The schema version after which the records written before the chain are chained.
pub(super) const AUDIT_CHAINED: usize = 7;
