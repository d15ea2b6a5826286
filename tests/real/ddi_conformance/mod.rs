//! hawkBit DDI conformance rows: one `#[tokio::test]` per row of
//! `docs/guide/conformance/hawkbit-ddi.md`, named after the row. Each test drives
//! `fleetsim serve` the way a hawkBit user would — the Management API to set
//! up, DDI as the device — over real HTTP (`crate::hawkbit_http`), and checks
//! what hawkBit's own tests (`Ddi*Test` in eclipse-hawkbit/hawkbit) expect.

mod cancel;
mod config;
mod confirm;
mod download;
mod feedback;
mod installed;
mod media;
mod mgmt;
mod multi;
mod polling;
mod root;
mod tenancy;
mod window;

/// The rows of `docs/guide/conformance/hawkbit-ddi.md` and the tests of this
/// directory are the same set: no row without a test, no test without a row.
#[test]
fn matrix_lists_every_row() {
    let dir = std::path::Path::new("tests/real/ddi_conformance");
    let mut tests = std::collections::BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the conformance directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && !p.ends_with("mod.rs"))
        .collect();
    files.sort();
    for path in files {
        let module = path.file_stem().and_then(|s| s.to_str()).expect("name");
        let text = std::fs::read_to_string(&path).expect("a test file");
        tests.extend(test_paths(module, &text));
    }
    let doc = std::fs::read_to_string("docs/guide/conformance/hawkbit-ddi.md").expect("the matrix");
    let rows: std::collections::BTreeSet<String> = doc
        .split('`')
        .filter_map(|s| s.strip_prefix("ddi_conformance::"))
        .filter(|s| !s.contains(' ') && *s != "matrix_lists_every_row")
        .map(str::to_string)
        .collect();
    let missing: Vec<_> = tests.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&tests).collect();
    assert!(
        missing.is_empty(),
        "tests without a row in the matrix: {missing:?}"
    );
    assert!(stale.is_empty(), "rows without a test: {stale:?}");
    assert!(tests.len() >= 60, "{} rows", tests.len());
}

/// `module::[inner::]name` of every `#[tokio::test]` in a file's `text`; an
/// indented test belongs to the last inline `mod NAME {` above it.
fn test_paths(module: &str, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inner: Option<&str> = None;
    let mut next_is_test = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed
            .strip_prefix("mod ")
            .or(trimmed.strip_prefix("pub mod "))
        {
            inner = rest.strip_suffix(" {");
        }
        if trimmed.starts_with("#[tokio::test") {
            next_is_test = true;
        } else if next_is_test && trimmed.contains("fn ") {
            next_is_test = false;
            let name = trimmed
                .split("fn ")
                .nth(1)
                .and_then(|r| r.split('(').next())
                .unwrap_or("");
            let nested = line.starts_with(' ').then_some(inner).flatten();
            out.push(match nested {
                Some(m) => format!("{module}::{m}::{name}"),
                None => format!("{module}::{name}"),
            });
        }
    }
    out
}
