//! The scenario loader against mutated scenario files: every input gives a
//! scenario or a `file:line:col: what was expected` error, never a panic.

use proptest::prelude::*;

use super::{fuzz, mutated_text};

/// Every shipped scenario: real structure for the mutations to break.
const SEEDS: &[&str] = &[
    include_str!("../../../../scenarios/quickstart.yaml"),
    include_str!("../../../../scenarios/campaign-kinds.yaml"),
    include_str!("../../../../scenarios/constrained-30d.yaml"),
    include_str!("../../../../scenarios/otau-http.yaml"),
    include_str!("../../../../scenarios/otau-mqtt.yaml"),
    include_str!("../../../../scenarios/targets/goosebit.yaml"),
];

/// What YAML and our units make hard: anchors and aliases, merge keys,
/// flow collections, tags, documents, huge and negative numbers, odd
/// units, BOMs and control characters.
const FRAGMENTS: &[&str] = &[
    "&a ",
    "*a",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "\n  - ",
    "\n- ",
    "!!binary ",
    "!!str ",
    "\u{feff}",
    "18446744073709551615",
    "4294967295",
    "-1",
    "1e999",
    "NaN",
    "~",
    "\t",
    "'",
    "\"",
    "? ",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "0x10",
    "1000GiB",
    "..",
    "../",
    "9999999d",
    "0s",
    "\u{0}",
    "\r",
    "count: ",
    "size: ",
    "at: ",
    "duration: ",
    "name: ",
    "gateway_token: s3cret\n",
    "[[[[[[[[[[[[[[[[[[[[",
    "&b [*a, *a, *a, *a]\n",
];

#[test]
fn scenario_loader_never_panics_and_always_locates_its_errors() {
    fuzz("scenario_loader", mutated_text(SEEDS, FRAGMENTS), |text| {
        match crate::scenario::load_str("fuzz.yaml", &text) {
            Ok(s) => {
                // What loads must survive being written back and read again
                // (`shrink` and `replay` do that).
                let yaml = serde_yaml::to_string(&s).map_err(|e| {
                    TestCaseError::fail(format!("a loaded scenario does not serialise: {e}"))
                })?;
                let again = crate::scenario::load_str("again.yaml", &yaml);
                prop_assert!(
                    again.is_ok(),
                    "written back, it no longer loads: {:?}",
                    again.err()
                );
            }
            Err(e) => {
                prop_assert!(
                    e.line >= 1 && e.column >= 1,
                    "error without a position: {e}"
                );
                prop_assert!(!e.message.trim().is_empty(), "error without a message");
                prop_assert!(e.to_string().starts_with("fuzz.yaml:"), "{e}");
            }
        }
        Ok(())
    });
}
