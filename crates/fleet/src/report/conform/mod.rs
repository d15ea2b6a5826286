//! The report card of `fleetsim conform`: one row per conformance case
//! (stable ID, the spec clause it checks, PASS / FAIL / SKIP, the reason and
//! the evidence — every request and answer the case exchanged), and its
//! views: the terminal table ([`table`]), `report.json`, `junit.xml`
//! ([`junit`]), `index.html` ([`html`]) and a Markdown card for the docs
//! ([`markdown`]).
//!
//! The runner that fills it lives in `fleetsim_io::conform`; this module only
//! reads a finished [`ConformReport`], so it needs no network.
//!
//! Exit rule: a card passes only when it has cases and every one of them is
//! PASS. A SKIP is not a pass — a server that could not be prepared for a
//! case has not shown that it behaves as the clause says.

mod html;
mod junit;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use html::render as html;
pub use junit::render as junit;

/// Version of `report.json`'s layout.
pub const SCHEMA_VERSION: u32 = 1;
/// Files [`write()`] puts into the output directory.
pub const FILES: &[&str] = &["report.json", "junit.xml", "index.html"];

/// What happened to one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    /// The server did what the clause says.
    Pass,
    /// It did not; `reason` says what differed.
    Fail,
    /// The case could not be run; `reason` says why.
    Skip,
}

impl Outcome {
    /// `PASS`, `FAIL` or `SKIP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        }
    }
}

/// One HTTP exchange of a case, as the card shows it (secrets removed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// `GET /DEFAULT/controller/v1/dev`.
    pub request: String,
    /// Request headers (authorization shown as its scheme only).
    pub request_headers: Vec<(String, String)>,
    /// Start of the request body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// Status received; `None` when no answer came.
    pub status: Option<u16>,
    /// Response headers.
    pub response_headers: Vec<(String, String)>,
    /// Start of the response body (binary bodies as their length), or why
    /// there was no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// A piece of a case's evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// What the case did outside DDI (a campaign created through the management adapter).
    Note {
        /// The sentence.
        text: String,
    },
    /// A DDI request and its answer.
    Exchange(Exchange),
}

/// One case's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseReport {
    /// Stable ID, e.g. `DDI-ROOT-001`.
    pub id: String,
    /// What the server must do, in one sentence.
    pub title: String,
    /// The clause checked: a section of ddi.md or a hawkBit test name.
    pub clause: String,
    /// The device judged (`conform --device`: one row per device and
    /// situation); `None` for the server-side cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// PASS, FAIL or SKIP.
    pub outcome: Outcome,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Wall-clock time the case took.
    pub duration_ms: u64,
    /// The requests and answers, in order.
    pub evidence: Vec<Evidence>,
}

/// Pass, fail and skip counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Cases that passed.
    pub pass: usize,
    /// Cases that failed.
    pub fail: usize,
    /// Cases skipped.
    pub skip: usize,
}

/// What a run was against, for [`ConformReport::new`].
#[derive(Clone, Copy, Debug)]
pub struct RunInfo<'a> {
    /// Profile name.
    pub profile: &'a str,
    /// Base URL of the server under test.
    pub target: &'a str,
    /// Management adapter name.
    pub manage: &'a str,
    /// Prefix of the run's controller ids.
    pub run_tag: &'a str,
}

/// A whole conformance run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConformReport {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// fleetsim's name and version.
    pub fleetsim: String,
    /// Profile run, e.g. `ddi-v1`.
    pub profile: String,
    /// Base URL of the server under test.
    pub target: String,
    /// Management adapter used (`hawkbit`, `goosebit`, `none`).
    pub manage: String,
    /// Prefix of this run's controller ids.
    pub run_tag: String,
    /// Counts by outcome.
    pub counts: Counts,
    /// Wall-clock time of the whole run.
    pub duration_ms: u64,
    /// Every case, in catalogue order.
    pub cases: Vec<CaseReport>,
}

impl ConformReport {
    /// A report of `cases`, with the counts computed.
    pub fn new(run: RunInfo<'_>, cases: Vec<CaseReport>, duration_ms: u64) -> ConformReport {
        let mut counts = Counts::default();
        for c in &cases {
            match c.outcome {
                Outcome::Pass => counts.pass += 1,
                Outcome::Fail => counts.fail += 1,
                Outcome::Skip => counts.skip += 1,
            }
        }
        ConformReport {
            schema: SCHEMA_VERSION,
            fleetsim: concat!("fleetsim ", env!("CARGO_PKG_VERSION")).to_string(),
            profile: run.profile.to_string(),
            target: run.target.to_string(),
            manage: run.manage.to_string(),
            run_tag: run.run_tag.to_string(),
            counts,
            duration_ms,
            cases,
        }
    }

    /// True when there are cases and every one passed (a SKIP is not a pass).
    pub fn passed(&self) -> bool {
        !self.cases.is_empty() && self.counts.pass == self.cases.len()
    }

    /// `N/M PASS, F FAIL, S SKIP`.
    pub fn score(&self) -> String {
        format!(
            "{}/{} PASS, {} FAIL, {} SKIP",
            self.counts.pass,
            self.cases.len(),
            self.counts.fail,
            self.counts.skip
        )
    }
}

