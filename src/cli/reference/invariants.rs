//! The invariant catalogue: every [`InvariantId`] with its family, summary
//! and source clause (the registry's own functions), the rule in full (the
//! variant's doc comment in `crates/core/src/oracle/invariant.rs`, read from
//! the source compiled into this binary) and the scenarios of
//! `scenarios/broken/` whose `expect: violations:` lists it.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use fleetsim::oracle::InvariantId;
use fleetsim::scenario::{self, ExpectedViolations};

use super::{cell, header};

/// The registry's source: its doc comments state each rule in full.
const REGISTRY: &str = include_str!("../../../crates/core/src/oracle/invariant.rs");

/// The page's markdown; `scenarios` is the directory holding `broken/`.
pub(super) fn page(scenarios: &Path) -> Result<String, String> {
    let fired_by = broken_scenarios(&scenarios.join("broken"))?;
    let rules = doc_comments(REGISTRY);
    let mut out = header(
        "Invariant catalogue",
        "the oracle's registry (`crates/core/src/oracle/invariant.rs`) and `scenarios/broken/`",
        "invariants",
    );
    let _ = writeln!(
        out,
        "{} invariants. Each scenario named under \"fired by\" runs a server (or device) \
         broken in one way and expects exactly its IDs; CI runs them all, so a check that \
         stops firing fails the build.\n",
        InvariantId::ALL.len()
    );
    out.push_str("| ID | family | holds when | source | fired by |\n|---|---|---|---|---|\n");
    for id in InvariantId::ALL {
        let _ = writeln!(
            out,
            "| [`{id}`](#{}) | {} | {} | {} | {} |",
            id.as_str().to_lowercase(),
            id.family(),
            cell(id.summary()),
            cell(id.source()),
            fired(id, &fired_by)
        );
    }
    out.push_str("\n## The rules in full\n");
    for id in InvariantId::ALL {
        let rule = rules
            .get(id.as_str())
            .ok_or_else(|| format!("no doc comment for {id} in invariant.rs"))?;
        let _ = write!(out, "\n### `{id}`\n\n{rule}\n");
    }
    Ok(out)
}

fn fired(id: InvariantId, fired_by: &BTreeMap<String, Vec<String>>) -> String {
    match fired_by.get(id.as_str()) {
        Some(files) => files
            .iter()
            .map(|f| format!("`broken/{f}`"))
            .collect::<Vec<_>>()
            .join(", "),
        None if id.family() == "MGMT" => {
            "a managed real-time run against a broken server (`tests/real/`)".into()
        }
        None => "**none**".into(),
    }
}

/// Invariant ID → the broken scenarios (file names, sorted) that expect it.
fn broken_scenarios(dir: &Path) -> Result<BTreeMap<String, Vec<String>>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut fired_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in files {
        let s = scenario::load(&path).map_err(|e| e.to_string())?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let ExpectedViolations::Ids(ids) = &s.expect.violations {
            for id in ids {
                fired_by.entry(id.clone()).or_default().push(name.clone());
            }
        }
    }
    Ok(fired_by)
}

/// The doc comment of each variant of `enum InvariantId`, keyed by the ID
/// it opens with (`` /// `DDI-SM-410` — … ``), as one paragraph.
fn doc_comments(source: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(start) = source.find("pub enum InvariantId {") else {
        return out;
    };
    let mut doc: Vec<&str> = Vec::new();
    for line in source[start..].lines().skip(1) {
        let line = line.trim();
        if line == "}" {
            break;
        }
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim());
            continue;
        }
        let text = doc.join(" ");
        doc.clear();
        let id = text
            .strip_prefix('`')
            .and_then(|rest| rest.split('`').next())
            .unwrap_or_default();
        if !id.is_empty() {
            out.insert(id.to_string(), text.trim().to_string());
        }
    }
    out
}
