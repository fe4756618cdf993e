//! The `discovery` section: the Network screen's "Easy IP Setup accommodate period" (paper §4.5).
//! camward is discoverable (WS-Discovery, the protocol ONVIF tools and VMSs search with) only for
//! 20 minutes after each start by default, so that once the installer is done it cannot be found
//! by scanning; `unlimited` keeps it discoverable and is an audit finding.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::{FieldError, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The paper's two choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum AccommodatePeriod {
    /// Discoverable for 20 minutes after each start, then the discovery socket closes.
    #[default]
    #[serde(rename = "20min")]
    #[schemars(title = "20min")]
    Min20,
    /// Discoverable as long as camward runs.
    #[serde(rename = "unlimited")]
    #[schemars(title = "Unlimited")]
    Unlimited,
}

impl AccommodatePeriod {
    /// How long the window stays open after a start; `None`: for ever.
    pub fn duration(self) -> Option<Duration> {
        match self {
            AccommodatePeriod::Min20 => Some(Duration::from_secs(20 * 60)),
            AccommodatePeriod::Unlimited => None,
        }
    }
}

/// The `discovery` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// "Easy IP Setup accommodate period": `20min` (default) or `unlimited`. The window restarts
    /// at each start of camward.
    #[schemars(title = "Easy IP Setup accommodate period")]
    pub accommodate_period: AccommodatePeriod,
    /// Where the camera is, announced to discovery tools as its ONVIF location (letters, digits,
    /// `-`, `_`, `.`, `~`, `/`); empty: not announced.
    #[schemars(title = "Location (discovery scope)", length(max = 64))]
    pub location: String,
}

impl Validate for DiscoveryConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if self.location.len() > 64
            || self
                .location
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "-_.~/".contains(c)))
        {
            out.push(FieldError::new(
                join(at, "location"),
                "discovery.location.chars",
                "at most 64 characters: letters, digits and - _ . ~ / (it becomes part of a URI)",
            ));
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if self.accommodate_period == AccommodatePeriod::Unlimited {
            out.push(Warning::new(
                join(at, "accommodate_period"),
                "discovery.unlimited",
                "the camera answers discovery as long as it runs: anyone on the network can find it",
            ));
        }
    }
}

impl Audit for DiscoveryConfig {
    /// §4.5: an unlimited accommodate period lets anyone on the network find the camera at any time.
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if self.accommodate_period == AccommodatePeriod::Unlimited {
            out.push(Finding::new(
                "discovery.unlimited",
                Severity::Medium,
                "§4.5",
                "The camera answers discovery (Easy IP Setup, WS-Discovery) for as long as it runs",
                "A camera that can always be searched for tells third parties its address, which raises the risk of unauthorized access and DoS attacks; limit the accommodate period to 20 minutes once setup is done.",
                Fix::set(join(at, "accommodate_period"), "20min".into()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::{errors_of, warnings_of};

    #[test]
    fn default_is_twenty_minutes_and_valid() {
        let d = DiscoveryConfig::default();
        assert_eq!(
            d.accommodate_period.duration(),
            Some(Duration::from_secs(1200))
        );
        assert!(errors_of(&d, "discovery").is_empty());
        assert!(warnings_of(&d, "discovery").is_empty());
        assert_eq!(
            serde_json::to_value(&d).unwrap()["accommodate_period"],
            "20min"
        );
    }

    #[test]
    fn unlimited_warns_and_location_must_fit_a_uri() {
        let d = DiscoveryConfig {
            accommodate_period: AccommodatePeriod::Unlimited,
            location: "hall 1".into(),
        };
        assert_eq!(warnings_of(&d, "discovery")[0].rule, "discovery.unlimited");
        assert_eq!(errors_of(&d, "discovery")[0].path, "discovery.location");
    }
}
