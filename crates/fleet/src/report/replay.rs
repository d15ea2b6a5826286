//! `fleetsim replay`: one device's history re-run from a report.
//!
//! A virtual run's report holds everything needed to re-run it — the
//! scenario as run (`scenario_yaml`, seed included) and every device's digest
//! — and a device's history depends only on the seed and its own number
//! (DESIGN.md, determinism contract). So one device can be simulated alone,
//! with its readable trace recorded, and its digest must equal the one in the
//! report; a difference means the tool or the scenario semantics changed.
//!
//! A real-time run cannot be re-run (the server answered), so for its
//! devices with violations the report's recorded exchange is shown instead
//! (`fleetsim-io`'s `realtime/recorder.rs` keeps each device's last exchanges).

use std::path::{Path, PathBuf};

use super::SCHEMA_VERSION;
use crate::engine::replay_device;
use crate::scenario::Scenario;
use crate::setup::Setup;

/// Why a report could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The report file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a fleetsim report.
    #[error("{path}: not a fleetsim report ({why})")]
    NotAReport {
        /// The report file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Written by a fleetsim with another report format.
    #[error("{path}: report schema_version {found}; this fleetsim reads version {SCHEMA_VERSION}")]
    Schema {
        /// The report file.
        path: PathBuf,
        /// Its version.
        found: u64,
    },
    /// A device of a real-time run without a recorded exchange.
    #[error("{path} is a real-time run (--target): a real server's answers cannot be re-run, and device {device} has no recorded exchange (they are kept for devices with violations)")]
    RealTime {
        /// The report file.
        path: PathBuf,
        /// The device asked for.
        device: String,
    },
    /// The recorded scenario does not load any more.
    #[error("{path}: the recorded scenario does not load: {why}")]
    Scenario {
        /// The report file.
        path: PathBuf,
        /// The scenario error.
        why: String,
    },
    /// No such device in the run.
    #[error(
        "no device {device} in {path}: give a device number or a controller id such as {example}"
    )]
    UnknownDevice {
        /// What was asked for.
        device: String,
        /// The report file.
        path: PathBuf,
        /// A controller id of the run.
        example: String,
    },
}

/// A device re-run alone.
#[derive(Debug)]
pub struct Replayed {
    /// The run's scenario.
    pub scenario: Scenario,
    /// Device number.
    pub number: u64,
    /// Its controller id.
    pub controller_id: String,
    /// The readable trace: requests, answers, state changes, timers.
    pub trace: Vec<String>,
    /// Digest of the replay (16 hex digits).
    pub digest: String,
    /// Digest the report recorded for the device.
    pub recorded: String,
    /// The report's violations on this device: `(id, at_ms, message)`.
    pub violations: Vec<(String, u64, String)>,
    /// False for a real-time run: `trace` is the exchange recorded before
    /// the device's first violation, not a re-run.
    pub rerun: bool,
}

impl Replayed {
    /// True when the replay reproduced the recorded digest (a recorded
    /// real-time exchange has nothing to compare).
    pub fn matches(&self) -> bool {
        !self.rerun || self.digest == self.recorded
    }
}

/// `report.json` in `path` if it is a directory, else `path`.
pub fn report_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    }
}

/// Re-runs `device` (a number or a controller id) of the run reported at
/// `path` (a report directory or its `report.json`).
pub fn replay(path: &Path, device: &str) -> Result<Replayed, ReplayError> {
    let path = report_file(path);
    let report = read_report(&path)?;
    let yaml = report["scenario_yaml"].as_str().unwrap_or_default();
    let scenario = crate::scenario::load_str(&path.display().to_string(), yaml).map_err(|e| {
        ReplayError::Scenario {
            path: path.clone(),
            why: e.to_string(),
        }
    })?;
    let digests: Vec<(u64, String)> = serde_json::from_value(report["device_digests"].clone())
        .map_err(|e| ReplayError::NotAReport {
            path: path.clone(),
            why: format!("device_digests: {e}"),
        })?;
    let setup = Setup::new(&scenario);
    let found = digests
        .iter()
        .find(|(n, _)| device.parse::<u64>().ok() == Some(*n) || setup.controller_id(*n) == device);
    let Some((number, recorded)) = found.cloned() else {
        let first = digests.first().map_or(0, |(n, _)| *n);
        return Err(ReplayError::UnknownDevice {
            device: device.to_string(),
            path,
            example: setup.controller_id(first),
        });
    };
    let (trace, digest, rerun) = if report["mode"].as_str() == Some("real") {
        // A real server's answers cannot be re-run: show what was recorded.
        let trace = recorded_excerpt(&report, number);
        if trace.is_empty() {
            return Err(ReplayError::RealTime {
                path,
                device: device.to_string(),
            });
        }
        (trace, recorded.clone(), false)
    } else {
        let (hash, trace) = replay_device(&scenario, number);
        (trace, hash.to_hex(), true)
    };
    Ok(Replayed {
        controller_id: setup.controller_id(number),
        violations: violations_of(&report, number),
        scenario,
        number,
        trace,
        digest,
        recorded,
        rerun,
    })
}

/// The violations `report` records for device `number`: id, time, message.
fn violations_of(report: &serde_json::Value, number: u64) -> Vec<(String, u64, String)> {
    report["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["device"].as_u64() == Some(number))
        .map(|v| {
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (
                text("id"),
                v["at_ms"].as_u64().unwrap_or(0),
                text("message"),
            )
        })
        .collect()
}

/// The trace excerpt `report` keeps with device `number`'s first violation.
fn recorded_excerpt(report: &serde_json::Value, number: u64) -> Vec<String> {
    let first = report["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["device"].as_u64() == Some(number));
    first
        .and_then(|v| v["excerpt"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect()
}

/// Largest `report.json` read (`replay`, `report merge`): a million-device
/// report is tens of MiB; anything near this is not one of ours.
pub const MAX_REPORT_BYTES: u64 = 1 << 30;

/// Reads `path` as a report of this tool's schema version.
pub fn read_report(path: &Path) -> Result<serde_json::Value, ReplayError> {
    let read = crate::scenario::text::read_at_most(path, MAX_REPORT_BYTES);
    let text = read
        .map_err(|source| ReplayError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| ReplayError::NotAReport {
            path: path.to_path_buf(),
            why: format!("larger than {} MiB", MAX_REPORT_BYTES >> 20),
        })?;
    let report: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| ReplayError::NotAReport {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    match report["schema_version"].as_u64() {
        Some(v) if v == u64::from(SCHEMA_VERSION) => Ok(report),
        Some(found) => Err(ReplayError::Schema {
            path: path.to_path_buf(),
            found,
        }),
        None => Err(ReplayError::NotAReport {
            path: path.to_path_buf(),
            why: "no schema_version".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_reports_are_refused_before_they_are_read() {
        let path =
            std::env::temp_dir().join(format!("fleetsim-big-report-{}.json", std::process::id()));
        let file = std::fs::File::create(&path).expect("temp file");
        // Sparse: costs no disk, and is refused from its length alone.
        file.set_len(MAX_REPORT_BYTES + 1).expect("set_len");
        let err = read_report(&path).expect_err("refused");
        let _ = std::fs::remove_file(&path);
        assert!(err.to_string().contains("larger than 1024 MiB"), "{err}");
    }
}
