use super::*;

const GOOD: &str = "\
name: t
seed: 7
duration: 2d
server: embedded
fleet:
  - kind: constrained
    count: 10
    connectivity: { online_every: 12h, online_for: 30s, loss: 0.05, latency: { p50: 300ms, p99: 4s } }
  - kind: always_on
    count: 5
campaigns:
  - at: 1h
    artifacts: [ { name: fw.bin, size: 8MiB } ]
    targets: { kind: constrained }
faults:
  server:
    - { at: 1d, for: 10m, respond: 503 }
    - { mode: accept_feedback_after_close }
expect:
  violations: [DDI-SM-410]
";

fn err(text: &str) -> String {
    load_str("s.yaml", text).unwrap_err().to_string()
}

#[test]
fn good_scenario_loads() {
    let s = load_str("s.yaml", GOOD).unwrap();
    assert_eq!(s.seed, 7);
    assert_eq!(s.duration.0, fleetsim_core::time::Span::days(2));
    assert_eq!(
        s.fleet[0].connectivity.latency.p99.0,
        fleetsim_core::time::Span::secs(4)
    );
    assert_eq!(s.campaigns[0].artifacts[0].size.0, 8 << 20);
    use fleetsim_core::server::Fault;
    assert_eq!(
        s.faults.server[0].what,
        FaultKind::Server(Fault::Respond { status: 503 })
    );
    assert_eq!(
        s.faults.server[1].what,
        FaultKind::Server(Fault::AcceptFeedbackAfterClose)
    );
    assert_eq!(
        s.expect.violations,
        ExpectedViolations::Ids(vec!["DDI-SM-410".into()])
    );
    assert_eq!(s.server.tenant, "DEFAULT");
}

#[test]
fn bad_unit_points_at_the_value() {
    let e = err(&GOOD.replace("duration: 2d", "duration: 30x"));
    assert!(e.starts_with("s.yaml:3:11: "), "{e}");
    assert!(e.contains("expected a duration"), "{e}");
}

#[test]
fn unknown_field_is_named() {
    let e = err(&GOOD.replace("    count: 5", "    count: 5\n    cuont: 6"));
    assert!(e.starts_with("s.yaml:11:5: "), "{e}");
    assert!(e.contains("unknown field `cuont`"), "{e}");
}

#[test]
fn negative_count_and_wrong_type() {
    let e = err(&GOOD.replace("count: 5", "count: -5"));
    assert!(e.starts_with("s.yaml:10:12: "), "{e}");
    let e = err(&GOOD.replace("count: 5", "count: many"));
    assert!(
        e.starts_with("s.yaml:10:12: ") && e.contains("expected u32"),
        "{e}"
    );
    let e = err(&GOOD.replace("loss: 0.05", "loss: 1.5"));
    assert!(e.contains("expected a fraction between 0 and 1"), "{e}");
}

#[test]
fn bad_yaml_has_a_position() {
    let e = err("name: t\nfleet: [\n");
    assert!(e.starts_with("s.yaml:"), "{e}");
    assert!(!e.starts_with("s.yaml:1:1:"), "{e}");
}

#[test]
fn cross_field_errors_are_located() {
    let e = err(&GOOD.replace("online_for: 30s", "online_for: 13h"));
    assert!(e.starts_with("s.yaml:8:"), "{e}");
    assert!(e.contains("no longer than `online_every`"), "{e}");
    let e = err(&GOOD.replace("at: 1h", "at: 3d"));
    assert!(e.starts_with("s.yaml:12:9: "), "{e}");
    let e = err(&GOOD.replace("DDI-SM-410", "NOPE-1"));
    assert!(
        e.starts_with("s.yaml:20:") && e.contains("expected an invariant ID"),
        "{e}"
    );
    let e = err(&GOOD.replace("count: 10", "count: 0"));
    assert!(e.starts_with("s.yaml:7:12: "), "{e}");
    let e = err(&format!("{GOOD}load: {{ ramp_to: 100 }}\n"));
    assert!(
        e.starts_with("s.yaml:21:") && e.contains("`start_rate` beside"),
        "{e}"
    );
    let e = err(&format!("{GOOD}load: {{ time_scale: 0 }}\n"));
    assert!(e.contains("time scale above 0"), "{e}");
    let e = err(&format!("{GOOD}sample_every: 1ms\n"));
    assert!(
        e.starts_with("s.yaml:21:15: ") && e.contains("at least 1/100000 of the duration"),
        "{e}"
    );
    let e = err(&format!("{GOOD}sample_every: 0s\n"));
    assert!(e.starts_with("s.yaml:21:15: "), "{e}");
    let e = err(&GOOD.replace("respond: 503", "respond: 503, reset: true"));
    assert!(e.contains("exactly one of"), "{e}");
    let e = err(&GOOD.replace("server: embedded", "server: { gateway_token: \"\" }"));
    assert!(
        e.starts_with("s.yaml:4:") && e.contains("non-empty key"),
        "{e}"
    );
}

