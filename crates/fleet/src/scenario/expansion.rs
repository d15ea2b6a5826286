//! A bound on how large a scenario grows once its aliases are expanded.
//!
//! A YAML alias (`*name`) stands for a copy of its anchor (`&name`), so a
//! small file can stand for a huge document: a 1.2 MB scenario with a 1 MB
//! anchor referenced 5 000 times made `fleetsim check` use 5 GB and more.
//! serde_yaml 0.9 only caps the number of alias jumps (100 per event of the
//! document, which that file stays under). Before the scenario is parsed for
//! real, this walk visits the document as serde_yaml would expand it,
//! without keeping anything, and stops as soon as it exceeds
//! [`MAX_EXPANDED_NODES`] nodes or [`MAX_EXPANDED_BYTES`] bytes of scalars.
//! After it, parsing the scenario and locating nodes in it (see
//! [`super::locate`]) are bounded too.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// Most nodes (scalars, lists, maps) a scenario may have, aliases expanded.
/// A hand-written scenario has a few hundred; a million keeps the parsed
/// scenario within some hundred MB even if every node became a fleet group.
pub const MAX_EXPANDED_NODES: u64 = 1_000_000;

/// Most bytes of scalar text a scenario may have, aliases expanded: four
/// times the largest file ([`super::text::MAX_FILE_SIZE`]).
pub const MAX_EXPANDED_BYTES: u64 = 64 << 20;

/// The message of the error the walk stops with.
pub fn too_large() -> String {
    format!(
        "expected a scenario of at most {MAX_EXPANDED_NODES} nodes and {} MiB of text with aliases (`*name`) expanded; it grows past that here",
        MAX_EXPANDED_BYTES >> 20
    )
}

/// Walks the document in `text`; an error when it is too large expanded.
/// serde_yaml puts the path of the node where the budget ran out in front
/// of the message (`campaigns[812].targets.group: …`, the alias) and gives
/// the position of what that node stands for (the anchor).
pub fn check(text: &str) -> Result<(), serde_yaml::Error> {
    let mut budget = Budget {
        nodes: MAX_EXPANDED_NODES,
        bytes: MAX_EXPANDED_BYTES,
    };
    Walk(&mut budget).deserialize(serde_yaml::Deserializer::from_str(text))
}

struct Budget {
    nodes: u64,
    bytes: u64,
}

impl Budget {
    fn spend<E: de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        match (
            self.nodes.checked_sub(1),
            self.bytes.checked_sub(bytes as u64),
        ) {
            (Some(nodes), Some(bytes)) => {
                self.nodes = nodes;
                self.bytes = bytes;
                Ok(())
            }
            _ => Err(E::custom(too_large())),
        }
    }
}

struct Walk<'b>(&'b mut Budget);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.0.spend(0)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.0.spend(0)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.0.spend(0)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.0.spend(0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.spend(v.len())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.spend(0)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.0.spend(0)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.spend(0)?;
        while seq.next_element_seed(Walk(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.spend(0)?;
        while map.next_key_seed(Walk(self.0))?.is_some() {
            map.next_value_seed(Walk(self.0))?;
        }
        Ok(())
    }
    /// A tagged node (`!tag value`).
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let ((), variant) = data.variant_seed(Walk(self.0))?;
        variant.newtype_variant_seed(Walk(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_expanded_aliases() {
        assert!(check("a: &x [1, 2]\nb: [*x, *x]\n").is_ok());
        let anchor = "y".repeat(1 << 20);
        let refs = vec!["*x"; 100].join(", ");
        let e = check(&format!("a: &x {anchor}\nb: [{refs}]\n")).unwrap_err();
        // The anchor and 63 copies reach 64 MiB: the error has the path of
        // the alias that goes past and the position of the anchor.
        assert!(
            e.to_string().starts_with("b[62]: expected a scenario"),
            "{e}"
        );
        let at = e.location().map(|l| (l.line(), l.column()));
        assert_eq!(at, Some((1, 4)));
        let nodes = format!("a: &x [{}]\nb: [{refs}]\n", vec!["1"; 20_000].join(","));
        assert!(check(&nodes)
            .unwrap_err()
            .to_string()
            .contains(&too_large()));
    }
}
