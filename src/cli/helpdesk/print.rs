//! How `pwresetd helpdesk …` prints the server's answers for a person (`--json` prints them as
//! they are). Must not talk to the server.

use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn print_done(v: &Value) {
    println!("{}", s(&v["message"]));
    println!(
        "  {} in {}: {}, deadline {}",
        s(&v["login"]),
        s(&v["campaign"]),
        s(&v["state"]),
        s(&v["deadline"])
    );
}

pub(super) fn print_search(v: &Value) {
    let results = v["results"].as_array().cloned().unwrap_or_default();
    if results.is_empty() {
        println!("No account matches {}.", s(&v["query"]));
    }
    for r in results {
        let campaigns: Vec<String> = r["campaigns"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| format!("{}:{}", s(&c["campaign"]), s(&c["state"])))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{:<20} {:<28} {:<32} {}",
            s(&r["login"]),
            s(&r["display_name"]),
            r["mail"]
                .as_array()
                .map(|m| m.iter().map(s).collect::<Vec<_>>().join(","))
                .unwrap_or_default(),
            campaigns.join(" ")
        );
    }
    if let Some(next) = v["next_offset"].as_u64() {
        println!("(more match: the next page is --offset {next})");
    }
    if v["directory_truncated"] == Value::Bool(true) {
        println!("(the directory has more matches than one search reads: type more to find accounts in no campaign)");
    }
    if let Some(e) = v["directory_error"].as_str() {
        println!("(the directory could not be searched: {e}; only accounts in campaigns are listed)");
    }
}

pub(super) fn print_mail_check(v: &Value) {
    println!("{}", s(&v["message"]));
    let m = &v["mail"];
    if m.is_object() {
        for (label, key) in [
            ("recipient", "recipient"),
            ("account", "login"),
            ("campaign", "campaign"),
            ("kind", "kind"),
            ("sent at", "sent_at"),
            ("state", "state"),
            ("link", "link"),
            ("link expires", "link_expires_at"),
            ("reference", "reference"),
            ("Message-ID", "message_id"),
        ] {
            println!("  {label:<18} {}", s(&m[key]));
        }
    }
}

pub(super) fn print_account(v: &Value) {
    println!("Account {}", s(&v["login"]));
    if let Some(e) = v["directory_error"].as_str() {
        println!("  directory          unavailable: {e}");
    }
    let d = &v["directory"];
    if d.is_null() {
        println!("  directory          not found");
    } else {
        println!("  DN                 {}", s(&d["dn"]));
        println!("  display name       {}", s(&d["display_name"]));
        let mail: Vec<String> = d["mail"]
            .as_array()
            .map(|m| m.iter().map(s).collect())
            .unwrap_or_default();
        println!(
            "  mail               {}",
            if mail.is_empty() { "-".into() } else { mail.join(", ") }
        );
        println!(
            "  must change flag   {}",
            if d["flagged"] == Value::Bool(true) {
                "SET"
            } else {
                "not set"
            }
        );
        println!("  password changed   {}", s(&d["password_changed_at"]));
        println!(
            "  locked             {}",
            if d["locked"] == Value::Bool(true) {
                s(&d["locked_at"])
            } else {
                "no".into()
            }
        );
        println!("  failed binds       {}", s(&d["failure_count"]));
    }
    for c in v["campaigns"].as_array().cloned().unwrap_or_default() {
        println!("Campaign {} ({})", s(&c["campaign"]), s(&c["campaign_state"]));
        println!("  state              {}", s(&c["state"]));
        println!(
            "  deadline           {}{}",
            s(&c["deadline"]),
            if c["deadline_extended"] == Value::Bool(true) {
                " (extended)"
            } else {
                ""
            }
        );
        println!("  live link expires  {}", s(&c["live_link_expires_at"]));
        if !c["last_error"].is_null() {
            println!("  last error         {}", s(&c["last_error"]));
        }
        if c["lock"].is_object() {
            println!("  at the deadline    {}", lock_line(&c["lock"]));
        }
        let actions: Vec<String> = c["actions"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default();
        println!(
            "  actions            {}",
            if actions.is_empty() {
                "none".into()
            } else {
                actions.join(", ")
            }
        );
        for h in c["history"].as_array().cloned().unwrap_or_default() {
            println!(
                "  {}  {}  {}",
                s(&h["at"]),
                s(&h["what"]),
                h["detail"].as_str().unwrap_or("")
            );
        }
    }
}

/// The deadline's lock in words: its state, what set it, who undid it.
fn lock_line(lock: &Value) -> String {
    let what = if lock["set_by"] == "prior_lock" {
        "locked before the deadline, left as it was".to_owned()
    } else {
        format!(
            "{} by the campaign's deadline {}",
            s(&lock["action"]),
            s(&lock["locked_at"])
        )
    };
    match lock["state"].as_str() {
        Some("unlocked") => format!(
            "unlocked {} by {} ({what})",
            s(&lock["unlocked_at"]),
            s(&lock["unlocked_by"])
        ),
        state => format!("{} ({what})", state.unwrap_or("-").to_uppercase()),
    }
}