#[test]
fn scaling_keeps_proportions() {
    let mut s = load_str("s.yaml", GOOD).unwrap();
    s.scale_fleet(3000);
    assert_eq!(s.device_count(), 3000);
    assert_eq!(s.fleet[0].count, 2000);
    s.scale_fleet(1);
    assert_eq!(s.device_count(), 2, "each group keeps one device");
}

#[test]
fn open_loop_arrival_ramps_linearly() {
    let mut load = Load::default();
    assert_eq!(load.start_offset_secs(10), None);
    load.start_rate = Some(10.0);
    assert_eq!(load.start_offset_secs(25), Some(2.5));
    load.ramp_to = Some(30.0);
    load.ramp_over = Some(Duration(fleetsim_core::time::Span::secs(10)));
    // 200 devices start during the ramp ((10 + 30) / 2 * 10 s), then 30/s.
    let at = |n| load.start_offset_secs(n).unwrap();
    assert!((at(200) - 10.0).abs() < 1e-9);
    assert!((at(260) - 12.0).abs() < 1e-9);
    assert!(at(10) < 1.0 && at(10) > 0.9, "{}", at(10));
    let mut last = 0.0;
    for n in 0..300 {
        assert!(at(n) >= last, "monotonic at {n}");
        last = at(n);
    }
}

#[test]
fn campaigns_may_be_external_and_a_wrong_word_is_located() {
    let base = "name: t\nduration: 1d\nfleet:\n  - { kind: always_on, count: 2 }\n";
    let s = load_str("s.yaml", &format!("{base}campaigns: external\n")).unwrap();
    assert!(s.campaigns.external);
    assert!(s.campaigns.is_empty());
    let s = load_str("s.yaml", GOOD).unwrap();
    assert!(!s.campaigns.external);
    let e = err(&format!("{base}campaigns: externel\n"));
    assert!(
        e.starts_with("s.yaml:5:12: ")
            && e.contains("expected a list of campaigns or `external`, found `externel`"),
        "{e}"
    );
    // Errors inside a listed campaign keep their own position.
    let e = err(&format!(
        "{base}campaigns:\n  - {{ at: 1h, artifacts: [], colour: red }}\n"
    ));
    assert!(e.starts_with("s.yaml:6:"), "{e}");
    assert!(e.contains("unknown field `colour`"), "{e}");
}

/// A file of `text` (or bytes) under the temp directory, unique to this process.
fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fleetsim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

const BASE: &str = "name: t\nduration: 1d\nfleet:\n";

#[test]
fn alias_amplification_is_refused_with_the_alias_path() {
    // A 1 MB anchor copied by 5 000 aliases: 5 GB once expanded.
    let anchor = "x".repeat(1 << 20);
    let campaigns: String = (0..5000)
        .map(|_| "  - { at: 1h, artifacts: [ { name: a, size: 1 } ], targets: { group: *g } }\n")
        .collect();
    let text = format!(
        "{BASE}  - {{ kind: always_on, count: 1, name: &g \"{anchor}\" }}\ncampaigns:\n{campaigns}"
    );
    let e = err(&text);
    assert!(e.starts_with("s.yaml:4:40: campaigns["), "{}", &e[..100]);
    assert!(e.contains("with aliases (`*name`) expanded"), "{e}");
    // Aliases as people use them are fine.
    let text = format!("{BASE}  - {{ kind: always_on, count: 1, connectivity: &c {{ loss: 0.1 }} }}\n  - {{ kind: always_on, count: 2, connectivity: *c }}\n");
    let s = load_str("s.yaml", &text).unwrap();
    assert_eq!(s.fleet[1].connectivity.loss.0, 0.1);
}

