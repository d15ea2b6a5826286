//! Finds the line and column of a node in a YAML document by path.
//!
//! serde_yaml reports positions only for errors, so to place an error found
//! after parsing we walk the document again with a deserializer that follows
//! the path and fails on purpose at the target node; serde_yaml stamps that
//! failure with the node's position.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One step of a path into a YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    /// A key of a mapping.
    Key(String),
    /// An index into a sequence.
    Index(usize),
}

/// `path` as serde_yaml writes it in messages: `fleet[0].count`.
pub fn format_path(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) if out.is_empty() => out.push_str(k),
            PathSeg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

const FOUND: &str = "fleetsim-locate-found";

/// 1-based `(line, column)` of the node at `path`, if it exists.
pub fn locate(text: &str, path: &[PathSeg]) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match (Seek { path }).deserialize(de) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

struct Seek<'p> {
    path: &'p [PathSeg],
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            // Reading the node as a unit fails at the node itself, with its position.
            return d.deserialize_any(Here);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping or sequence on the path")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let hit = matches!((&self.path[0], key.as_str()), (PathSeg::Key(k), Some(s)) if k == s);
            if hit {
                map.next_value_seed(Seek {
                    path: &self.path[1..],
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let hit = self.path[0] == PathSeg::Index(i);
            let more = if hit {
                seq.next_element_seed(Seek {
                    path: &self.path[1..],
                })?
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

struct Here;

impl<'de> Visitor<'de> for Here {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FOUND)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_nodes() {
        let text = "a: 1\nb:\n  - x: 2\n    y: 3\n  - { x: 4, y: [5] }\n";
        let path = |segs: &[&str]| -> Vec<PathSeg> {
            segs.iter()
                .map(|s| match s.parse() {
                    Ok(i) => PathSeg::Index(i),
                    Err(_) => PathSeg::Key(s.to_string()),
                })
                .collect()
        };
        assert_eq!(locate(text, &path(&["a"])), Some((1, 4)));
        assert_eq!(locate(text, &path(&["b", "0", "y"])), Some((4, 8)));
        assert_eq!(locate(text, &path(&["b", "1", "y", "0"])), Some((5, 17)));
        assert_eq!(locate(text, &path(&["c"])), None);
        assert_eq!(locate(text, &path(&["b", "7"])), None);
        assert_eq!(format_path(&path(&["b", "1", "y", "0"])), "b[1].y[0]");
    }
}
