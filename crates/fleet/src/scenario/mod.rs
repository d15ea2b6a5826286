//! Scenarios: the YAML files that say what fleet to run, against what, for how long.
//!
//! [`load`] reads and validates a file. Every problem is a [`ScenarioError`]
//! that prints as `FILE:LINE:COL: what was expected`, whether serde_yaml found
//! it while parsing (wrong type, unknown field, bad unit) or [`validate`] found
//! it afterwards (a window longer than its period, a campaign after the end).
//! Cross-field problems are located by walking the document again to the
//! offending node (see [`locate`]), so they point at the right line too.
//!
//! Before serde_yaml sees a file, its size ([`text::MAX_FILE_SIZE`]), its
//! nesting depth ([`depth::MAX_DEPTH`]) and its size with aliases expanded
//! ([`expansion`]) are bounded, so a hostile file is refused quickly and in
//! little memory.
//!
//! ```
//! let text = "name: demo\nduration: 1h\nfleet:\n  - { kind: always_on, count: 10 }\n";
//! let scenario = fleetsim_fleet::scenario::load_str("demo.yaml", text).unwrap();
//! assert_eq!(scenario.fleet[0].count, 10);
//! assert!(fleetsim_fleet::scenario::load_str("x.yaml", "name: x\nduration: 30x\nfleet: []\n")
//!     .unwrap_err()
//!     .to_string()
//!     .starts_with("x.yaml:2:11: "));
//! ```

pub mod auth;
pub mod campaign;
pub mod capacity;
mod checks;
mod consent;
pub mod depth;
pub mod expansion;
pub mod faults;
pub mod fleet;
pub mod gateway;
mod locate;
pub mod model;
pub mod schema;
pub mod secrets;
mod server_spec;
pub mod text;
pub mod tokens;
pub mod units;

use std::fmt;
use std::path::Path;

pub use capacity::Capacity;
pub use checks::{is_report_dir_name, is_tenant_name, validate, MAX_NAME_LEN, MAX_SAMPLES};
pub use locate::{format_path, locate, PathSeg};
pub use model::*;
pub use units::{Duration, Fraction, Size};

/// A problem with a scenario, at a position in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// File name as given by the user.
    pub file: String,
    /// 1-based line, 0 when unknown (e.g. the file could not be read).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// Reads and validates the scenario at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = text::read(&file, path)?;
    load_str_in(&file, &text, scenario_dir(path))
}

/// The directory a scenario's relative paths (token files) start from.
fn scenario_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Reads and validates the scenario at `path`, and checks it against what
/// the machine can run.
pub fn load_within(path: &Path, capacity: &Capacity) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = text::read(&file, path)?;
    let scenario = load_str_in(&file, &text, scenario_dir(path))?;
    capacity
        .check(&scenario)
        .map_err(|(path, message)| located(&file, &text, &path, message))?;
    Ok(scenario)
}

/// Parses and validates scenario `text`; `file` names it in errors. Token
/// files are read relative to the current directory.
pub fn load_str(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    load_str_in(file, text, Path::new("."))
}

/// [`load_str`] with token files read relative to `dir`.
fn load_str_in(file: &str, text: &str, dir: &Path) -> Result<Scenario, ScenarioError> {
    let text = text::strip_bom(text);
    let at = |line, column, message: String| ScenarioError {
        file: file.to_string(),
        line,
        column,
        message,
    };
    if let Some((line, column)) = depth::too_deep(text) {
        return Err(at(
            line,
            column,
            format!(
                "expected lists and maps nested at most {} levels deep",
                depth::MAX_DEPTH
            ),
        ));
    }
    let yaml_error = |e: serde_yaml::Error| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        at(line, column, clean_message(&e.to_string()))
    };
    expansion::check(text).map_err(yaml_error)?;
    let mut scenario: Scenario = serde_yaml::from_str(text).map_err(yaml_error)?;
    validate(&scenario).map_err(|(path, message)| located(file, text, &path, message))?;
    tokens::read_token_files(&mut scenario, dir)
        .map_err(|(path, message)| located(file, text, &path, message))?;
    Ok(scenario)
}

/// An error about the node at `path` of scenario `text`, at its position
/// (1:1 when the path is not in the text, e.g. a default value).
pub fn located(file: &str, text: &str, path: &[PathSeg], message: String) -> ScenarioError {
    let (line, column) = locate(text::strip_bom(text), path).unwrap_or((1, 1));
    ScenarioError {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// serde_yaml appends " at line L column C" to its messages; the position is
/// already in front of ours, so drop it.
fn clean_message(message: &str) -> String {
    let m = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    m.to_string()
}

impl Scenario {
    /// Total number of devices.
    pub fn device_count(&self) -> u64 {
        self.fleet.iter().map(|g| u64::from(g.count)).sum()
    }

    /// Rescales the fleet to `total` devices, keeping the groups' proportions
    /// (largest remainder; every group keeps at least one device).
    pub fn scale_fleet(&mut self, total: u32) {
        let current = self.device_count().max(1) as f64;
        let groups = self.fleet.len() as u32;
        let total = total.max(groups);
        let exact: Vec<f64> = self
            .fleet
            .iter()
            .map(|g| f64::from(g.count) * f64::from(total) / current)
            .collect();
        let mut counts: Vec<u32> = exact.iter().map(|e| (e.floor() as u32).max(1)).collect();
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by(|&a, &b| {
            let ra = exact[a] - exact[a].floor();
            let rb = exact[b] - exact[b].floor();
            rb.total_cmp(&ra).then(a.cmp(&b))
        });
        let mut sum: u32 = counts.iter().sum();
        let mut k = 0;
        while sum < total {
            counts[order[k % order.len()]] += 1;
            sum += 1;
            k += 1;
        }
        while sum > total {
            if let Some(i) = (0..counts.len()).rev().find(|&i| counts[i] > 1) {
                counts[i] -= 1;
                sum -= 1;
            } else {
                break;
            }
        }
        for (g, c) in self.fleet.iter_mut().zip(counts) {
            g.count = c;
        }
    }
}

#[cfg(test)]
mod tests;
