//! The `[campaign]` section.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, parse_duration};

/// The earliest a reminder may be: a year before the deadline (campaigns are weeks long).
const MAX_REMINDER: Duration = Duration::from_secs(365 * 86400);

/// The longest a campaign command waits for the service: past an hour a human is better told.
const MAX_SERVICE_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// Reminder offsets before the deadline, in the order they fall (largest first).
    pub reminders: Vec<Duration>,
    /// The largest share of the scope one deadline run may lock or disable (1.0: no guard).
    pub max_lock_fraction: f64,
    /// How long `campaign revert|notify|set|deadline --now` waits for the running service to
    /// hand the campaign over before giving up with exit 75 (0: does not wait).
    pub service_wait: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCampaign {
    reminders: Vec<String>,
    max_lock_fraction: f64,
    service_wait: String,
}

impl Default for RawCampaign {
    fn default() -> Self {
        RawCampaign {
            reminders: vec!["72h".into(), "24h".into()],
            max_lock_fraction: 0.5,
            service_wait: "2m".into(),
        }
    }
}

impl RawCampaign {
    pub fn validate(self) -> Result<CampaignConfig, ConfigError> {
        let mut reminders = Vec::new();
        for r in &self.reminders {
            let d = parse_duration("campaign.reminders", r)?;
            if d.is_zero() {
                return Err(ConfigError::invalid(
                    "campaign.reminders",
                    "a reminder of \"0s\" before the deadline is never sent",
                ));
            }
            if d > MAX_REMINDER {
                return Err(ConfigError::invalid(
                    "campaign.reminders",
                    format!("{r:?} is more than a year before the deadline; use \"365d\" or less"),
                ));
            }
            reminders.push(d);
        }
        if !(self.max_lock_fraction > 0.0 && self.max_lock_fraction <= 1.0) {
            return Err(ConfigError::invalid(
                "campaign.max_lock_fraction",
                format!(
                    "{} is not a share of the scope; write a number above 0 and at most 1.0 (1.0 turns the guard off)",
                    self.max_lock_fraction
                ),
            ));
        }
        let service_wait = parse_duration("campaign.service_wait", &self.service_wait)?;
        if service_wait > MAX_SERVICE_WAIT {
            return Err(ConfigError::invalid(
                "campaign.service_wait",
                format!("{:?} is more than an hour; write \"1h\" or less", self.service_wait),
            ));
        }
        Ok(CampaignConfig {
            reminders: super::schedule::ordered(&reminders),
            max_lock_fraction: self.max_lock_fraction,
            service_wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{check, parse};

    fn case(text: &str, expected: Result<(), (&str, &str)>) {
        check(text, parse(text, RawCampaign::validate), expected);
    }

    #[test]
    fn reminders_are_positive_and_within_a_year() {
        case("reminders = [\"72h\", \"365d\"]", Ok(()));
        case("reminders = [\"0s\"]", Err(("campaign.reminders", "never sent")));
        // Regression: "300000y" passed and later overflowed the schedule's date arithmetic.
        case(
            "reminders = [\"300000y\"]",
            Err(("campaign.reminders", "more than a year")),
        );
        case("reminders = [\"366d\"]", Err(("campaign.reminders", "365d")));
    }

    #[test]
    fn the_wait_for_the_service_is_at_most_an_hour() {
        case("service_wait = \"0s\"", Ok(()));
        case("service_wait = \"1h\"", Ok(()));
        case("service_wait = \"61m\"", Err(("campaign.service_wait", "1h")));
        case("service_wait = \"soon\"", Err(("campaign.service_wait", "")));
    }
}
