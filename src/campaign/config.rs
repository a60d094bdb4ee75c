//! The `[campaign]` section.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, parse_duration};

#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// Reminder offsets before the deadline, in the order they fall (largest first).
    pub reminders: Vec<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCampaign {
    reminders: Vec<String>,
}

impl Default for RawCampaign {
    fn default() -> Self {
        RawCampaign {
            reminders: vec!["72h".into(), "24h".into()],
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
        Ok(CampaignConfig {
            reminders: super::schedule::ordered(&reminders),
        })
    }
}
