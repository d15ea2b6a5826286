//! Tests of the seed's ID encoding and Ditto's ID rules.

use super::*;
use proptest::prelude::*;

/// The seed's table, verbatim.
const TABLE: [(char, &str); 8] = [
    ('/', "%2F"),
    ('?', "%3F"),
    ('#', "%23"),
    ('*', "%2A"),
    (',', "%2C"),
    (' ', "%20"),
    ('%', "%25"),
    ('"', "%22"),
];

#[test]
fn each_punctuation_character_of_the_seed_table() {
    for (c, escaped) in TABLE {
        assert_eq!(encode(&c.to_string()), escaped, "{c:?}");
        assert_eq!(decode(escaped).unwrap(), c.to_string());
        assert_eq!(check_encoded(escaped), Ok(()));
        assert!(needs_encoding(c));
    }
}

#[test]
fn every_control_character_is_encoded_with_its_code() {
    for code in (0x00..=0x1F).chain(0x7F..=0xFF) {
        let c = char::from_u32(code).unwrap();
        let expected = format!("%{code:02X}");
        assert_eq!(encode(&c.to_string()), expected);
        assert_eq!(decode(&expected).unwrap(), c.to_string());
        assert!(is_control(c));
    }
}

#[test]
fn exactly_the_listed_characters_are_encoded_up_to_u_0400() {
    for code in 0..0x400u32 {
        let c = char::from_u32(code).unwrap();
        let listed =
            code <= 0x1F || (0x7F..=0xFF).contains(&code) || TABLE.iter().any(|t| t.0 == c);
        let out = encode(&c.to_string());
        if listed {
            assert_eq!(out, format!("%{code:02X}"), "U+{code:04X}");
        } else {
            assert_eq!(out, c.to_string(), "U+{code:04X}");
        }
    }
}

#[test]
fn boundaries() {
    assert_eq!(encode("\u{1F}"), "%1F");
    assert_eq!(encode("\u{20}"), "%20"); // space: listed punctuation
    assert_eq!(encode("!"), "!"); // U+0021, first printable left alone
    assert_eq!(encode("~"), "~"); // U+007E
    assert_eq!(encode("\u{7F}"), "%7F");
    assert_eq!(encode("\u{80}"), "%80");
    assert_eq!(encode("ÿ"), "%FF"); // U+00FF
    assert_eq!(encode("Ā"), "Ā"); // U+0100: Ditto accepts it as is
    assert_eq!(encode("ü"), "%FC");
    assert_eq!(encode("€"), "€");
    assert_eq!(encode("😀"), "😀");
    assert!(!is_control('\u{20}') && is_control('\u{1F}'));
    assert!(!is_control('~') && is_control('\u{7F}'));
    assert!(is_control('\u{FF}') && !is_control('\u{100}'));
}

#[test]
fn ids_keep_colons_and_other_url_characters() {
    assert_eq!(
        encode("da:item:Cameras:1/Config uration?#*,%\""),
        "da:item:Cameras:1%2FConfig%20uration%3F%23%2A%2C%25%22"
    );
    assert_eq!(encode("a:b;c=d&e+f@g$h!(i)'[j]"), "a:b;c=d&e+f@g$h!(i)'[j]");
    assert_eq!(encode("tab\there"), "tab%09here");
    assert_eq!(encode(""), "");
}

#[test]
fn decode_accepts_lower_case_hex_but_check_encoded_does_not() {
    assert_eq!(decode("a%2fb").unwrap(), "a/b");
    assert_eq!(
        check_encoded("a%2fb"),
        Err(DecodeError::LowerCaseHex { at: 1 })
    );
}

#[test]
fn malformed_escapes_are_errors() {
    for (s, at) in [
        ("%", 0),
        ("a%2", 1),
        ("a%G0", 1),
        ("ab%2G", 2),
        ("%%41", 0),
        ("x%€1", 1),
    ] {
        assert_eq!(decode(s), Err(DecodeError::Malformed { at }), "{s}");
        assert_eq!(check_encoded(s), Err(DecodeError::Malformed { at }), "{s}");
    }
}

#[test]
fn check_encoded_names_the_offence() {
    assert_eq!(check_encoded("gw1:cam%201"), Ok(()));
    assert_eq!(
        check_encoded("gw 1"),
        Err(DecodeError::Unescaped { at: 2, ch: ' ' })
    );
    assert_eq!(
        check_encoded("a/b"),
        Err(DecodeError::Unescaped { at: 1, ch: '/' })
    );
    assert_eq!(
        check_encoded("üb"),
        Err(DecodeError::Unescaped { at: 0, ch: 'ü' })
    );
    assert_eq!(
        check_encoded("ns%3Agw"),
        Err(DecodeError::NeedlessEscape { at: 2, ch: ':' })
    );
    assert_eq!(
        check_encoded("%41"),
        Err(DecodeError::NeedlessEscape { at: 0, ch: 'A' })
    );
    // An escaped '%' stays one: "%2541" is the encoding of "%41".
    assert_eq!(check_encoded("%2541"), Ok(()));
    assert_eq!(decode("%2541").unwrap(), "%41");
}

