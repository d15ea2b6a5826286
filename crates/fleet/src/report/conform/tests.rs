//! The card's rule (a SKIP is not a pass) and its views.

use super::*;

fn case(id: &str, outcome: Outcome, reason: Option<&str>) -> CaseReport {
    CaseReport {
        device: None,
        id: id.into(),
        title: format!("{id} does it"),
        clause: "ddi.md §1.1".into(),
        outcome,
        reason: reason.map(String::from),
        duration_ms: 3,
        evidence: vec![
            Evidence::Note {
                text: "assigned <v1> & forced".into(),
            },
            Evidence::Exchange(Exchange {
                request: "GET /DEFAULT/controller/v1/d".into(),
                status: Some(200),
                response_body: Some("{\"a\":1}".into()),
                ..Exchange::default()
            }),
        ],
    }
}

fn report(outcomes: &[Outcome]) -> ConformReport {
    let cases = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            case(
                &format!("DDI-X-{i:03}"),
                *o,
                Some("why | not at http://h:1/x/cf9-d"),
            )
        })
        .collect();
    let run = RunInfo {
        profile: "ddi-v1",
        target: "http://h:1",
        manage: "hawkbit",
        run_tag: "cf9",
    };
    ConformReport::new(run, cases, 10)
}

#[test]
fn passes_only_when_every_case_passes() {
    assert!(report(&[Outcome::Pass, Outcome::Pass]).passed());
    assert!(!report(&[Outcome::Pass, Outcome::Skip]).passed());
    assert!(!report(&[Outcome::Fail, Outcome::Pass]).passed());
    assert!(!report(&[]).passed(), "an empty card proves nothing");
    let r = report(&[Outcome::Pass, Outcome::Fail, Outcome::Skip]);
    assert_eq!(r.score(), "1/3 PASS, 1 FAIL, 1 SKIP");
}

#[test]
fn views_name_every_case_and_escape_their_text() {
    let r = report(&[Outcome::Pass, Outcome::Fail, Outcome::Skip]);
    let t = table(&r);
    assert!(t.contains("DDI-X-001  FAIL"), "{t}");
    let h = html(&r);
    assert!(h.contains("&lt;v1&gt; &amp; forced"), "escaped note");
    assert!(h.contains("<td class=\"SKIP\">SKIP</td>"));
    let j = junit(&r).expect("junit renders");
    assert_eq!(j.matches("<testcase").count(), 3, "{j}");
    assert!(j.contains("<failure") && j.contains("<skipped"), "{j}");
    let m = markdown(&r);
    assert!(m.contains("| `DDI-X-002` | SKIP |"), "{m}");
    assert!(
        m.contains("why \\| not at &lt;target&gt;/x/&lt;tag&gt;-d"),
        "stable text: {m}"
    );
    let back: ConformReport =
        serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("parses");
    assert_eq!(back, r);
}

#[test]
fn write_puts_every_file_into_the_directory() {
    let dir = std::env::temp_dir().join(format!("fleetsim-conform-card-{}", std::process::id()));
    write(&report(&[Outcome::Pass]), &dir).expect("written");
    for f in FILES {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn device_rows_name_their_device_in_every_view() {
    let mut r = report(&[Outcome::Pass, Outcome::Fail]);
    for (c, d) in r.cases.iter_mut().zip(["dev-1", "dev-2"]) {
        c.device = Some(d.into());
    }
    assert!(
        table(&r).contains("DDI-X-001 @dev-2  FAIL"),
        "{}",
        table(&r)
    );
    let md = markdown(&r);
    assert!(
        md.contains("`DDI-X-000 @dev-1`") && md.contains("conform --device --markdown"),
        "{md}"
    );
    let junit = junit(&r).expect("junit");
    assert!(junit.contains("DDI-X-001 @dev-2: "), "{junit}");
    assert!(html(&r).contains("DDI-X-000 @dev-1"));
    let json = serde_json::to_string(&r).expect("json");
    assert!(json.contains("\"device\":\"dev-1\""), "{json}");
    let plain = serde_json::to_string(&report(&[Outcome::Pass])).expect("json");
    assert!(
        !plain.contains("device"),
        "server-side rows carry no device field"
    );
}
