//! The small parsers of the wire formats against arbitrary text: OTAU
//! manifests, status reports, form bodies, content-info lines and dates;
//! the constrained-device poll query and signed-URL expiry; percent
//! escapes, `Content-Range`, and the scenario's units. None may panic, and
//! where an encoder exists, decoding what it wrote gives the input back.

use proptest::prelude::*;

use super::fuzz;
use crate::scenario::units::{format_duration, parse_duration, parse_size};
use fleetsim_core::message::{content_range_start, percent_decode, percent_encode};
use fleetsim_core::protocol::constrained::wire::{parse_poll_query, url_expires};
use fleetsim_core::protocol::otau::wire::{
    decode_component, form_decode, form_encode, http_date, parse_ims, ContentInfoLine, Manifest,
    StatusReport,
};

/// Text that looks enough like the formats to get past their first checks.
fn wireish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        r#"\{"version":"[0-9.]{0,6}","url":"[a-z:/.%?=&]{0,30}"\}"#,
        r#"\{"status":"[A-Z_]{0,20}","message":".{0,10}"\}"#,
        "[a-z_%0-9A-F+=&]{0,60}",
        "bytes [0-9*-]{0,20}/[0-9*]{0,10}",
        "[0-9]{0,25}(ms|s|m|h|d|B|KiB|MiB|GiB|GB){0,2}",
        "[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{1,6} [0-9:]{0,9} GMT",
    ]
}

#[test]
fn wire_parsers_never_panic() {
    fuzz("wire_parsers", wireish(), |text| {
        let _ = Manifest::parse(&text);
        let _ = Manifest::version_of(&text);
        let _ = StatusReport::parse(&text);
        let _ = form_decode(&text);
        let _ = decode_component(&text);
        let _ = ContentInfoLine::parse(&text);
        let _ = parse_ims(&text);
        let _ = parse_poll_query(&text);
        let _ = url_expires(&text);
        let _ = percent_decode(&text);
        let _ = content_range_start(&text);
        if let Ok(span) = parse_duration(&text) {
            let again = parse_duration(&format_duration(span));
            prop_assert_eq!(again, Ok(span), "duration {} does not round-trip", text);
        }
        let _ = parse_size(&text);
        Ok(())
    });
}

#[test]
fn wire_encoders_round_trip() {
    let case = (any::<String>(), any::<String>(), any::<u64>());
    fuzz("wire_round_trips", case, |(key, value, unix)| {
        prop_assert_eq!(percent_decode(&percent_encode(&value)), Some(value.clone()));
        let form = form_encode(&[(&key, &value)]);
        let decoded = form_decode(&form).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // An empty pair is skipped by design; anything else comes back as written.
        if !(key.is_empty() && value.is_empty()) {
            prop_assert_eq!(decoded, vec![(key, value)]);
        }
        // HTTP-dates cover years 1970..=9999 (RFC 9110 §5.6.7: four digits).
        let unix = unix % 253_402_300_800;
        prop_assert_eq!(parse_ims(&http_date(unix)), Some(unix));
        Ok(())
    });
}
