//! What a password form shows (`reset.html` for the link, `change.html` for `/change`): the
//! view the templates receive, with the rules in force and the refusals of the last attempt in
//! the page's language. Like every view of [`super::pages`], it has no field for a password.

use serde::Serialize;

use super::lang::tr;
use super::wording;
use crate::policy::{Advice, RuleDescription, RuleId, Violation};

/// Errors attached to the fields of a form.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FieldErrors {
    pub login: Option<String>,
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub confirm_password: Option<String>,
}

/// A password form (`reset.html` or `change.html`).
#[derive(Debug, Clone, Serialize)]
pub struct FormView {
    pub title: String,
    /// The account's login (link flow) or what was typed (current-password flow).
    pub login: String,
    /// Where the form posts to.
    pub action: String,
    pub needs_current: bool,
    /// The rules in force for the account (`[policy]` with the directory's own as a floor), in
    /// the page's language.
    pub rules: Vec<ShownRule>,
    /// The advice under the rules; never suggests what one of them refuses.
    pub advice: String,
    /// Rule ids that the last attempt broke.
    pub failed: Vec<RuleId>,
    pub errors: Vec<String>,
    pub field_errors: FieldErrors,
    pub csrf: String,
}

/// A rule as a form lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ShownRule {
    pub rule: RuleId,
    pub text: String,
}

impl FormView {
    /// Lists `rules` and `advice` in `lang`.
    pub fn with_rules(mut self, lang: &str, rules: &[RuleDescription], advice: Advice) -> Self {
        self.rules = rules
            .iter()
            .map(|r| ShownRule {
                rule: r.rule,
                text: wording::requirement(lang, &r.requirement),
            })
            .collect();
        self.advice = wording::advice(lang, advice);
        self
    }

    /// Lists every violation in `lang`, at the top and on the new-password field.
    pub fn with_violations(mut self, lang: &str, violations: &[Violation]) -> Self {
        self.failed = violations.iter().map(|v| v.rule).collect();
        self.errors
            .extend(violations.iter().map(|v| wording::reason(lang, &v.reason)));
        self.field_errors.new_password = Some(match violations.len() {
            1 => tr("form.violations.one", &[]),
            n => tr("form.violations.many", &[("count", &n.to_string())]),
        });
        self
    }
}

/// Which form a [`FormView`] is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    Link,
    Change,
}
