//! The `server:` setting: the server the fleet talks to. `server: embedded`
//! is the short form for the defaults; a wrong word is reported at its
//! position, with the words allowed.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::units::{Duration, Fraction};
use fleetsim_core::time::Span;

/// Server settings. `server: embedded` is the same as the defaults.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// DDI tenant.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Polling interval the server tells devices (`config.polling.sleep`).
    #[serde(default = "default_polling")]
    pub polling: Duration,
    /// Random jitter on the polling interval, ±fraction (hawkBit `~NN%`).
    #[serde(default)]
    pub polling_jitter: Fraction,
    /// Devices authenticate with `GatewayToken <key>` when set.
    #[serde(default)]
    pub gateway_token: Option<String>,
    /// Status entries allowed per action (hawkBit `maxStatusEntriesPerAction`).
    #[serde(default = "default_max_status")]
    pub max_status_entries_per_action: u32,
    /// hawkBit `user.confirmation.flow.enabled`: actions wait for the
    /// device's consent (ddi.md §1.8).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmation_flow: bool,
}

fn default_tenant() -> String {
    "DEFAULT".to_string()
}
fn default_polling() -> Duration {
    Duration(Span::minutes(5))
}
fn default_max_status() -> u32 {
    1000
}

impl Default for ServerSpec {
    fn default() -> Self {
        ServerSpec {
            tenant: default_tenant(),
            polling: default_polling(),
            polling_jitter: Fraction(0.0),
            gateway_token: None,
            max_status_entries_per_action: default_max_status(),
            confirmation_flow: false,
        }
    }
}

/// Accepts `server: embedded` as well as a settings map.
struct ServerSpecOrName(ServerSpec);

impl<'de> Deserialize<'de> for ServerSpecOrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServerSpecOrName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`embedded` or a map of server settings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "embedded" {
                    Ok(ServerSpecOrName(ServerSpec::default()))
                } else {
                    Err(E::custom(format!(
                        "expected `embedded` or a map of server settings, found `{v}`"
                    )))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ServerSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ServerSpecOrName)
            }
        }
        d.deserialize_any(V)
    }
}

pub(super) fn deserialize_server<'de, D: Deserializer<'de>>(d: D) -> Result<ServerSpec, D::Error> {
    ServerSpecOrName::deserialize(d).map(|s| s.0)
}
