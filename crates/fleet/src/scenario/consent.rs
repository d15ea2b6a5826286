//! `fleet[].consent`: how a DDI device answers the server's request for
//! consent (`confirmationBase`, ddi.md §1.8). Written `confirm`, `deny`,
//! `auto`, `ignore` (the default) or `{ confirm_after: 2h }`; a wrong word is
//! reported with the words allowed.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::units::Duration;

/// A DDI device's answer to `confirmationBase`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConsentSpec {
    /// Do not follow `confirmationBase` (devices before the flow was modelled).
    #[default]
    Ignore,
    /// Confirm at once.
    Confirm,
    /// Deny, once per action.
    Deny,
    /// Confirm at the first poll this long after being asked.
    ConfirmAfter(Duration),
    /// Turn auto-confirm on at the first poll.
    Auto,
}

const WORDS: &[&str] = &["ignore", "confirm", "deny", "auto", "confirm_after"];

impl ConsentSpec {
    /// True for the default.
    pub fn is_ignore(&self) -> bool {
        *self == ConsentSpec::Ignore
    }
}

impl Serialize for ConsentSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ConsentSpec::Ignore => s.serialize_str("ignore"),
            ConsentSpec::Confirm => s.serialize_str("confirm"),
            ConsentSpec::Deny => s.serialize_str("deny"),
            ConsentSpec::Auto => s.serialize_str("auto"),
            ConsentSpec::ConfirmAfter(d) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("confirm_after", d)?;
                map.end()
            }
        }
    }
}

struct ConsentVisitor;

impl<'de> Visitor<'de> for ConsentVisitor {
    type Value = ConsentSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`confirm`, `deny`, `auto`, `ignore` or `{ confirm_after: <duration> }`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ConsentSpec, E> {
        Ok(match v {
            "ignore" => ConsentSpec::Ignore,
            "confirm" => ConsentSpec::Confirm,
            "deny" => ConsentSpec::Deny,
            "auto" => ConsentSpec::Auto,
            "confirm_after" => {
                return Err(E::custom(
                    "`confirm_after` needs a duration, e.g. `{ confirm_after: 2h }`",
                ))
            }
            other => return Err(E::unknown_variant(other, WORDS)),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConsentSpec, A::Error> {
        let key: String = map.next_key()?.ok_or_else(|| {
            de::Error::custom("empty consent map; expected `{ confirm_after: 2h }`")
        })?;
        if key != "confirm_after" {
            return Err(de::Error::unknown_variant(&key, &["confirm_after"]));
        }
        let delay: Duration = map.next_value()?;
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a consent map has exactly one key"));
        }
        Ok(ConsentSpec::ConfirmAfter(delay))
    }
}

impl<'de> Deserialize<'de> for ConsentSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ConsentSpec, D::Error> {
        d.deserialize_any(ConsentVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetsim_core::time::Span;

    #[test]
    fn words_and_the_delay_map_parse_and_print_back() {
        for (text, want) in [
            ("confirm", ConsentSpec::Confirm),
            ("deny", ConsentSpec::Deny),
            ("auto", ConsentSpec::Auto),
            ("ignore", ConsentSpec::Ignore),
            (
                "{ confirm_after: 2h }",
                ConsentSpec::ConfirmAfter(Duration(Span::hours(2))),
            ),
        ] {
            let got: ConsentSpec = serde_yaml::from_str(text).expect(text);
            assert_eq!(got, want);
            let back: ConsentSpec =
                serde_yaml::from_str(&serde_yaml::to_string(&got).expect("yaml")).expect("again");
            assert_eq!(back, want);
        }
        assert!(serde_yaml::from_str::<ConsentSpec>("maybe").is_err());
        assert!(serde_yaml::from_str::<ConsentSpec>("confirm_after").is_err());
        assert!(serde_yaml::from_str::<ConsentSpec>("{ deny_after: 2h }").is_err());
    }
}
