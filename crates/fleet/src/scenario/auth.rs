//! `fleet[].auth`: how a group's DDI devices authenticate (ddi.md §2).
//! Written as a word (`gateway`, `none`, `target_token`) or as a one-key
//! map (`{ target_token_file: PATH }`), and written back the same way so a
//! scenario round-trips through its report.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a DDI device authenticates to the server (ddi.md §2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DeviceAuth {
    /// `GatewayToken <server.gateway_token>`, or no header when the scenario
    /// has no gateway token.
    #[default]
    Gateway,
    /// No `Authorization` header (a server with auth on answers 401).
    None,
    /// `TargetToken <t>`, each device its own 32-character token derived
    /// from the seed. The embedded server and `serve --scenario` know them;
    /// with `--manage` the targets are created with them. They are
    /// reproducible from the report's seed: use `target_token_file` for
    /// credentials that must stay secret.
    TargetToken,
    /// `TargetToken <t>` with the tokens read from a file of
    /// `CONTROLLER_ID TOKEN` lines (`#` comments, blank lines ignored),
    /// resolved against the scenario's directory. Every device of the group
    /// needs a line. The tokens never enter the scenario or its report.
    TargetTokenFile(TokenFile),
}

/// A token file and, once the scenario is loaded, its tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenFile {
    /// The path as written in the scenario.
    pub path: String,
    /// Controller id → token, read by [`super::load`].
    pub tokens: BTreeMap<String, String>,
}

const WORDS: &str = "`gateway`, `none`, `target_token` or `{ target_token_file: PATH }`";

impl Serialize for DeviceAuth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DeviceAuth::Gateway => s.serialize_str("gateway"),
            DeviceAuth::None => s.serialize_str("none"),
            DeviceAuth::TargetToken => s.serialize_str("target_token"),
            DeviceAuth::TargetTokenFile(file) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("target_token_file", &file.path)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for DeviceAuth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DeviceAuth;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(WORDS)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DeviceAuth, E> {
                match v {
                    "gateway" => Ok(DeviceAuth::Gateway),
                    "none" => Ok(DeviceAuth::None),
                    "target_token" => Ok(DeviceAuth::TargetToken),
                    _ => Err(E::custom(format!("expected {WORDS}, found `{v}`"))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DeviceAuth, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(format!("expected {WORDS}")));
                };
                if key != "target_token_file" {
                    return Err(de::Error::custom(format!(
                        "expected {WORDS}, found the key `{key}`"
                    )));
                }
                let path: String = map.next_value()?;
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "expected only `target_token_file` in the map",
                    ));
                }
                Ok(DeviceAuth::TargetTokenFile(TokenFile {
                    path,
                    tokens: BTreeMap::new(),
                }))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_round_trips_and_unknown_ones_are_named() {
        for text in [
            "gateway",
            "none",
            "target_token",
            "target_token_file: t.txt",
        ] {
            let auth: DeviceAuth = serde_yaml::from_str(text).expect(text);
            let back = serde_yaml::to_string(&auth).expect("serializes");
            assert_eq!(
                serde_yaml::from_str::<DeviceAuth>(&back).expect(&back),
                auth
            );
        }
        let e = serde_yaml::from_str::<DeviceAuth>("token").unwrap_err();
        assert!(e.to_string().contains("found `token`"), "{e}");
        let e = serde_yaml::from_str::<DeviceAuth>("file: x").unwrap_err();
        assert!(e.to_string().contains("the key `file`"), "{e}");
    }
}
