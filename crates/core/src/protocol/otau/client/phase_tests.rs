//! Unit tests of the optional status vocabulary (`phases.rs`): test phase,
//! progress messages, aborts, reboots and boot reports, refused content —
//! each run against a scripted server until the cycle is over.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::message::{Body, ContentId, Headers, Response};
use crate::protocol::otau::wire::form_decode;

const SIZE: u64 = 700;

/// What the scripted server answers content downloads with.
#[derive(Clone, Copy)]
enum Content {
    Served,
    Status(u16),
}

struct Run {
    /// `otau_in` values written, in order.
    reports: Vec<StatusReport>,
    /// When each of them was sent and answered.
    written: Vec<(Time, Time)>,
    events: Vec<OtauEvent>,
    /// Long polls sent (the first gets the manifest).
    polls: u32,
}

fn settings() -> OtauSettings {
    OtauSettings {
        status_gap: Span::secs(1),
        install_time: Span::secs(5),
        max_download_failures: 0,
        ..OtauSettings::default()
    }
}

fn answer(req: &Request, polls: u32, files: &[&str], content: Content, sha: &str) -> Response {
    let ok = |body: String| Response {
        status: 200,
        headers: Headers::new(),
        body: Body::Bytes(body.into_bytes().into()),
    };
    if req.url.contains("/onep:v1/stack/alias?config_otau") {
        return match polls {
            1 => ok(form_encode(&[(
                "config_otau",
                &Manifest::url_list_json("2", "n", files),
            )])),
            _ => Response::status(304),
        };
    }
    if req.method == Method::Post {
        return Response::status(204);
    }
    if req.url.ends_with("&info=true") {
        return ok(format!("application/octet-stream,{SIZE},1,sha256={sha}"));
    }
    match content {
        Content::Served => Response {
            status: 200,
            headers: Headers::new(),
            body: Body::Synthetic {
                content: ContentId(9),
                offset: 0,
                len: SIZE,
            },
        },
        Content::Status(s) => Response::status(s),
    }
}

/// Runs one device until it long-polls a second time (the cycle is over).
fn run(s: &OtauSettings, boot: Option<&str>, files: &[&str], content: Content) -> Run {
    run_late(s, boot, files, content, Span::ZERO)
}

/// [`run`] with the boot report answered `late` after it was sent.
fn run_late(
    s: &OtauSettings,
    boot: Option<&str>,
    files: &[&str],
    content: Content,
    late: Span,
) -> Run {
    let mut catalog = Catalog::new();
    let sha = catalog.register(ContentId(9), SIZE).hashes.sha256.clone();
    let env = OtauEnv {
        base_url: "http://h",
        cik: "c1",
        catalog: &catalog,
        settings: s,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut c = OtauClient::new(Time::ZERO).booting(boot.map(str::to_string));
    let mut out = Run {
        reports: Vec::new(),
        written: Vec::new(),
        events: Vec::new(),
        polls: 0,
    };
    for _ in 0..200 {
        let now = c.poll_timeout();
        let req = c.poll_transmit(now, &env).and_then(Transmit::into_http);
        let req = req.expect("an HTTP request is due");
        if req.url.ends_with("?config_otau") {
            out.polls += 1;
            if out.polls == 2 {
                return out;
            }
        }
        let mut at = now;
        if let Some(v) = std::str::from_utf8(req.body.as_bytes())
            .ok()
            .and_then(|b| form_decode(b).ok())
            .and_then(|p| p.into_iter().find(|(k, _)| k == "otau_in"))
        {
            let report = StatusReport::parse(&v.1).expect("a status report");
            if out.reports.is_empty() && report.status == Status::InstalledVersion {
                at = now + late;
            }
            out.reports.push(report);
            out.written.push((now, at));
        }
        let resp = answer(&req, out.polls, files, content, &sha);
        let delivery = Delivery::Complete(resp);
        c.handle_response(at, delivery, &env, &mut rng, &mut out.events);
    }
    panic!("the cycle did not end");
}

fn statuses(r: &Run) -> Vec<&'static str> {
    r.reports.iter().map(|r| r.status.as_str()).collect()
}