/// The terminal table: one line per case, then the score.
pub fn table(r: &ConformReport) -> String {
    let id_w = r
        .cases
        .iter()
        .map(|c| row_id(c).len())
        .max()
        .unwrap_or(2)
        .max(2);
    let mut o = String::new();
    let _ = writeln!(o, "{:<id_w$}  RESULT  CASE", "ID");
    for c in &r.cases {
        let id = row_id(c);
        let _ = writeln!(o, "{id:<id_w$}  {:<6}  {}", c.outcome.as_str(), c.title);
        if let Some(reason) = &c.reason {
            let _ = writeln!(o, "{:<id_w$}          └ {}", "", one_line(reason, 160));
        }
    }
    let _ = writeln!(
        o,
        "{} against {} ({}, manage {}): {}",
        r.fleetsim,
        r.target,
        r.profile,
        r.manage,
        r.score()
    );
    o
}

/// A row's ID: the case's, with the device it judged when there is one
/// (`DEV-DDI-UPDATE-001 @dev-1`).
pub fn row_id(c: &CaseReport) -> String {
    match &c.device {
        Some(d) => format!("{} @{d}", c.id),
        None => c.id.clone(),
    }
}

/// A Markdown card for `docs/guide/conformance/`: a heading, the score and one
/// table row per case with its clause and reason. The target's URL and the
/// run's controller-id tag are written as `<target>` and `<tag>`, so a card
/// regenerated against a fresh instance differs only where results do.
pub fn markdown(r: &ConformReport) -> String {
    let stable = |s: &str| {
        let s = s.replace(&r.target, "<target>");
        if r.run_tag.is_empty() {
            s
        } else {
            s.replace(&r.run_tag, "<tag>")
        }
    };
    let mut o = String::new();
    let command = match r.cases.iter().any(|c| c.device.is_some()) {
        true => "--device".to_string(),
        false => format!("--profile {} --manage {}", r.profile, r.manage),
    };
    let _ = writeln!(
        o,
        "# `fleetsim conform` card: profile `{}`, adapter `{}`\n\n\
         Generated by `fleetsim conform {command} --markdown FILE`; \
         do not edit by hand. **{}**.\n",
        r.profile,
        r.manage,
        r.score()
    );
    o.push_str("| case | result | checks | clause | why |\n|---|---|---|---|---|\n");
    for c in &r.cases {
        let why = c
            .reason
            .as_deref()
            .map_or(String::new(), |w| one_line(&stable(w), 220));
        let _ = writeln!(
            o,
            "| `{}` | {} | {} | {} | {} |",
            row_id(c),
            c.outcome.as_str(),
            md_cell(&c.title),
            md_cell(&c.clause),
            md_cell(&why)
        );
    }
    o
}

/// Why [`write()`] failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A file or the directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A view could not be rendered.
    #[error("rendering {what}: {message}")]
    Render {
        /// Which file.
        what: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Writes [`FILES`] into `dir` (created if missing).
pub fn write(r: &ConformReport, dir: &Path) -> Result<(), WriteError> {
    let io = |path: PathBuf| move |source| WriteError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let json = serde_json::to_string_pretty(r).map_err(|e| WriteError::Render {
        what: "report.json",
        message: e.to_string(),
    })?;
    let junit = junit(r).map_err(|e| WriteError::Render {
        what: "junit.xml",
        message: e.to_string(),
    })?;
    for (name, text) in [
        ("report.json", json),
        ("junit.xml", junit),
        ("index.html", html(r)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(path.clone()))?;
    }
    Ok(())
}

/// `s` on one line, at most `max` characters (an ellipsis marks a cut).
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max).collect();
    cut.push('…');
    cut
}

/// Text safe inside a Markdown table cell: `|` escaped, and `<`, `>`
/// outside code spans written as entities (mdBook reads `<tag>` as HTML).
fn md_cell(s: &str) -> String {
    let flat = s.replace('|', "\\|").replace('\n', " ");
    flat.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 0 {
                part.replace('<', "&lt;").replace('>', "&gt;")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// The evidence as plain text, one exchange per paragraph (JUnit, table).
pub fn evidence_text(c: &CaseReport) -> String {
    let mut o = String::new();
    for e in &c.evidence {
        match e {
            Evidence::Note { text } => {
                let _ = writeln!(o, "# {text}");
            }
            Evidence::Exchange(x) => {
                let _ = writeln!(o, "> {}", x.request);
                for (k, v) in &x.request_headers {
                    let _ = writeln!(o, "> {k}: {v}");
                }
                if let Some(b) = &x.request_body {
                    let _ = writeln!(o, "> {b}");
                }
                match x.status {
                    Some(s) => {
                        let _ = writeln!(o, "< {s}");
                    }
                    None => o.push_str("< (no answer)\n"),
                }
                for (k, v) in &x.response_headers {
                    let _ = writeln!(o, "< {k}: {v}");
                }
                if let Some(b) = &x.response_body {
                    let _ = writeln!(o, "< {b}");
                }
                o.push('\n');
            }
        }
    }
    o
}

#[cfg(test)]
mod tests;
