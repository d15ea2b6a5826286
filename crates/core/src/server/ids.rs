//! The one rule for identifiers that arrive from the network and become
//! state: DDI controller ids, Management API controller ids, cpg device ids
//! and OTAU content ids.
//!
//! hawkBit's rule for a controller id (`JpaTarget.controllerId`:
//! `@Size(min = 1, max = 256)`, `@Pattern("[\\S]*")`) plus what the Spring
//! Security `StrictHttpFirewall` in front of every hawkBit deployment refuses
//! in a path with 400 before any controller sees it: encoded `/` and `\`,
//! `.` and `..` segments, control characters. So an id is 1 to 256
//! characters, none of them whitespace, a control character, `/` or `\`,
//! and is not `.` or `..` — which keeps ids usable as file and path names
//! and caps what one unauthenticated request can make the server store.

/// Longest id, in characters (hawkBit `Target.CONTROLLER_ID_MAX_SIZE`).
pub const MAX_ID_CHARS: usize = 256;

/// Why a string is not an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadId {
    /// Nothing.
    #[error("must not be empty")]
    Empty,
    /// More than [`MAX_ID_CHARS`] characters.
    #[error("must be at most {MAX_ID_CHARS} characters")]
    TooLong,
    /// Whitespace or a control character.
    #[error("must not contain whitespace (names: but a space) or control characters")]
    Whitespace,
    /// `/` or `\`.
    #[error("must not contain '/' or '\\'")]
    Slash,
    /// `.` or `..`.
    #[error("must not be '.' or '..'")]
    DotSegment,
}

/// Checks `id` against the rule above (O(length), at most 1 KiB looked at).
pub fn check_id(id: &str) -> Result<(), BadId> {
    check(id, false)
}

/// [`check_id`] for names of files (OTAU content ids): spaces allowed.
pub fn check_name(name: &str) -> Result<(), BadId> {
    check(name, true)
}

fn check(id: &str, spaces: bool) -> Result<(), BadId> {
    if id.is_empty() {
        return Err(BadId::Empty);
    }
    // A char is at most 4 bytes: longer strings are too long whatever they hold.
    if id.len() > 4 * MAX_ID_CHARS || id.chars().count() > MAX_ID_CHARS {
        return Err(BadId::TooLong);
    }
    let blank = |c: char| c.is_control() || (c.is_whitespace() && !(spaces && c == ' '));
    if id.chars().any(blank) {
        return Err(BadId::Whitespace);
    }
    if id.contains(['/', '\\']) {
        return Err(BadId::Slash);
    }
    if id == "." || id == ".." {
        return Err(BadId::DotSegment);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_hawkbits_rule_and_the_firewall() {
        for ok in [
            "dev-1",
            "cpg-00017",
            "a.b",
            "...",
            "é",
            "%2F",
            &"x".repeat(256),
        ] {
            assert_eq!(check_id(ok), Ok(()), "{ok:?}");
        }
        let bad = [
            ("", BadId::Empty),
            (&"x".repeat(257), BadId::TooLong),
            (&"é".repeat(257), BadId::TooLong),
            (&"x".repeat(60_000), BadId::TooLong),
            ("a b", BadId::Whitespace),
            ("a\u{0}b", BadId::Whitespace),
            ("a\tb", BadId::Whitespace),
            ("../../etc/passwd", BadId::Slash),
            ("a\\b", BadId::Slash),
            (".", BadId::DotSegment),
            ("..", BadId::DotSegment),
        ];
        for (id, why) in bad {
            assert_eq!(check_id(id), Err(why), "{id:?}");
            if id != "a b" {
                assert_eq!(check_name(id), Err(why), "{id:?}");
            }
        }
        assert_eq!(check_name("fw 1.bin"), Ok(()));
    }
}
