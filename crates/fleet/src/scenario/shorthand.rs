//! Short forms a scenario may use in place of a full setting:
//! `server: embedded` for the default server, and `campaigns: external` for
//! "the operator runs the rollouts on the server; fleetsim only plays the
//! devices". Each is a small visitor so that a wrong word is reported at its
//! position, with the words that are allowed.

use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::model::{Campaign, ServerSpec};

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
