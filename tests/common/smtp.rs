//! The SMTP capture server (scripts/smtp-start), one per test that needs it. Owned by the notify work.