#[test]
fn thing_ids() {
    assert_eq!(check_thing_id("org.acme:gw1"), Ok(("org.acme", "gw1")));
    assert_eq!(
        check_thing_id("org.acme:gw1:dev7"),
        Ok(("org.acme", "gw1:dev7"))
    );
    assert_eq!(check_thing_id(":gw1"), Ok(("", "gw1")));
    assert_eq!(
        check_thing_id("a-b.c_1:x y%?#*,\""),
        Ok(("a-b.c_1", "x y%?#*,\""))
    );
    assert_eq!(check_thing_id("org.acme:€"), Ok(("org.acme", "€")));
    assert_eq!(check_thing_id("gw1"), Err(IdError::NoNamespace));
    assert_eq!(check_thing_id("org.acme:"), Err(IdError::Empty));
    assert_eq!(
        check_thing_id("ns:a/b"),
        Err(IdError::ForbiddenChar { at: 4, ch: '/' })
    );
    assert_eq!(
        check_thing_id("ns:über"),
        Err(IdError::ForbiddenChar { at: 3, ch: 'ü' })
    );
    assert_eq!(
        check_thing_id("ns:a\u{7F}"),
        Err(IdError::ForbiddenChar {
            at: 4,
            ch: '\u{7F}'
        })
    );
    for bad in ["1abc", "a..b", "a.", ".a", "a b", "a-1", "a/b", "ä"] {
        assert_eq!(
            check_thing_id(&format!("{bad}:x")),
            Err(IdError::BadNamespace(bad.into())),
            "{bad}"
        );
    }
    assert_eq!(check_namespace("a.b-c.d_9"), Ok(()));
}

#[test]
fn thing_id_length_counts_java_characters() {
    let id = format!("ns:{}", "x".repeat(253));
    assert_eq!(check_thing_id(&id).map(|_| ()), Ok(()));
    assert_eq!(
        check_thing_id(&format!("{id}x")),
        Err(IdError::TooLong(257))
    );
    // Each emoji is two UTF-16 units, as Java's String.length() counts.
    let emoji = format!("ns:{}", "😀".repeat(127));
    assert_eq!(check_thing_id(&emoji), Err(IdError::TooLong(257)));
    let fits = format!("ns:{}x", "😀".repeat(126));
    assert!(check_thing_id(&fits).is_ok());
}

#[test]
fn feature_ids_and_keys() {
    for ok in [
        "DeviceInfo",
        "Configuration_2",
        "a:b",
        "x y",
        "%2F",
        "€",
        "**",
    ] {
        assert_eq!(check_feature_id(ok), Ok(()), "{ok}");
        assert_eq!(check_json_key(ok), Ok(()), "{ok}");
    }
    assert_eq!(check_feature_id("*"), Err(IdError::Wildcard));
    assert_eq!(check_json_key("*"), Ok(()));
    assert_eq!(check_feature_id(""), Err(IdError::Empty));
    assert_eq!(check_json_key(""), Err(IdError::Empty));
    assert_eq!(
        check_feature_id("a/b"),
        Err(IdError::ForbiddenChar { at: 1, ch: '/' })
    );
    assert_eq!(
        check_json_key("a\nb"),
        Err(IdError::ForbiddenChar { at: 1, ch: '\n' })
    );
    assert_eq!(
        check_json_key("\u{A0}"),
        Err(IdError::ForbiddenChar {
            at: 0,
            ch: '\u{A0}'
        })
    );
}

/// Strings rich in the characters that matter: listed ones, boundaries,
/// Latin-1, characters above U+00FF, and `%XX`-looking text.
fn id_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<char>().prop_map(String::from),
        prop::sample::select(ENCODED_PUNCTUATION.to_vec()).prop_map(String::from),
        (0u32..0x180).prop_map(|c| char::from_u32(c).unwrap().to_string()),
        Just("%2F".to_string()),
        Just("%".to_string()),
        Just(":".to_string()),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn decode_inverts_encode(s in id_text()) {
        prop_assert_eq!(decode(&encode(&s)).unwrap(), s);
    }

    #[test]
    fn decode_inverts_encode_any_string(s in any::<String>()) {
        prop_assert_eq!(decode(&encode(&s)).unwrap(), s);
    }

    #[test]
    fn percent_only_starts_a_valid_escape_of_a_listed_char(s in id_text()) {
        let out = encode(&s);
        let bytes = out.as_bytes();
        for (at, _) in out.match_indices('%') {
            prop_assert!(at + 3 <= bytes.len());
            let hex = &out[at + 1..at + 3];
            prop_assert!(hex.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)), "{}", hex);
            let c = char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap();
            prop_assert!(needs_encoding(c), "{:?}", c);
        }
        prop_assert_eq!(check_encoded(&out), Ok(()));
    }

    #[test]
    fn only_listed_chars_are_encoded(s in id_text()) {
        let out = encode(&s);
        // Every character left literal in the output is outside the set…
        prop_assert!(out.chars().all(|c| c == '%' || !needs_encoding(c)));
        // …and the output grows by exactly 2 bytes per listed char and
        // keeps every other char in order.
        let kept: String = s.chars().filter(|c| !needs_encoding(*c)).collect();
        let literal: String = {
            let mut t = String::new();
            let mut skip = 0;
            for c in out.chars() {
                if skip > 0 { skip -= 1; continue; }
                if c == '%' { skip = 2; continue; }
                t.push(c);
            }
            t
        };
        prop_assert_eq!(literal, kept);
        let listed = s.chars().filter(|c| needs_encoding(*c)).count();
        prop_assert_eq!(out.chars().count(), s.chars().count() + 2 * listed);
    }

    #[test]
    fn encoded_non_empty_names_are_valid_ditto_names(s in id_text()) {
        prop_assume!(!s.is_empty());
        let name = encode(&s);
        prop_assert_eq!(check_entity_name(&name), Ok(()));
        // `*` itself is encoded, so an encoded feature ID is never the wildcard.
        prop_assert_eq!(check_feature_id(&name), Ok(()));
    }

    #[test]
    fn check_encoded_agrees_with_reencoding(s in id_text()) {
        let canonical = match decode(&s) {
            Ok(d) => encode(&d) == s,
            Err(_) => false,
        };
        prop_assert_eq!(check_encoded(&s).is_ok(), canonical);
    }
}
