//! `fleetsim report merge`: the reports of the shards of one run (`run
//! --shard i/n`, DESIGN.md scale-out) as the report of the whole run.
//!
//! A device's history does not depend on the other devices, so shards add
//! up exactly: counts add, latency histograms merge with hdrhistogram's
//! `add` (percentiles are recomputed from the merged histogram, not
//! averaged), timelines add sample by sample, and the per-device digests,
//! put back in device order, combine into the whole run's digest. The
//! verdict is recomputed from the merged counts and the recorded scenario's
//! `expect:` block. Works on `report.json` as JSON, so a merge never loses a
//! field it does not know; `gateway` (per-shard curves) and `twin` (per-shard
//! quantiles) are dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use super::replay::{read_report, report_file, ReplayError};
use crate::digest::{combine, TraceHash};

/// Why shard reports could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A report could not be read.
    #[error(transparent)]
    Read(#[from] ReplayError),
    /// The reports are not the shards of one run.
    #[error("{path}: {why}")]
    Mismatch {
        /// The report that does not fit.
        path: PathBuf,
        /// How.
        why: String,
    },
    /// The merged report could not be written.
    #[error(transparent)]
    Write(#[from] super::ReportError),
}

/// What a merge produced.
#[derive(Debug)]
pub struct Merged {
    /// The merged `report.json`.
    pub report: Value,
    /// Devices in all shards.
    pub devices: u64,
    /// The whole run's digest.
    pub digest: String,
    /// The recomputed verdict.
    pub passed: bool,
}

/// Merges the reports in `inputs` (directories or `report.json` files) and
/// writes the result to `out/report.json`.
pub fn merge_dirs(inputs: &[PathBuf], out: &Path) -> Result<Merged, MergeError> {
    let mut reports = Vec::new();
    for input in inputs {
        let path = report_file(input);
        reports.push((read_report(&path)?, path));
    }
    let merged = merge(&reports)?;
    std::fs::create_dir_all(out).map_err(|source| super::ReportError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let path = out.join("report.json");
    let text = serde_json::to_vec_pretty(&merged.report).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| super::ReportError::Write { path, source })?;
    Ok(merged)
}

/// Merges parsed shard reports (each with the path it came from).
pub fn merge(reports: &[(Value, PathBuf)]) -> Result<Merged, MergeError> {
    let Some((first, first_path)) = reports.first() else {
        return Err(MergeError::Mismatch {
            path: PathBuf::from("."),
            why: "no reports to merge".into(),
        });
    };
    check_shards(reports)?;
    let mut out = first.clone();
    for (r, _) in &reports[1..] {
        for key in [
            "final_phases",
            "counters",
            "requests",
            "statuses",
            "net_errors",
        ] {
            add_counts(&mut out[key], &r[key]);
        }
        out["devices"] =
            json!(out["devices"].as_u64().unwrap_or(0) + r["devices"].as_u64().unwrap_or(0));
        add_timeline(&mut out["timeline"], &r["timeline"]);
        add_invariants(&mut out["invariants"], &r["invariants"]);
        let mut digests = out["device_digests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        digests.extend(r["device_digests"].as_array().cloned().unwrap_or_default());
        out["device_digests"] = Value::Array(digests);
        let mut violations = out["violations"].as_array().cloned().unwrap_or_default();
        violations.extend(r["violations"].as_array().cloned().unwrap_or_default());
        out["violations"] = Value::Array(violations);
    }
    out["latency_ms"] = merge_latency(reports, "latency_ms", first_path)?;
    // Real-time shards also carry wall-clock latency in µs.
    match merge_latency(reports, "latency_us", first_path)? {
        Value::Object(m) if m.is_empty() => {}
        us => out["latency_us"] = us,
    }
    let digest = whole_digest(&mut out, first_path)?;
    sort_violations(&mut out["violations"]);
    let obj = out.as_object_mut().ok_or_else(|| MergeError::Mismatch {
        path: first_path.clone(),
        why: "the report is not a JSON object".into(),
    })?;
    obj.remove("shard");
    obj.remove("gateway");
    obj.remove("twin");
    obj.insert("merged_from".into(), json!(reports.len()));
    let passed = recompute_verdict(&mut out, converged_fraction(reports), first_path);
    Ok(Merged {
        devices: out["devices"].as_u64().unwrap_or(0),
        digest,
        passed,
        report: out,
    })
}

/// All reports come from the same scenario and seed, each a different shard
/// `i/n` of the same `n`, and together they are all `n` shards.
fn check_shards(reports: &[(Value, PathBuf)]) -> Result<(), MergeError> {
    let (first, _) = &reports[0];
    let mut shards = Vec::new();
    for (r, path) in reports {
        let mismatch = |why: String| MergeError::Mismatch {
            path: path.clone(),
            why,
        };
        for key in ["scenario_yaml", "seed", "mode", "schema_version"] {
            if r[key] != first[key] {
                return Err(mismatch(format!(
                    "`{key}` differs from the first report's: not a shard of the same run"
                )));
            }
        }
        let shard = r["shard"]
            .as_array()
            .and_then(|s| Some((s.first()?.as_u64()?, s.get(1)?.as_u64()?)));
        match shard {
            Some(shard) => shards.push((shard, path)),
            None => return Err(mismatch("not a shard report (run with --shard i/n)".into())),
        }
    }
    let mut seen = Vec::new();
    for ((i, n), path) in shards {
        if n != reports.len() as u64 || seen.contains(&i) {
            return Err(MergeError::Mismatch {
                path: path.clone(),
                why: format!(
                    "shard {i}/{n}: expected each of {} shards once",
                    reports.len()
                ),
            });
        }
        seen.push(i);
    }
    Ok(())
}

fn add_counts(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    for (k, v) in from {
        let sum = into.get(k).and_then(Value::as_u64).unwrap_or(0) + v.as_u64().unwrap_or(0);
        into.insert(k.clone(), json!(sum));
    }
}

fn add_timeline(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_array_mut(), from.as_array()) else {
        return;
    };
    for (a, b) in into.iter_mut().zip(from) {
        add_counts(&mut a["phases"], &b["phases"]);
        a["requests"] =
            json!(a["requests"].as_u64().unwrap_or(0) + b["requests"].as_u64().unwrap_or(0));
    }
}

fn add_invariants(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_array_mut(), from.as_array()) else {
        return;
    };
    for (a, b) in into.iter_mut().zip(from) {
        let n = a["violations"].as_u64().unwrap_or(0) + b["violations"].as_u64().unwrap_or(0);
        a["violations"] = json!(n);
    }
}

