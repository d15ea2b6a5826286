//! Update campaigns in a scenario: what is assigned, to whom, when, and
//! within which maintenance windows. `campaigns: external` is the short form
//! for "the operator runs the rollouts on the server; fleetsim only plays the
//! devices"; a wrong word is reported at its position, with the words allowed.

use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::fleet::{DeviceKind, Protocol};
use super::units::{Duration, Fraction, Size};

/// DDI action type of a campaign's assignments.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CampaignType {
    /// Device may decide.
    Soft,
    /// Install now.
    #[default]
    Forced,
    /// Soft until `force_after`, then forced.
    Timeforced,
    /// Download only, no install.
    Downloadonly,
}

/// An update campaign: a distribution assigned to a selection of devices.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Name (default: `campaign-<n>`).
    #[serde(default)]
    pub name: Option<String>,
    /// When the assignment is made.
    pub at: Duration,
    /// Distribution version.
    #[serde(default = "default_version")]
    pub version: String,
    /// Files, each its own software module chunk.
    pub artifacts: Vec<ArtifactSpec>,
    /// Which devices.
    #[serde(default)]
    pub targets: Selector,
    /// Action type.
    #[serde(default, rename = "type")]
    pub kind: CampaignType,
    /// For `timeforced`: time after `at` when it becomes forced.
    #[serde(default)]
    pub force_after: Option<Duration>,
    /// Action weight (0..=1000).
    #[serde(default)]
    pub weight: Option<u32>,
    /// Maintenance window, relative to `at`.
    #[serde(default)]
    pub maintenance_window: Option<WindowSpec>,
    /// Cancel the campaign's still-open actions at this time after `at`
    /// (DDI only: OTAU has no cancel).
    #[serde(default)]
    pub cancel_after: Option<Duration>,
    /// OTAU devices: the `config_otau` value written, verbatim, instead of the
    /// manifest built from `version`, `name` and `artifacts` (e.g. to check
    /// that devices refuse an unknown `type`).
    #[serde(default)]
    pub manifest: Option<String>,
    /// `cpg` devices: how the sidekick deals with URL expiry (seed 000):
    /// `none`, `long_lived_cache`, `refresh_on_online`, `long_validity`.
    #[serde(default)]
    pub strategy: fleetsim_core::server::constrained::Strategy,
    /// `cpg` devices: validity of the CDN URLs the install command carries
    /// (default 30d; 365d under `long_validity`).
    #[serde(default)]
    pub url_validity: Option<Duration>,
    /// `cpg` devices: downloads per day by someone who is not a device, with
    /// URLs leaked from devices (expired ones with `expires` pushed forward) —
    /// makes the misuse risk of long validity visible.
    #[serde(default)]
    pub leaked_downloads_per_day: Option<f64>,
}

fn default_version() -> String {
    "2.0.0".to_string()
}

/// One artifact of a campaign.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// File name.
    pub name: String,
    /// Size.
    pub size: Size,
}

/// Devices a campaign targets.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Only devices of this kind (default: all kinds).
    #[serde(default)]
    pub kind: Option<DeviceKind>,
    /// Only this fraction of the matching devices, chosen by device number.
    #[serde(default)]
    pub fraction: Option<Fraction>,
    /// Only devices speaking this protocol (default: all).
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// Only the fleet group of this `name`.
    #[serde(default)]
    pub group: Option<String>,
    /// Only every `every`-th device by number (with `offset`): splits a
    /// fleet into equal, interleaved parts, e.g. one per strategy.
    #[serde(default)]
    pub every: Option<u32>,
    /// Which of the `every` parts (`0..every`).
    #[serde(default)]
    pub offset: u32,
    /// Gateway fleets' DDI controllers (`gateway.ddi`): `true` only the
    /// edge devices' controllers, `false` none of them (the gateways' own
    /// and every other device); absent: both.
    #[serde(default)]
    pub edge: Option<bool>,
}

/// A campaign's maintenance window: one window relative to the campaign
/// start, or hawkBit's recurring schedule (ddi.md §4).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum WindowSpec {
    /// `{ start_after, duration }`: one window.
    Relative(RelativeWindow),
    /// `{ schedule, duration, timezone }`: hawkBit's `maintenanceWindow`.
    Recurring(RecurringWindow),
}

/// One maintenance window relative to the campaign start.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelativeWindow {
    /// Window opens this long after the campaign's `at`.
    pub start_after: Duration,
    /// Window length.
    pub duration: Duration,
}

/// hawkBit's recurring maintenance schedule, as the Management API takes it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringWindow {
    /// Quartz cron expression (`sec min hour day month weekday [year]`);
    /// scenario time 0 is 1970-01-01T00:00Z.
    pub schedule: String,
    /// Each window's length, `HH:mm:ss`.
    pub duration: String,
    /// Offset of the schedule's wall-clock times, e.g. `+01:00`.
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "+00:00".to_string()
}

/// The scenario's campaigns, or none because they are run by someone else.
#[derive(Clone, Debug, Default)]
pub struct Campaigns {
    /// Campaigns, in file order (empty when `external`).
    pub list: Vec<Campaign>,
    /// `campaigns: external`: rollouts are made by the operator on the
    /// server under test, never by fleetsim.
    pub external: bool,
}

impl Campaigns {
    /// Campaigns that fleetsim itself runs.
    pub fn new(list: Vec<Campaign>) -> Campaigns {
        Campaigns {
            list,
            external: false,
        }
    }
}

impl Deref for Campaigns {
    type Target = Vec<Campaign>;
    fn deref(&self) -> &Vec<Campaign> {
        &self.list
    }
}

impl Serialize for Campaigns {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.external {
            s.serialize_str("external")
        } else {
            self.list.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Campaigns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Campaigns;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of campaigns or `external`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "external" {
                    Ok(Campaigns {
                        list: Vec::new(),
                        external: true,
                    })
                } else {
                    Err(E::custom(format!(
                        "expected a list of campaigns or `external`, found `{v}`"
                    )))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<Campaign>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(Campaigns::new)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Campaigns::default())
            }
        }
        d.deserialize_any(V)
    }
}