#[test]
fn deep_nesting_is_refused_at_the_too_deep_node() {
    let d = 150_000;
    let e =
        err(&format!("{BASE}{}{}\n", "[".repeat(d), "]".repeat(d)).replace("fleet:\n", "fleet: "));
    // `fleet: ` then the 64th bracket: the root map is the first level.
    assert_eq!(
        e,
        format!(
            "s.yaml:3:71: expected lists and maps nested at most {} levels deep",
            depth::MAX_DEPTH
        )
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let s = load_str("s.yaml", &format!("\u{feff}{GOOD}")).unwrap();
    assert_eq!(s.seed, 7);
    let e = err(&format!(
        "\u{feff}{}",
        GOOD.replace("duration: 2d", "duration: 30x")
    ));
    assert!(e.starts_with("s.yaml:3:11: "), "{e}");
    let path = temp_file("bom.yaml", format!("\u{feff}{GOOD}").as_bytes());
    assert_eq!(load(&path).unwrap().seed, 7);
}

#[test]
fn text_that_is_not_utf8_is_located() {
    let mut bytes = b"\xef\xbb\xbfname: t\nduration: 1d\nfleet: [ { name: \"gr".to_vec();
    bytes.extend_from_slice(b"\xfcn\" } ]\n");
    let path = temp_file("latin1.yaml", &bytes);
    let e = load(&path).unwrap_err();
    assert_eq!((e.line, e.column), (3, 21), "{e}");
    assert_eq!(e.message, "expected UTF-8 text, found the byte 0xfc");
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let path = temp_file("huge.yaml", b"");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(text::MAX_FILE_SIZE + 1).unwrap(); // sparse: costs no disk
    let e = load(&path).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "expected a scenario file of at most 16 MiB (scenario files are small configurations)"
        ),
        "{e}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn names_stay_inside_the_reports_directory() {
    let long = "n".repeat(MAX_NAME_LEN + 1);
    for name in ["..", ".", ".hidden", "a/b", "''", long.as_str()] {
        let e = err(&GOOD.replace("name: t", &format!("name: {name}")));
        assert!(
            e.starts_with("s.yaml:1:7: expected a name of at most 100"),
            "{name}: {e}"
        );
        assert!(e.contains("not starting with `.`"), "{e}");
    }
    for name in ["v1.2", "a..b", &long[1..]] {
        let s = load_str("s.yaml", &GOOD.replace("name: t", &format!("name: {name}"))).unwrap();
        assert_eq!(s.name, name);
    }
    let e = err(&GOOD.replace("name: fw.bin", "name: .."));
    assert!(e.contains("other than `.` and `..`"), "{e}");
}

#[test]
fn capacity_is_checked_at_the_count_and_the_size_that_exceed_it() {
    let text = format!("{BASE}  - {{ kind: always_on, count: 6000000 }}\n  - {{ kind: always_on, count: 4294967295 }}\ncampaigns:\n  - {{ at: 1h, artifacts: [ {{ name: a, size: 1000GiB }} ] }}\n");
    let path = temp_file("large.yaml", text.as_bytes());
    let defaults = Capacity::with_memory(None, None, None);
    let e = load_within(&path, &defaults).unwrap_err();
    assert_eq!((e.line, e.column), (5, 31), "{e}");
    assert!(
        e.message
            .starts_with("expected at most 10000000 devices in all, found 4300967295")
            && e.message.ends_with("raise the limit with --max-devices N)"),
        "{e}"
    );
    let more_devices = Capacity::with_memory(Some(u64::MAX), None, None);
    let e = load_within(&path, &more_devices).unwrap_err();
    assert_eq!((e.line, e.column), (7, 45), "{e}");
    assert!(e.message.contains("--max-artifact-size"), "{e}");
    let both = Capacity::with_memory(Some(u64::MAX), Some(1000 << 30), None);
    assert_eq!(
        load_within(&path, &both).unwrap().device_count(),
        4_300_967_295
    );
    // A small machine holds fewer devices.
    let small = Capacity::with_memory(None, None, Some(1 << 30));
    let e = load_within(&path, &small).unwrap_err();
    assert_eq!((e.line, e.column), (4, 31), "{e}");
    assert!(
        e.message.contains("this machine has 1 GiB available"),
        "{e}"
    );
}