#[test]
fn test_phase_and_progress_messages() {
    let s = OtauSettings {
        test_phase: true,
        progress_messages: true,
        ..settings()
    };
    let r = run(&s, None, &["a", "b"], Content::Served);
    assert_eq!(
        statuses(&r),
        [
            "INIT",
            "TEST",
            "TEST_STEP",
            "TEST_STEP",
            "TEST_SUCCESS",
            "DOWNLOAD",
            "DOWNLOAD_STEP",
            "DOWNLOAD_STEP",
            "DOWNLOAD_SUCCESS",
            "INSTALL",
            "INSTALL_STEP",
            "INSTALL_SUCCESS",
            "INSTALLED_VERSION"
        ]
    );
    let messages: Vec<&str> = r.reports.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages[2], "Checking disk space");
    assert_eq!(messages[3], "Checking 2 payload file(s)");
    assert_eq!(messages[6], "Downloading file 1 of 2");
    assert_eq!(messages[7], "Downloading file 2 of 2");
    assert_eq!(messages[10], "Installing 2");
    assert_eq!(messages[1], "", "only _STEP statuses carry progress");
}

#[test]
fn failing_test_phase_ends_in_test_error() {
    let s = OtauSettings {
        test_phase: true,
        test_failure: 1.0,
        ..settings()
    };
    let r = run(&s, None, &["a"], Content::Served);
    assert_eq!(
        statuses(&r),
        ["INIT", "TEST", "TEST_STEP", "TEST_STEP", "TEST_ERROR"]
    );
    assert!(!r.reports[4].message.is_empty(), "the error says why");
}

#[test]
fn abort_comes_halfway_through_the_download() {
    let s = OtauSettings {
        abort: 1.0,
        ..settings()
    };
    let r = run(&s, None, &["a", "b", "c", "d"], Content::Served);
    assert_eq!(
        statuses(&r),
        [
            "INIT",
            "DOWNLOAD",
            "DOWNLOAD_STEP",
            "DOWNLOAD_STEP",
            "INSTALL_ABORTED"
        ]
    );
    assert_eq!(
        r.reports[4].message,
        "aborted by the user before file 3 of 4"
    );
}

#[test]
fn boot_report_then_reboot_after_install_reports_the_new_version() {
    let s = OtauSettings {
        reboot_after_install: Some(Span::secs(40)),
        ack: AckMode::AfterInstall,
        ..settings()
    };
    let r = run(&s, Some("1.0"), &["a"], Content::Served);
    let seen: Vec<(&str, &str)> = r
        .reports
        .iter()
        .map(|r| (r.status.as_str(), r.version.as_str()))
        .collect();
    assert_eq!(seen.first(), Some(&("INSTALLED_VERSION", "1.0")));
    assert_eq!(seen[seen.len() - 2], ("INSTALL_SUCCESS", "2"));
    assert_eq!(seen.last(), Some(&("INSTALLED_VERSION", "2")));
    let acked = r
        .events
        .iter()
        .position(|e| matches!(e, OtauEvent::Acked { .. }));
    let last = r.events.iter().rposition(|e| {
        matches!(
            e,
            OtauEvent::StatusAccepted {
                status: Status::InstalledVersion,
                ..
            }
        )
    });
    assert!(acked < last, "the ACK is written before the reboot");
}

#[test]
fn refused_connector_content_reports_download_error() {
    for status in [403, 404, 410] {
        let r = run(&settings(), None, &["a"], Content::Status(status));
        assert_eq!(statuses(&r), ["INIT", "DOWNLOAD", "DOWNLOAD_ERROR"]);
        assert!(r.events.iter().any(|e| matches!(
            e,
            OtauEvent::ContentRefused { file, status: s } if file == "a" && *s == status
        )));
    }
    // 416 to a request without Range: retried, then DOWNLOAD_ERROR, but
    // not "refused" (that is a range problem, not missing content).
    let r = run(&settings(), None, &["a"], Content::Status(416));
    assert_eq!(statuses(&r), ["INIT", "DOWNLOAD", "DOWNLOAD_ERROR"]);
    assert!(!r
        .events
        .iter()
        .any(|e| matches!(e, OtauEvent::ContentRefused { .. })));
}

/// A boot report answered late, then a pending manifest: `INIT` (which
/// follows the ACK at once, as the seed's) still comes a status gap after
/// the boot report's answer, so the server sees them ≥ 1 s apart
/// (OTAU-WRITE-RATE; seen in real time under load before the fix).
#[test]
fn a_late_boot_answer_keeps_the_gap_before_init() {
    let s = OtauSettings {
        status_gap: Span::secs(3),
        ..settings()
    };
    let r = run_late(&s, Some("1.0"), &["a"], Content::Served, Span::secs(10));
    assert_eq!(&statuses(&r)[..2], ["INSTALLED_VERSION", "INIT"]);
    let (boot_sent, boot_answered) = r.written[0];
    assert_eq!(boot_answered, boot_sent + Span::secs(10));
    let init_sent = r.written[1].0;
    assert!(
        init_sent >= boot_answered + Span::secs(3),
        "INIT at {init_sent:?}"
    );
}
