//! Thing and feature identifiers: the seed's ID encoding and Ditto's ID rules.
//!
//! # The encoding (seed 002, "ID Encoding"; ditto.md §3 "Encoding helper")
//!
//! Exactly these characters are replaced by `%XX`, `XX` being the character's
//! code in upper-case hex, and nothing else is touched:
//!
//! - the eight characters `/`→`%2F` `?`→`%3F` `#`→`%23` `*`→`%2A` `,`→`%2C`
//!   ` `→`%20` `%`→`%25` `"`→`%22` (Ditto's old `DittoEncodingHelper`);
//! - the control characters U+0000–U+001F and U+007F–U+00FF.
//!
//! **Code points, not UTF-8 bytes.** The seed says "the hex code of the
//! character" in *two* hex digits, and the range it names, 00–1F and 7F–FF,
//! is exactly the range Ditto's entity-name regex `[^\x00-\x1F\x7F-\xFF/]`
//! rejects. That regex is Java's, which matches UTF-16 characters: it rejects
//! the *characters* U+007F–U+00FF (so `ü`, U+00FC, is invalid in a thing
//! name) and accepts every character above U+00FF (`€`, `中`, emoji). So
//! the encoding works on characters: a character in U+0000–U+001F or
//! U+007F–U+00FF becomes `%XX` with `XX` its code point (`ü` → `%FC`), and a
//! character above U+00FF is left as it is — Ditto accepts it, and the seed
//! says "all other characters can be used without any encoding". Encoding
//! UTF-8 bytes instead would turn `€` into `%E2%82%AC`, i.e. escape
//! characters the seed says to leave alone, and would make `ü` two escapes
//! where the seed's two-digit rule gives one. The result of [`encode`] is
//! therefore always a valid Ditto entity name / feature ID when non-empty
//! (see [`check_entity_name`]).
//!
//! [`decode`] is the inverse: every `%XX` (hex digits of either case) becomes
//! the character U+00XX; a `%` not followed by two hex digits is
//! [`DecodeError::Malformed`]. [`check_encoded`] is the strict form an oracle
//! uses: it also refuses a listed character left literal, an escape of a
//! character that must not be escaped (`%3A` for `:`), and lower-case hex.
//!
//! # Ditto's ID rules (ditto.md §3)
//!
//! - Thing ID = `namespace:name`, split at the first `:`, at most
//!   [`MAX_THING_ID_LEN`] characters; the namespace is empty or Java-package
//!   like (`[a-zA-Z]\w*([.-][a-zA-Z]\w*)*`), the name is non-empty and holds
//!   no `/` and no U+0000–U+001F / U+007F–U+00FF ([`check_thing_id`]).
//! - Feature IDs and property keys (JSON keys): non-empty, no `/`, no control
//!   characters in the same sense; a feature ID is not `*`
//!   ([`check_feature_id`], [`check_json_key`]).

use std::fmt::Write as _;

/// The eight punctuation characters the seed encodes (besides the controls).
pub const ENCODED_PUNCTUATION: [char; 8] = ['/', '?', '#', '*', ',', ' ', '%', '"'];

/// Longest thing ID Ditto accepts, in Java characters (UTF-16 code units,
/// what `String.length()` counts; ditto.md §3).
pub const MAX_THING_ID_LEN: usize = 256;

/// A control character in the seed's and Ditto's sense: U+0000–U+001F or
/// U+007F–U+00FF (code points; see the module doc for why not bytes).
pub fn is_control(c: char) -> bool {
    matches!(c as u32, 0x00..=0x1F | 0x7F..=0xFF)
}

/// Whether the seed's encoding replaces `c` by `%XX`.
pub fn needs_encoding(c: char) -> bool {
    is_control(c) || ENCODED_PUNCTUATION.contains(&c)
}

/// Encodes an ID (or one segment of it) as the seed says: each character of
/// [`needs_encoding`] becomes `%XX` (upper-case hex of its code point), every
/// other character is copied unchanged.
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if needs_encoding(c) {
            // needs_encoding implies c <= U+00FF: always two hex digits.
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Why a string is not (canonically) encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    #[error("'%' at byte {at} is not followed by two hex digits")]
    Malformed {
        /// Byte offset of the `%`.
        at: usize,
    },
    /// A character the encoding replaces appears literally ([`check_encoded`] only).
    #[error("{ch:?} at byte {at} must be encoded as %XX")]
    Unescaped {
        /// Byte offset of the character.
        at: usize,
        /// The character.
        ch: char,
    },
    /// `%XX` escapes a character the encoding leaves alone ([`check_encoded`] only).
    #[error("'%' at byte {at} escapes {ch:?}, which must not be encoded")]
    NeedlessEscape {
        /// Byte offset of the `%`.
        at: usize,
        /// The escaped character.
        ch: char,
    },
    /// `%xx` with lower-case hex digits ([`check_encoded`] only).
    #[error("'%' at byte {at} uses lower-case hex")]
    LowerCaseHex {
        /// Byte offset of the `%`.
        at: usize,
    },
}

/// The two hex digits after the `%` at byte `at`, as a character U+00XX.
fn escape_at(bytes: &[u8], at: usize) -> Result<char, DecodeError> {
    let digit = |i: usize| {
        bytes
            .get(i)
            .and_then(|b| (*b as char).to_digit(16))
            .ok_or(DecodeError::Malformed { at })
    };
    let code = digit(at + 1)? * 16 + digit(at + 2)?;
    // Two hex digits are at most 0xFF: always a valid char.
    Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER))
}