#[test]
fn redaction_hides_the_gateway_token_and_keeps_the_rest() {
    let s = load_str(
        "s.yaml",
        &GOOD.replace("server: embedded", "server: { gateway_token: k-123 }"),
    )
    .unwrap();
    let yaml = serde_yaml::to_string(&s.redacted()).unwrap();
    assert!(
        !yaml.contains("k-123") && yaml.contains(secrets::REDACTED),
        "{yaml}"
    );
    let back = load_str("r.yaml", &yaml).unwrap();
    assert_eq!(
        back.server.gateway_token.as_deref(),
        Some(secrets::REDACTED)
    );
    assert_eq!(back.fleet.len(), s.fleet.len());
}

#[test]
fn ddi_only_settings_on_other_protocols_are_located_errors() {
    let otau = |extra: &str| {
        format!("name: t\nduration: 1h\nfleet:\n  - {{ kind: always_on, count: 1, protocol: otau, {extra} }}\n")
    };
    let e = err(&otau("encoding: cbor"));
    assert!(e.starts_with("s.yaml:4:"), "{e}");
    assert!(
        e.contains("`encoding` only on DDI groups (this group speaks otau)"),
        "{e}"
    );
    assert!(err(&otau("consent: confirm")).contains("`consent` only on DDI groups"));
    assert!(err(&otau("auth: target_token")).contains("`auth` only on DDI groups"));
    assert!(load_str("s.yaml", &otau("auth: gateway")).is_ok());
}

#[test]
fn tenant_names_are_checked_and_ddi_only() {
    let group = |extra: &str| {
        format!("name: t\nduration: 1h\nfleet:\n  - {{ kind: always_on, count: 1, {extra} }}\n")
    };
    assert!(load_str("s.yaml", &group("tenant: ACME_2.eu-1")).is_ok());
    let e = err(&group("tenant: 'a/b'"));
    assert!(e.starts_with("s.yaml:4:"), "{e}");
    assert!(e.contains("expected a tenant name"), "{e}");
    assert!(err(&group("tenant: ''")).contains("expected a tenant name"));
    let long = format!("tenant: {}", "T".repeat(41));
    assert!(err(&group(&long)).contains("expected a tenant name"));
    let e = err(&group("protocol: otau, tenant: ACME"));
    assert!(e.contains("`tenant` only on DDI groups"), "{e}");
    let e = err("name: t\nduration: 1h\nserver: { tenant: 'x y' }\nfleet:\n  - { kind: always_on, count: 1 }\n");
    assert!(
        e.starts_with("s.yaml:3:") && e.contains("expected a tenant name"),
        "{e}"
    );
}

#[test]
fn otau_product_ids_are_checked() {
    let group = |pid: &str| {
        format!("name: t\nduration: 1h\nfleet:\n  - {{ kind: always_on, count: 1, protocol: otau, otau: {{ product: {pid} }} }}\n")
    };
    assert!(load_str("s.yaml", &group("d1zzd6dflnt50000")).is_ok());
    for bad in ["'a.m2'", "ABC", "''", &"a".repeat(65)] {
        let e = err(&group(bad));
        assert!(e.starts_with("s.yaml:4:"), "{bad}: {e}");
        assert!(e.contains("expected a product id"), "{bad}: {e}");
    }
}
