//! The `fleetsim` binary: exit codes, error positions, summary and report.

use crate::common::fleetsim;

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    temp_file_bytes(name, text.as_bytes())
}

fn temp_file_bytes(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn check_accepts_the_shipped_scenarios() {
    let (code, out, _) = fleetsim(&["check", "scenarios/quickstart.yaml"]);
    assert_eq!(code, 0);
    assert!(out.contains("ok (2000 devices"), "{out}");
}

#[test]
fn malformed_scenarios_exit_2_with_a_position() {
    let cases = [
        ("bad-yaml.yaml", "name: x\nfleet: [\n", ":3:1: "),
        (
            "unknown.yaml",
            "name: x\nduration: 1d\nfleet: []\nflete: 1\n",
            ":4:1: unknown field `flete`",
        ),
        (
            "type.yaml",
            "name: x\nduration: 1d\nfleet:\n  - { kind: always_on, count: lots }\n",
            ":4:31: fleet[0].count: invalid type",
        ),
        (
            "negative.yaml",
            "name: x\nduration: 1d\nfleet:\n  - { kind: always_on, count: -3 }\n",
            ":4:31: ",
        ),
        (
            "unit.yaml",
            "name: x\nduration: 30x\nfleet: []\n",
            ":2:11: duration: expected a duration",
        ),
    ];
    for (name, text, want) in cases {
        let path = temp_file(name, text);
        let (code, _, err) = fleetsim(&["check", path.to_str().expect("utf8")]);
        assert_eq!(code, 2, "{name}: {err}");
        let expected = format!("{}{want}", path.display());
        assert!(
            err.contains(&expected),
            "{name}: wanted `{expected}` in `{err}`"
        );
    }
    let (code, _, err) = fleetsim(&["check", "/nonexistent/x.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read scenario file"), "{err}");
    let (code, _, _) = fleetsim(&["run", "scenarios/quickstart.yaml", "--shard", "4/4"]);
    assert_eq!(code, 2);
    for threads in ["0", "x"] {
        let (code, _, err) = fleetsim(&["run", "scenarios/quickstart.yaml", "--threads", threads]);
        assert_eq!(code, 2, "--threads {threads}: {err}");
    }
    let cpg = ["run", "scenarios/constrained-cache.yaml", "--threads", "2"];
    let (code, _, err) = fleetsim(&cpg);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("runs on one thread"), "{err}");
}

#[test]
fn a_broken_server_fails_the_run_with_the_violation_reported() {
    let path = temp_file(
        "broken.yaml",
        "name: cli-broken\nduration: 3h\nserver: { polling: 1m }\nfleet:\n  - { kind: always_on, count: 20, install_failure: 0.5 }\n\
         campaigns:\n  - { at: 10m, artifacts: [ { name: fw.bin, size: 64KiB } ] }\n\
         faults:\n  server:\n    - { mode: wrong_status_mapping }\n",
    );
    let out_dir = path.with_file_name("report-broken");
    let (code, out, err) = fleetsim(&[
        "run",
        path.to_str().expect("utf8"),
        "--out",
        out_dir.to_str().expect("utf8"),
        "--quiet",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("DDI-SM-MAPPING"), "{out}");
    assert!(out.contains("FAIL"), "{out}");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("report.json")).expect("report written"),
    )
    .expect("json");
    let v = &report["violations"][0];
    assert_eq!(v["id"], "DDI-SM-MAPPING");
    assert!(v["controller_id"]
        .as_str()
        .is_some_and(|c| c.starts_with("always-on-")));
    assert!(v["at_ms"].as_u64().is_some_and(|t| t > 600_000));
    assert!(
        v["excerpt"].as_array().is_some_and(|e| !e.is_empty()),
        "trace excerpt present"
    );
    assert!(report["latency_ms"]["root"]["p99"].as_u64().is_some());
    assert!(report["timeline"].as_array().is_some_and(|t| t.len() > 10));
}