/// Decodes `%XX` escapes (either case of hex digit) into the characters
/// U+00XX; everything else is copied. `decode(&encode(s)) == Ok(s)` for
/// every string `s`.
pub fn decode(encoded: &str) -> Result<String, DecodeError> {
    let bytes = encoded.as_bytes();
    let mut out = String::with_capacity(encoded.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push_str(&encoded[copied..i]);
            out.push(escape_at(bytes, i)?);
            i += 3;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&encoded[copied..]);
    Ok(out)
}

/// Checks that `encoded` is exactly what [`encode`] produces for some
/// string: every `%` starts an upper-case `%XX` escape of a character of
/// [`needs_encoding`], and no such character appears literally. Equivalent
/// to `encode(&decode(encoded)?) == encoded`, with the first offence named.
pub fn check_encoded(encoded: &str) -> Result<(), DecodeError> {
    let bytes = encoded.as_bytes();
    for (at, ch) in encoded.char_indices() {
        if ch == '%' {
            let escaped = escape_at(bytes, at)?;
            if !needs_encoding(escaped) {
                return Err(DecodeError::NeedlessEscape { at, ch: escaped });
            }
            if bytes[at + 1..at + 3].iter().any(u8::is_ascii_lowercase) {
                return Err(DecodeError::LowerCaseHex { at });
            }
        } else if needs_encoding(ch) {
            // The hex digits after a `%` are ASCII alphanumerics, so they
            // never land here and need no skipping.
            return Err(DecodeError::Unescaped { at, ch });
        }
    }
    Ok(())
}

/// Ditto's error code for an invalid thing ID (answered with 400).
pub const THING_ID_INVALID: &str = "things:id.invalid";
/// Ditto's error code for an invalid feature ID or JSON key (answered with 400).
pub const JSON_KEY_INVALID: &str = "json.key.invalid";

/// Why an identifier breaks Ditto's rules (ditto.md §3). A thing ID that
/// breaks them is answered [`THING_ID_INVALID`], a feature ID or key
/// [`JSON_KEY_INVALID`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A thing ID without the `:` between namespace and name.
    #[error("a thing ID is namespace:name, but there is no ':'")]
    NoNamespace,
    /// The namespace does not match `[a-zA-Z]\w*([.-][a-zA-Z]\w*)*`.
    #[error("namespace {0:?} is not of the form [a-zA-Z]\\w*([.-][a-zA-Z]\\w*)*")]
    BadNamespace(String),
    /// An empty name, feature ID or key.
    #[error("must not be empty")]
    Empty,
    /// A thing ID longer than [`MAX_THING_ID_LEN`].
    #[error("a thing ID has at most {MAX_THING_ID_LEN} characters, this one {0}")]
    TooLong(usize),
    /// `/` or a control character (U+0000–U+001F, U+007F–U+00FF).
    #[error("{ch:?} at byte {at}: neither '/' nor control characters are allowed")]
    ForbiddenChar {
        /// Byte offset of the character.
        at: usize,
        /// The character.
        ch: char,
    },
    /// The feature ID `*` (a wildcard in Ditto's paths and fields).
    #[error("a feature ID must not be '*'")]
    Wildcard,
}

/// Checks a namespace: empty, or `[a-zA-Z]\w*` segments joined by `.` or `-`
/// (Java's `\w` is ASCII `[a-zA-Z0-9_]`).
pub fn check_namespace(namespace: &str) -> Result<(), IdError> {
    if namespace.is_empty() {
        return Ok(());
    }
    let segment_ok = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if namespace.split(['.', '-']).all(segment_ok) {
        Ok(())
    } else {
        Err(IdError::BadNamespace(namespace.to_owned()))
    }
}

/// First `/` or control character of `s`, as an error.
fn forbidden_char(s: &str) -> Result<(), IdError> {
    match s.char_indices().find(|&(_, c)| c == '/' || is_control(c)) {
        Some((at, ch)) => Err(IdError::ForbiddenChar { at, ch }),
        None => Ok(()),
    }
}

/// Checks an entity name (the part of a thing ID after the first `:`):
/// non-empty, no `/`, no control character. Offsets are within `name`.
pub fn check_entity_name(name: &str) -> Result<(), IdError> {
    if name.is_empty() {
        return Err(IdError::Empty);
    }
    forbidden_char(name)
}

/// Splits a thing ID at its first `:` into `(namespace, name)` and checks
/// both and the length. Error offsets are within the whole ID.
pub fn check_thing_id(id: &str) -> Result<(&str, &str), IdError> {
    let (namespace, name) = id.split_once(':').ok_or(IdError::NoNamespace)?;
    let len = id.encode_utf16().count();
    if len > MAX_THING_ID_LEN {
        return Err(IdError::TooLong(len));
    }
    check_namespace(namespace)?;
    check_entity_name(name).map_err(|e| match e {
        IdError::ForbiddenChar { at, ch } => IdError::ForbiddenChar {
            at: at + namespace.len() + 1,
            ch,
        },
        other => other,
    })?;
    Ok((namespace, name))
}

/// Checks a JSON key (attribute or property key, one pointer segment):
/// non-empty, no `/`, no control character.
pub fn check_json_key(key: &str) -> Result<(), IdError> {
    if key.is_empty() {
        return Err(IdError::Empty);
    }
    forbidden_char(key)
}

/// Checks a feature ID: a valid JSON key that is not `*`.
pub fn check_feature_id(id: &str) -> Result<(), IdError> {
    if id == "*" {
        return Err(IdError::Wildcard);
    }
    check_json_key(id)
}

#[cfg(test)]
#[path = "id_tests.rs"]
mod tests;
