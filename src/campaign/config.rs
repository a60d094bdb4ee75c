//! The `[campaign]` section.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, parse_duration};

#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// Reminder offsets before the deadline, in the order they fall (largest first).
    pub reminders: Vec<Duration>,
    /// The largest share of the scope one deadline run may lock or disable (1.0: no guard).
    pub max_lock_fraction: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCampaign {
    reminders: Vec<String>,
    max_lock_fraction: f64,
}

impl Default for RawCampaign {
    fn default() -> Self {
        RawCampaign {
            reminders: vec!["72h".into(), "24h".into()],
            max_lock_fraction: 0.5,
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
        Ok(CampaignConfig {
            reminders: super::schedule::ordered(&reminders),
            max_lock_fraction: self.max_lock_fraction,
        })
    }
}