#[test]
fn quickstart_passes_and_writes_its_report() {
    let dir = std::env::temp_dir().join(format!("fleetsim-quick-{}", std::process::id()));
    let (code, out, err) = fleetsim(&[
        "run",
        "scenarios/quickstart.yaml",
        "--devices",
        "200",
        "--out",
        dir.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    for needle in [
        "devices by final state",
        "updated",
        "requests",
        "violations   none",
        "digest",
        "wall time",
        "PASS",
    ] {
        assert!(out.contains(needle), "summary lacks `{needle}`: {out}");
    }
    assert!(dir.join("report.json").exists());
    let html = std::fs::read_to_string(dir.join("index.html")).expect("index.html next to it");
    assert!(html.contains("<h1>quickstart<span class=\"verdict pass\">PASS</span></h1>"));
}

#[test]
fn manage_needs_campaigns_to_create() {
    let path = temp_file(
        "external.yaml",
        "name: ext\nduration: 1m\nfleet:\n  - { kind: always_on, count: 2 }\ncampaigns: external\n",
    );
    let p = path.to_str().expect("utf8");
    let (code, out, _) = fleetsim(&["check", p]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = fleetsim(&[
        "run",
        p,
        "--target",
        "http://127.0.0.1:9",
        "--manage",
        "hawkbit",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("campaigns: external"), "{err}");
    // A password file that is empty is refused before anything is sent.
    let empty = temp_file("empty-pw", "\n");
    let (code, _, err) = fleetsim(&[
        "run",
        "scenarios/quickstart.yaml",
        "--target",
        "http://127.0.0.1:9",
        "--manage",
        "hawkbit",
        "--mgmt-password-file",
        empty.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--mgmt-password-file"), "{err}");
}

#[test]
fn otau_mqtt_fleets_need_a_broker_in_real_time() {
    let (code, _, err) = fleetsim(&[
        "run",
        "scenarios/otau-mqtt.yaml",
        "--target",
        "http://127.0.0.1:9",
        "--quiet",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--mqtt HOST:PORT"), "{err}");
}

/// A broken-server run ends its summary with the report files and the
/// command that replays the first violation; that command works, and shard
/// runs merge back into the whole run's digest.
#[test]
fn summary_points_to_reports_and_replay_and_shards_merge() {
    let dir = std::env::temp_dir().join(format!("fleetsim-cli-replay-{}", std::process::id()));
    let out_dir = dir.join("run");
    let out = out_dir.to_string_lossy().into_owned();
    let scenario = "scenarios/broken/feedback-after-close.yaml";
    let (code, summary, _) = fleetsim(&["run", scenario, "--devices", "30", "--out", &out]);
    assert_eq!(code, 0, "the violation is expected: {summary}");
    let tail: Vec<&str> = summary.lines().rev().take(2).collect();
    assert!(
        tail[1].contains("reports") && tail[1].contains("junit.xml"),
        "{summary}"
    );
    let replay = tail[0]
        .trim_start()
        .strip_prefix("replay")
        .expect("replay line")
        .trim();
    let command = replay.split("   (").next().unwrap_or_default();
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let (code, trace, err) = fleetsim(&args);
    assert_eq!(code, 0, "{command}: {err}");
    assert!(trace.contains("the replay is exact"), "{trace}");
    assert!(trace.contains("violation DDI-"), "{trace}");

    let mut shards = Vec::new();
    for i in 0..2 {
        let shard_dir = dir
            .join(format!("shard-{i}"))
            .to_string_lossy()
            .into_owned();
        let shard = format!("{i}/2");
        let args = [
            "run",
            scenario,
            "--devices",
            "30",
            "--shard",
            &shard,
            "--out",
            &shard_dir,
        ];
        assert_eq!(fleetsim(&args).0, 0);
        shards.push(shard_dir);
    }
    let merged = dir.join("merged").to_string_lossy().into_owned();
    let (code, said, err) =
        fleetsim(&["report", "merge", &shards[0], &shards[1], "--out", &merged]);
    assert_eq!(code, 0, "{err}");
    let digest = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("digest"))
        .map(str::trim)
        .expect("digest line");
    assert!(said.contains(digest), "{said} vs {digest}");
    let (code, _, err) = fleetsim(&["report", "merge", &shards[0], "--out", &merged]);
    assert_eq!(code, 2, "one shard of two is not a run: {err}");
    let (code, _, err) = fleetsim(&["replay", &shards[0], "--device", "nobody"]);
    assert_eq!(code, 2);
    assert!(err.contains("no device nobody"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tui_needs_a_terminal_and_a_valid_scenario() {
    // The test's stdout is a pipe, not a terminal.
    let (code, _, err) = fleetsim(&["tui", "scenarios/quickstart.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a terminal"), "{err}");
    let bad = temp_file("tui-bad.yaml", "name: x\nduration: 1q\nfleet: []\n");
    let (code, _, err) = fleetsim(&["tui", bad.to_str().unwrap_or_default()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tui-bad.yaml:2:"), "{err}");
    let (code, _, err) = fleetsim(&["tui", "scenarios/quickstart.yaml", "--shard", "0/2"]);
    assert_eq!(code, 2, "{err}");
}

/// Hostile scenario files are refused quickly with exit 2 and a position;
/// bounds that depend on the machine name the flag that raises them.
#[test]
fn hostile_scenarios_exit_2_with_a_position() {
    let base = "name: h\nduration: 1h\nfleet:\n";
    let anchor = "x".repeat(1 << 20);
    let aliases: String = (0..5000)
        .map(|_| "  - { at: 1m, artifacts: [ { name: a, size: 1 } ], targets: { group: *g } }\n")
        .collect();
    let deep = 150_000;
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "alias-bomb.yaml",
            format!("{base}  - {{ kind: always_on, count: 1, name: &g \"{anchor}\" }}\ncampaigns:\n{aliases}").into_bytes(),
            ":4:40: campaigns[".into(),
        ),
        (
            "deep.yaml",
            format!("name: h\nduration: 1h\nfleet: {}{}\n", "[".repeat(deep), "]".repeat(deep)).into_bytes(),
            ":3:71: expected lists and maps nested at most 64 levels deep".into(),
        ),
        (
            "latin1.yaml",
            [
                format!("{base}  - {{ kind: always_on, count: 1 }}\n").as_bytes(),
                b"# gr\xfcn (Latin-1)\n",
            ]
            .concat(),
            ":5:5: expected UTF-8 text, found the byte 0xfc".into(),
        ),
        (
            "dotdot.yaml",
            b"name: ..\nduration: 1h\nfleet:\n  - { kind: always_on, count: 1 }\n".to_vec(),
            ":1:7: expected a name of at most 100 letters".into(),
        ),
        (
            "many.yaml",
            format!("{base}  - {{ kind: always_on, count: 4294967295 }}\n").into_bytes(),
            ":4:31: expected at most ".into(),
        ),
        (
            "huge-artifact.yaml",
            format!("{base}  - {{ kind: always_on, count: 1 }}\ncampaigns:\n  - {{ at: 1m, artifacts: [ {{ name: a, size: 1000GiB }} ] }}\n").into_bytes(),
            ":6:45: expected an artifact of at most 4 GiB, found 1000 GiB".into(),
        ),
    ];
    for (name, bytes, want) in cases {
        let path = temp_file_bytes(name, &bytes);
        let p = path.to_str().expect("utf8");
        for args in [vec!["check", p], vec!["run", p, "--quiet"]] {
            let command = args[0];
            let (code, out, err) = fleetsim(&args);
            assert_eq!(code, 2, "{command} {name}: {out}{err}");
            let expected = format!("{p}{want}");
            assert!(
                err.contains(&expected),
                "{command} {name}: wanted `{expected}` in `{}`",
                &err[..err.len().min(300)]
            );
        }
    }
    // The `..` run wrote nothing beside the working directory.
    assert!(!std::path::Path::new("report.json").exists());
    // The bounds that depend on the machine say how to raise them, and do.
    let many = temp_file(
        "many2.yaml",
        &format!("{base}  - {{ kind: always_on, count: 4294967295 }}\n"),
    );
    let (_, _, err) = fleetsim(&["check", many.to_str().expect("utf8")]);
    assert!(err.contains("--max-devices N"), "{err}");
    let (code, out, err) = fleetsim(&[
        "check",
        many.to_str().expect("utf8"),
        "--max-devices",
        "5000000000",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let large = temp_file("large.yaml", &format!("{base}  - {{ kind: always_on, count: 1 }}\ncampaigns:\n  - {{ at: 1m, artifacts: [ {{ name: a, size: 1000GiB }} ] }}\n"));
    let (_, _, err) = fleetsim(&["check", large.to_str().expect("utf8")]);
    assert!(err.contains("--max-artifact-size SIZE"), "{err}");
    let (code, out, err) = fleetsim(&[
        "check",
        large.to_str().expect("utf8"),
        "--max-artifact-size",
        "1000GiB",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    // A byte-order mark is skipped.
    let bom = temp_file(
        "bom.yaml",
        &format!("\u{feff}{base}  - {{ kind: always_on, count: 3 }}\n"),
    );
    let (code, out, err) = fleetsim(&["check", bom.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok (3 devices"), "{out}");
}

/// Flags with values that cannot work are bad input naming the flag, not
/// an unreachable server or an abort.
#[test]
fn malformed_or_oversized_flags_exit_2_naming_the_flag() {
    let q = "scenarios/quickstart.yaml";
    let t = "http://127.0.0.1:9";
    let cases: [(&[&str], &str); 9] = [
        (
            &["run", q, "--devices", "4294967295"],
            "--devices 4294967295: expected at most ",
        ),
        (
            &["tui", q, "--devices", "4294967295"],
            "--devices 4294967295: expected at most ",
        ),
        (
            &["run", q, "--devices", "3000", "--max-devices", "2000"],
            "(the limit --max-devices sets)",
        ),
        (
            &["run", q, "--duration", "30m"],
            "--duration 30m: campaigns[0].at: expected a campaign start before the end",
        ),
        (
            &["run", q, "--target", "http://[::1"],
            "--target http://[::1: expected an http:// or https:// URL",
        ),
        (
            &[
                "run",
                q,
                "--target",
                t,
                "--manage",
                "hawkbit",
                "--mgmt-url",
                "http://[::1",
            ],
            "--mgmt-url http://[::1: expected an http",
        ),
        (
            &[
                "run",
                "scenarios/otau-mqtt.yaml",
                "--target",
                t,
                "--mqtt",
                "broker",
            ],
            "--mqtt broker: expected HOST:PORT",
        ),
        (
            &["run", q, "--target", t, "--tenant", "a b"],
            "--tenant `a b`: expected a tenant of letters",
        ),
        (
            &["serve", "--listen", "127.0.0.1:0", "--product-id", "Pid.1"],
            "--product-id \"Pid.1\": expected 1 to 64 lowercase",
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = fleetsim(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: wanted `{want}` in `{err}`");
    }
}

/// A gateway token written in the scenario reaches no output: not the
/// report (its `scenario_yaml` is redacted), the JUnit or HTML files, nor
/// stdout or stderr; the report still replays exactly.
#[test]
fn a_gateway_token_in_the_scenario_reaches_no_output() {
    const TOKEN: &str = "gw-s3cr3t-in-the-scenario";
    let path = temp_file(
        "secret.yaml",
        &format!("name: cli-secret\nduration: 3h\nserver: {{ polling: 1m, gateway_token: {TOKEN} }}\nfleet:\n  - {{ kind: always_on, count: 20, install_failure: 0.5 }}\n\
         campaigns:\n  - {{ at: 10m, artifacts: [ {{ name: fw.bin, size: 64KiB }} ] }}\n\
         faults:\n  server:\n    - {{ mode: wrong_status_mapping }}\n"),
    );
    let out_dir = path.with_file_name("report-secret");
    let out = out_dir.to_str().expect("utf8");
    let (code, stdout, stderr) = fleetsim(&[
        "run",
        path.to_str().expect("utf8"),
        "--out",
        out,
        "--trace-device",
        "1",
    ]);
    assert_eq!(code, 1, "the violation fires: {stdout}{stderr}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "{stdout}{stderr}"
    );
    for file in fleetsim::report::REPORT_FILES {
        let text = std::fs::read_to_string(out_dir.join(file)).expect("report file");
        assert!(!text.contains(TOKEN), "{file} shows the token");
    }
    let report = std::fs::read_to_string(out_dir.join("report.json")).expect("report");
    assert!(report.contains("gateway_token: <redacted>"), "{report}");
    let (code, trace, err) = fleetsim(&["replay", out, "--device", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(trace.contains("the replay is exact"), "{trace}");
    assert!(!trace.contains(TOKEN) && !err.contains(TOKEN));
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn twin_flags_are_checked() {
    let (code, _, err) = fleetsim(&[
        "run",
        "scenarios/gateways.yaml",
        "--target",
        "http://127.0.0.1:9",
        "--twin",
        "ditto:8080",
        "--twin-api",
        "http",
        "--quiet",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--twin ditto:8080"), "{err}");
    let (code, _, err) = fleetsim(&["run", "scenarios/gateways.yaml", "--twin-api", "http"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--target"), "{err}");
}
