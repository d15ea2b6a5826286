//! The CLI side of `fleetsim shrink`: progress lines, the written file and
//! exit codes around [`fleetsim::shrink::shrink`].

use super::*;

pub fn run(a: ShrinkArgs) -> Exit {
    use fleetsim::shrink::{shrink, Budget, ShrinkError};
    let s = match load_within(&a.scenario, &a.limits) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let started = std::time::Instant::now();
    let budget = Budget {
        max_runs: a.max_runs,
    };
    let shrunk = match shrink(&s, a.invariant, budget, |step| {
        println!("  {step}");
        let _ = std::io::stdout().flush();
    }) {
        Ok(shrunk) => shrunk,
        Err(e @ (ShrinkError::NothingFired { .. } | ShrinkError::TargetNotFired { .. })) => {
            return Exit::Failed(format!("{}: {e}", a.scenario.display()))
        }
        Err(e @ (ShrinkError::Invalid { .. } | ShrinkError::NoBudget(_))) => {
            return Exit::BadInput(format!("{}: {e}", a.scenario.display()))
        }
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    let out = a.out.unwrap_or_else(|| {
        let stem = a
            .scenario
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        a.scenario.with_file_name(format!("{stem}.shrunk.yaml"))
    });
    let yaml = match fleetsim::shrink::to_yaml(&shrunk.scenario) {
        Ok(y) => y,
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    let text = format!(
        "# Shrunk by `fleetsim shrink` from {} ({} runs): fires {}.\n# Before: {}.\n# After:  {}.\n{yaml}",
        a.scenario.display(),
        shrunk.runs,
        shrunk.target,
        shrunk.before,
        shrunk.after
    );
    if let Err(e) = std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))
    {
        return Exit::Infrastructure(e);
    }
    println!(
        "shrunk in {} runs ({:.1}s){}: {} → {}",
        shrunk.runs,
        started.elapsed().as_secs_f64(),
        if shrunk.budget_spent {
            ", budget spent"
        } else {
            ""
        },
        shrunk.before,
        shrunk.after
    );
    if !shrunk.also_fired.is_empty() {
        let also: Vec<&str> = shrunk.also_fired.iter().map(|i| i.as_str()).collect();
        println!(
            "  also fires {} (listed in expect.violations)",
            also.join(", ")
        );
    }
    println!("wrote {}", out.display());
    println!("  fleetsim run {}", out.display());
    Exit::Pass
}
