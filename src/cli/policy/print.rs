//! How `pwresetd policy check|show` print: text for people, JSON for scripts (fields in the
//! documented order). The sentences are the portal's English catalogue's
//! ([`crate::portal::wording`]): one text per rule, here and on the form. Must not decide.

use std::io::Write;

use serde::Serialize;

use super::Floor;
use crate::policy::{Policy, RuleId, Verdict};
use crate::portal::lang::FALLBACK;
use crate::portal::wording;

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Format {
    pub(super) fn from_flag(json: bool) -> Self {
        if json { Self::Json } else { Self::Text }
    }
}

/// `policy check --json`: `{"accepted": bool, "violations": [{"rule", "message"}]}`.
#[derive(Serialize)]
struct VerdictJson {
    accepted: bool,
    violations: Vec<Violation>,
}

#[derive(Serialize)]
struct Violation {
    rule: RuleId,
    message: String,
}

/// `policy show --json`: `[{"rule", "text", "source"}]`.
#[derive(Serialize)]
struct Rule {
    rule: RuleId,
    text: String,
    source: String,
}

/// Prints a verdict: one line per violation in text, or the JSON object.
pub fn print_verdict(verdict: &Verdict, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let violations = verdict
                .violations()
                .iter()
                .map(|v| Violation {
                    rule: v.rule,
                    message: wording::english(&v.reason),
                })
                .collect();
            let json = VerdictJson {
                accepted: verdict.is_accepted(),
                violations,
            };
            writeln!(out, "{}", serde_json::to_string(&json)?)?;
        }
        Format::Text if verdict.is_accepted() => {
            writeln!(out, "Accepted: the password meets every rule in force.")?;
        }
        Format::Text => {
            let n = verdict.violations().len();
            writeln!(out, "Refused: {n} rule{} broken.", if n == 1 { "" } else { "s" })?;
            for v in verdict.violations() {
                writeln!(out, "  {}: {}", v.rule, wording::english(&v.reason))?;
            }
        }
    }
    Ok(())
}

/// Prints the rules in force, each with where it comes from.
pub fn show(policy: &Policy, floor: &Floor, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    let effective = policy.effective(floor.rules());
    match format {
        Format::Json => {
            let rules: Vec<Rule> = effective
                .rules()
                .into_iter()
                .map(|r| Rule {
                    rule: r.rule,
                    text: wording::requirement(FALLBACK, &r.requirement),
                    source: r.source,
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string(&rules)?)?;
        }
        Format::Text => {
            writeln!(
                out,
                "A new password must meet these rules (pwresetd's [policy] with the directory's own as a floor):"
            )?;
            for line in effective.report(|r| wording::requirement(FALLBACK, r)) {
                writeln!(out, "  - {line}")?;
            }
            match floor {
                Floor::NoDirectory => writeln!(out, "No directory configured: its own rules are not included.")?,
                Floor::Unknown => writeln!(
                    out,
                    "The directory's own rules are unknown (none, or not readable by the service account: \
                     see `pwresetd check-config`); a password it refuses is refused after it was typed."
                )?,
                Floor::Rules(_) => {}
            }
        }
    }
    Ok(())
}
