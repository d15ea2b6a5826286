//! The seed-000 strategies for devices that sleep past URL expiry: part of
//! the contract between the gateway (which forms the download URLs) and
//! whoever judges them (the oracle), so it lives with the protocol rather
//! than in the server that carries it out.

use serde::{Deserialize, Serialize};

/// How the sidekick keeps devices that sleep past URL expiry updatable (seed 000).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Hand out the URL of the install command as it came.
    #[default]
    None,
    /// Option 1: a long-living artifact cache; URLs point to it.
    LongLivedCache,
    /// Option 2: re-fire the install command on the device's online event.
    RefreshOnOnline,
    /// Option 3: longer URL validity.
    LongValidity,
}

impl Strategy {
    /// Scenario spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::LongLivedCache => "long_lived_cache",
            Strategy::RefreshOnOnline => "refresh_on_online",
            Strategy::LongValidity => "long_validity",
        }
    }
}
