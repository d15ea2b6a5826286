//! The docs that are generated from the code stay generated: the committed
//! reference pages and scenario schema equal what the binary prints now,
//! every shipped scenario names the schema and validates against it, and
//! the schema accepts and refuses what the scenario parser does.

use std::path::{Path, PathBuf};

use crate::common::fleetsim;

/// `(committed file, fleetsim arguments that print it)`.
const GENERATED: [(&str, &[&str]); 4] = [
    ("docs/scenario.schema.json", &["schema"]),
    ("docs/guide/reference/cli.md", &["reference", "cli"]),
    (
        "docs/guide/reference/scenario.md",
        &["reference", "scenario"],
    ),
    (
        "docs/guide/reference/invariants.md",
        &["reference", "invariants"],
    ),
];

#[test]
fn generated_docs_are_current() {
    let mut stale = Vec::new();
    for (file, args) in GENERATED {
        let (code, out, err) = fleetsim(args);
        assert_eq!(code, 0, "fleetsim {}: {err}", args.join(" "));
        let committed = std::fs::read_to_string(file).unwrap_or_default();
        if committed != out {
            stale.push(format!("{file} (`fleetsim {}`)", args.join(" ")));
        }
    }
    assert!(
        stale.is_empty(),
        "generated docs are out of date: {}.\nRun `scripts/gen-docs` and commit the result.",
        stale.join(", ")
    );
}

/// Every shipped scenario: scenarios/, broken/ and targets/.
fn shipped_scenarios() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios/broken", "scenarios/targets"] {
        for entry in std::fs::read_dir(dir).expect(dir) {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 50, "found the shipped scenarios");
    files
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string("docs/scenario.schema.json").expect("the schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// What the schema says about a scenario text: `Ok` or its first errors.
fn check(validator: &jsonschema::Validator, text: &str) -> Result<(), String> {
    let value: serde_json::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(3)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[test]
fn shipped_scenarios_name_the_schema_and_validate_against_it() {
    let validator = validator();
    let schema = Path::new("docs/scenario.schema.json");
    for path in shipped_scenarios() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let depth = path.components().count() - 1;
        let want = format!(
            "# yaml-language-server: $schema={}{}",
            "../".repeat(depth),
            schema.display()
        );
        assert_eq!(
            text.lines().next(),
            Some(want.as_str()),
            "{}: the first line names the schema",
            path.display()
        );
        if let Err(e) = check(&validator, &text) {
            panic!("{} does not validate: {e}", path.display());
        }
    }
}

/// Small scenarios the parser refuses or accepts: the schema must agree,
/// for the shapes it can judge (cross-field rules are `fleetsim check`'s).
#[test]
fn the_schema_accepts_and_refuses_what_the_parser_does() {
    let validator = validator();
    let base = "name: x\nduration: 1h\nfleet:\n  - { kind: always_on, count: 10 }\n";
    let cases = [
        (base.to_string(), true),
        (format!("{base}server: embedded\ncampaigns: external\n"), true),
        (
            format!("{base}faults:\n  server:\n    - {{ at: 10m, for: 5m, respond: 503 }}\n    - {{ mode: ignore_range }}\n"),
            true,
        ),
        (format!("{base}expect: {{ violations: [DDI-SM-410] }}\n"), true),
        (base.replace("1h", "1h30m"), true),
        (base.replace("duration: 1h", "duration: 30x"), false),
        (base.replace("count: 10", "count: -3"), false),
        (format!("{base}flete: 1\n"), false),
        (format!("{base}server: remote\n"), false),
        (format!("{base}faults:\n  server:\n    - {{ respond: 503, reset: true }}\n"), false),
        (format!("{base}faults:\n  server:\n    - {{ mode: no_such_fault }}\n"), false),
        (format!("{base}expect: {{ violations: [DDI-NOPE] }}\n"), false),
        (format!("{base}expect: {{ converged: {{ fraction: 1.5, within: 1h }} }}\n"), false),
    ];
    for (text, accepted) in cases {
        let parser = fleetsim::scenario::load_str("x.yaml", &text);
        assert_eq!(parser.is_ok(), accepted, "parser on\n{text}\n{parser:?}");
        let schema = check(&validator, &text);
        assert_eq!(schema.is_ok(), accepted, "schema on\n{text}\n{schema:?}");
    }
}

/// The guide's pages and the README: their shell blocks' `fleetsim`
/// commands must parse with today's command line.
#[test]
fn commands_shown_in_the_docs_parse() {
    let mut files = vec!["README.md".to_string()];
    for entry in std::fs::read_dir("docs/guide").expect("guide") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path.display().to_string());
        }
    }
    files.sort();
    let mut args = vec!["doc-commands"];
    args.extend(files.iter().map(String::as_str));
    let (code, out, err) = fleetsim(&args);
    assert_eq!(code, 0, "{err}");
    let parsed: usize = out
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(parsed >= 25, "found the docs' commands: {out}");
}

/// "What a run prints" in Getting started is the demo's output, line for
/// line, but for the wall-clock figures and the report directory.
#[test]
fn getting_started_shows_what_the_demo_prints() {
    let page = std::fs::read_to_string("docs/guide/getting-started.md").expect("page");
    let section = page
        .split("## What a run prints")
        .nth(1)
        .expect("the section");
    let shown: Vec<&str> = section
        .split("```")
        .nth(1)
        .expect("its output block")
        .lines()
        .skip(1)
        .collect();
    let out_dir = std::env::temp_dir().join(format!("fleetsim-docs-{}", std::process::id()));
    let out_arg = out_dir.display().to_string();
    let (code, out, err) = fleetsim(&[
        "run",
        "scenarios/quickstart.yaml",
        "--quiet",
        "--out",
        &out_arg,
    ]);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&out_dir);
    let printed: Vec<&str> = out.lines().collect();
    assert_eq!(printed.len(), shown.len(), "printed:\n{out}");
    for (p, s) in printed.iter().zip(&shown) {
        let volatile = ["  wall time", "  reports "]
            .iter()
            .any(|v| s.starts_with(v));
        if volatile {
            assert_eq!(p.split_whitespace().next(), s.split_whitespace().next());
        } else {
            assert_eq!(
                p, s,
                "docs/guide/getting-started.md shows `{s}`, the demo prints `{p}`"
            );
        }
    }
}