/// Per request kind, the shards' histograms under `key` added and
/// summarised again.
fn merge_latency(
    reports: &[(Value, PathBuf)],
    key: &str,
    path: &Path,
) -> Result<Value, MergeError> {
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for (r, p) in reports {
        for (kind, summary) in r[key].as_object().into_iter().flatten() {
            let bad = |why: String| MergeError::Mismatch {
                path: p.clone(),
                why: format!("{key}.{kind}: {why}"),
            };
            let bytes = hex::decode(summary["histogram"].as_str().unwrap_or_default())
                .map_err(|e| bad(e.to_string()))?;
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| bad(e.to_string()))?;
            match merged.get_mut(kind) {
                Some(m) => m.add(&h).map_err(|e| bad(e.to_string()))?,
                None => {
                    merged.insert(kind.clone(), h);
                }
            }
        }
    }
    let mut out = Map::new();
    for (kind, h) in merged {
        let summary = super::summarize(&h);
        let value = serde_json::to_value(summary).map_err(|e| MergeError::Mismatch {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        out.insert(kind, value);
    }
    Ok(Value::Object(out))
}

/// Sorts the per-device digests by device number and combines them.
fn whole_digest(out: &mut Value, path: &Path) -> Result<String, MergeError> {
    let mut digests: Vec<(u64, String)> = serde_json::from_value(out["device_digests"].take())
        .map_err(|e| MergeError::Mismatch {
            path: path.to_path_buf(),
            why: format!("device_digests: {e}"),
        })?;
    digests.sort();
    let hashes = digests
        .iter()
        .map(|(n, h)| Some((*n, TraceHash::from_hex(h)?)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| MergeError::Mismatch {
            path: path.to_path_buf(),
            why: "device_digests: a digest is not 16 hex digits".into(),
        })?;
    let digest = combine(hashes.iter().map(|(n, h)| (*n, h)));
    out["digest"] = json!(digest);
    out["device_digests"] = json!(digests);
    Ok(digest)
}

fn sort_violations(v: &mut Value) {
    if let Some(list) = v.as_array_mut() {
        list.sort_by_key(|v| {
            (
                v["at_ms"].as_u64().unwrap_or(0),
                v["device"].as_u64().unwrap_or(0),
            )
        });
    }
}

/// Each shard's converged fraction weighted by its targeted devices (the
/// per-device times are not in the report, so this is what is exact).
fn converged_fraction(reports: &[(Value, PathBuf)]) -> Option<f64> {
    let mut targeted = 0.0;
    let mut converged = 0.0;
    for (r, _) in reports {
        let fraction = r["verdict"]["converged_fraction"].as_f64()?;
        let n = r["counters"]["devices_targeted"].as_u64().unwrap_or(0) as f64;
        targeted += n;
        converged += fraction * n;
    }
    Some(if targeted > 0.0 {
        converged / targeted
    } else {
        1.0
    })
}

/// The verdict from the merged invariant counts and convergence, against
/// the recorded scenario's `expect:`; returns whether it passed.
fn recompute_verdict(out: &mut Value, converged: Option<f64>, path: &Path) -> bool {
    let mut problems = Vec::new();
    for inv in out["invariants"].as_array().into_iter().flatten() {
        let id = inv["id"].as_str().unwrap_or_default();
        let fired = inv["violations"].as_u64().unwrap_or(0);
        let expected = inv["expected"].as_bool().unwrap_or(false);
        if fired > 0 && !expected {
            problems.push(format!("{id} fired {fired} times but was not expected"));
        } else if fired == 0 && expected {
            problems.push(format!("{id} was expected to fire but did not"));
        }
    }
    let yaml = out["scenario_yaml"].as_str().unwrap_or_default();
    let scenario = crate::scenario::load_str(&path.display().to_string(), yaml).ok();
    let wanted = scenario
        .and_then(|s| s.expect.converged)
        .map(|c| c.fraction.0);
    if let (Some(fraction), Some(wanted)) = (converged, wanted) {
        if fraction < wanted {
            problems.push(format!(
                "{:.2}% of targeted devices updated in time; expected at least {:.2}%",
                fraction * 100.0,
                wanted * 100.0
            ));
        }
        out["verdict"]["converged_fraction"] = json!(fraction);
    }
    let passed = problems.is_empty();
    out["verdict"]["passed"] = json!(passed);
    out["verdict"]["problems"] = json!(problems);
    passed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report carrying one `root` histogram of `values` under `key`.
    fn shard(key: &str, values: &[u64]) -> (Value, PathBuf) {
        let mut h = Histogram::<u64>::new_with_bounds(1, 86_400_000_000, 3).expect("bounds");
        for v in values {
            h.record(*v).expect("in bounds");
        }
        let summary = serde_json::to_value(super::super::summarize(&h)).expect("serialises");
        (json!({ key: { "root": summary } }), PathBuf::from("shard"))
    }

    #[test]
    fn microsecond_histograms_of_shards_merge_like_millisecond_ones() {
        let shards = [
            shard("latency_us", &[850, 900, 1_240]),
            shard("latency_us", &[312_000]),
        ];
        let merged = merge_latency(&shards, "latency_us", Path::new(".")).expect("merges");
        let root = &merged["root"];
        assert_eq!(root["count"], 4);
        assert_eq!(root["p50"], 900);
        assert!(root["max"]
            .as_u64()
            .is_some_and(|m| (311_900..=312_500).contains(&m)));
        // Virtual shards have none: nothing to merge.
        let virtual_shards = [shard("latency_ms", &[5])];
        let none = merge_latency(&virtual_shards, "latency_us", Path::new(".")).expect("merges");
        assert_eq!(none, json!({}));
    }
}
