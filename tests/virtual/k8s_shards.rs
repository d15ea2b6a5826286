//! deploy/k8s/job.yaml, run locally: the exact command line the Indexed Job
//! gives each Pod (its `$(VAR)` references expanded the way Kubernetes
//! expands them, JOB_COMPLETION_INDEX = 0..N-1), on the scenario from the
//! ConfigMap it mounts, then `fleetsim report merge` of the shard reports,
//! compared with one unsharded run: digest, counts and every percentile.
//! The manifest is the single source — edit its args and this runs the edit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const MANIFESTS: &str = "deploy/k8s";

/// Kubernetes' expansion of `$(NAME)` in a container's command and args
/// (k8s.io/kubernetes third_party/forked/golang/expansion): a defined
/// variable is replaced, an undefined reference is kept as written, `$$`
/// is a literal `$`, and a `$` before anything else stays as it is.
fn expand(s: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(name_end) = after.strip_prefix('(').and_then(|a| a.find(')')) {
            let name = &after[1..=name_end];
            match env.get(name) {
                Some(value) => out.push_str(value),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &after[name_end + 2..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn kubernetes_expansion_follows_the_api_rules() {
    let env = BTreeMap::from([("I".to_string(), "3".to_string())]);
    assert_eq!(expand("shard-$(I)/$(I)", &env), "shard-3/3");
    assert_eq!(expand("$$(I) $(J) $I $", &env), "$(I) $(J) $I $");
    assert_eq!(expand("$(I", &env), "$(I");
}

fn yaml_docs(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).expect("manifest reads");
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("manifest is YAML"))
        .collect()
}

/// Every resource in deploy/k8s/*.yaml.
fn resources() -> Vec<Yaml> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(MANIFESTS)
        .expect("deploy/k8s exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths.iter().flat_map(|p| yaml_docs(p)).collect()
}

fn str_of(v: &Yaml) -> String {
    v.as_str()
        .map(str::to_string)
        .or_else(|| v.as_u64().map(|n| n.to_string()))
        .unwrap_or_else(|| panic!("expected a string, found {v:?}"))
}

fn strings(v: &Yaml) -> Vec<String> {
    v.as_sequence().into_iter().flatten().map(str_of).collect()
}

/// What the test needs from the Job: its shard count, the container's
/// command line (unexpanded), its plain environment and its mounts with
/// what each holds (the files of a ConfigMap, or an empty directory).
struct Job {
    shards: u64,
    line: Vec<String>,
    env: BTreeMap<String, String>,
    mounts: Vec<(String, Option<BTreeMap<String, String>>)>,
}

fn read_job(all: &[Yaml]) -> Job {
    let job = all
        .iter()
        .find(|r| r["kind"] == "Job")
        .expect("deploy/k8s holds a Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed", "an Indexed Job");
    let shards = spec["completions"].as_u64().expect("completions");
    assert_eq!(
        spec["parallelism"].as_u64(),
        Some(shards),
        "parallelism = completions"
    );
    let pod = &spec["template"]["spec"];
    let containers = pod["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1, "one container per shard Pod");
    let c = &containers[0];
    let mut line = strings(&c["command"]);
    line.extend(strings(&c["args"]));
    let env = c["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|e| !e["value"].is_null())
        .map(|e| (str_of(&e["name"]), str_of(&e["value"])))
        .collect();
    let mut mounts = Vec::new();
    for m in c["volumeMounts"].as_sequence().into_iter().flatten() {
        let name = &m["name"];
        let volume = pod["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|v| &v["name"] == name)
            .unwrap_or_else(|| panic!("volume {name:?} is declared"));
        let files = volume["configMap"]["name"].as_str().map(|cm| {
            let map = all
                .iter()
                .find(|r| r["kind"] == "ConfigMap" && r["metadata"]["name"] == cm)
                .unwrap_or_else(|| panic!("ConfigMap {cm} is in deploy/k8s"));
            map["data"]
                .as_mapping()
                .expect("ConfigMap data")
                .iter()
                .map(|(k, v)| (str_of(k), str_of(v)))
                .collect()
        });
        mounts.push((str_of(&m["mountPath"]), files));
    }
    Job {
        shards,
        line,
        env,
        mounts,
    }
}

/// The Pod's view of the filesystem in `root`: each mount a directory
/// (a ConfigMap's keys as files), and a path rewriter into them.
fn mount(job: &Job, root: &Path) -> Vec<(String, PathBuf)> {
    let mut table = Vec::new();
    for (i, (at, files)) in job.mounts.iter().enumerate() {
        let dir = root.join(format!("volume-{i}"));
        std::fs::create_dir_all(&dir).expect("volume dir");
        for (name, text) in files.iter().flatten() {
            std::fs::write(dir.join(name), text).expect("ConfigMap file");
        }
        table.push((at.trim_end_matches('/').to_string(), dir));
    }
    // The deepest mount wins, as in the container.
    table.sort_by_key(|(at, _)| std::cmp::Reverse(at.len()));
    table
}

fn localize(arg: &str, table: &[(String, PathBuf)]) -> String {
    for (at, dir) in table {
        if let Some(rest) = arg.strip_prefix(at.as_str()) {
            if rest.is_empty() || rest.starts_with('/') {
                return format!("{}{rest}", dir.display());
            }
        }
    }
    arg.to_string()
}

/// Runs one command line whose first word is `fleetsim`; its exit code.
fn run_line(line: &[String]) -> i32 {
    let program = Path::new(&line[0]).file_name().and_then(|n| n.to_str());
    assert_eq!(
        program,
        Some("fleetsim"),
        "the container runs fleetsim: {line:?}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_fleetsim"))
        .args(&line[1..])
        .output()
        .expect("fleetsim runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "{line:?} exited {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    code
}

/// The value of `--flag V` or `--flag=V` in `line`, and where it is.
fn flag(line: &[String], name: &str) -> Option<(usize, String)> {
    let eq = format!("{name}=");
    line.iter().enumerate().find_map(|(i, a)| {
        if a == name {
            line.get(i + 1).map(|v| (i, v.clone()))
        } else {
            a.strip_prefix(&eq).map(|v| (i, v.to_string()))
        }
    })
}

fn report(dir: &str) -> Json {
    let text = std::fs::read(Path::new(dir).join("report.json")).expect("report.json written");
    serde_json::from_slice(&text).expect("report.json is JSON")
}

/// The Pod command line of shard `index`, expanded and pointed at `table`.
fn shard_line(job: &Job, index: u64, table: &[(String, PathBuf)]) -> Vec<String> {
    let mut env = job.env.clone();
    env.insert("JOB_COMPLETION_INDEX".into(), index.to_string());
    let line: Vec<String> = job.line.iter().map(|a| expand(a, &env)).collect();
    assert!(
        line.iter().all(|a| !a.contains("$(")),
        "a reference Kubernetes would leave unexpanded: {line:?}"
    );
    let shard = flag(&line, "--shard").map(|(_, v)| v);
    let want = format!("{index}/{}", job.shards);
    assert_eq!(
        shard.as_deref(),
        Some(want.as_str()),
        "--shard matches completions"
    );
    line.iter().map(|a| localize(a, table)).collect()
}

#[test]
fn the_indexed_job_shards_merge_to_the_single_run() {
    let job = read_job(&resources());
    let root = std::env::temp_dir().join(format!("fleetsim-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let table = mount(&job, &root);
    let lines: Vec<Vec<String>> = (0..job.shards)
        .map(|i| shard_line(&job, i, &table))
        .collect();
    // The shards run side by side, as the Job's Pods do.
    let threads: Vec<_> = lines
        .iter()
        .cloned()
        .map(|line| std::thread::spawn(move || run_line(&line)))
        .collect();
    for t in threads {
        t.join().expect("shard thread");
    }
    let outs: Vec<String> = lines
        .iter()
        .map(|l| flag(l, "--out").expect("each shard has --out").1)
        .collect();
    let unique: std::collections::BTreeSet<_> = outs.iter().collect();
    assert_eq!(unique.len(), outs.len(), "each shard writes its own report");

    // The whole run: shard 0's line without --shard, into its own directory.
    let mut whole_line = lines[0].clone();
    let (at, _) = flag(&whole_line, "--shard").expect("--shard");
    let width = if whole_line[at] == "--shard" { 2 } else { 1 };
    whole_line.drain(at..at + width);
    let whole_dir = root.join("whole").display().to_string();
    let (at, _) = flag(&whole_line, "--out").expect("--out");
    whole_line.drain(at..at + if whole_line[at] == "--out" { 2 } else { 1 });
    whole_line.extend(["--out".to_string(), whole_dir.clone()]);
    let whole_code = run_line(&whole_line);

    let merged_dir = root.join("merged").display().to_string();
    let mut merge_line = vec!["fleetsim".to_string(), "report".into(), "merge".into()];
    merge_line.extend(outs.iter().cloned());
    merge_line.extend(["--out".to_string(), merged_dir.clone()]);
    assert_eq!(
        run_line(&merge_line),
        whole_code,
        "same verdict, same exit code"
    );

    let (m, whole) = (report(&merged_dir), report(&whole_dir));
    assert_eq!(m["merged_from"], job.shards);
    assert!(whole["digest"].is_string());
    for key in [
        "digest",
        "device_digests",
        "devices",
        "final_phases",
        "requests",
        "statuses",
        "net_errors",
        "timeline",
        "invariants",
    ] {
        assert_eq!(m[key], whole[key], "{key}");
    }
    let mut counters = [m["counters"].clone(), whole["counters"].clone()];
    // Engine events are per-process work (each shard samples the timeline).
    for c in &mut counters {
        c.as_object_mut().expect("counters").remove("events");
    }
    assert_eq!(counters[0], counters[1], "counters");
    // Histograms merge exactly: every percentile, not just the counts.
    let kinds = whole["latency_ms"].as_object().expect("latency_ms");
    assert!(!kinds.is_empty(), "the run measured latencies");
    for (kind, lat) in kinds {
        for (q, v) in lat.as_object().expect("summary") {
            assert_eq!(&m["latency_ms"][kind][q], v, "latency_ms.{kind}.{q}");
        }
    }
    assert_eq!(m["verdict"]["passed"], whole["verdict"]["passed"]);
    let _ = std::fs::remove_dir_all(&root);
}

/// configmap.yaml says it holds shipped scenarios verbatim: a key naming a
/// file in scenarios/ has that file's text, so an edit there reaches the Job.
#[test]
fn configmap_scenarios_are_the_shipped_files() {
    let mut checked = 0;
    for map in resources().iter().filter(|r| r["kind"] == "ConfigMap") {
        for (key, text) in map["data"].as_mapping().into_iter().flatten() {
            let shipped = Path::new("scenarios").join(str_of(key));
            if let Ok(want) = std::fs::read_to_string(&shipped) {
                assert_eq!(str_of(text), want, "{} differs", shipped.display());
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "the ConfigMap holds a shipped scenario");
}
