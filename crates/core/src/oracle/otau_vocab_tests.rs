//! The OTAU oracle on the optional vocabulary: test phase, aborts, boot
//! reports and refused connector content.

use super::*;
use Status::*;

/// Offers manifest "2" to device 1, then the statuses one per 2 s.
fn run(statuses: &[Status], extra: Option<OtauEvent>) -> Vec<&'static str> {
    let mut o = OtauOracle::new();
    let v = || "2".to_string();
    o.observe(
        1,
        Time(0),
        &OtauEvent::StatusAccepted {
            version: "1".into(),
            status: InstalledVersion,
        },
    );
    o.observe_manifest_set(1, Time(1_000));
    let offered = OtauEvent::Offered {
        version: v(),
        busy: false,
    };
    o.observe(1, Time(2_000), &offered);
    o.observe(1, Time(2_000), &OtauEvent::Acked { version: v() });
    for (i, s) in statuses.iter().enumerate() {
        let ev = OtauEvent::StatusAccepted {
            version: v(),
            status: *s,
        };
        o.observe(1, Time(4_000 + i as u64 * 2_000), &ev);
    }
    if let Some(ev) = extra {
        o.observe(1, Time(100_000), &ev);
    }
    o.violations().iter().map(|x| x.id).collect()
}

#[test]
fn test_phase_must_pass_before_the_download() {
    let tested = [Init, Test, TestStep, TestStep, TestSuccess, Download];
    assert!(
        run(&tested, None).is_empty(),
        "boot report, then a tested cycle"
    );
    let skipped = [Init, Test, TestStep, Download];
    assert_eq!(run(&skipped, None), ["OTAU-SEQ"]);
    assert!(run(&[Init, Test, TestStep, TestError], None).is_empty());
    assert_eq!(
        run(&[Init, TestStep, TestError, Download], None),
        ["OTAU-SEQ"]
    );
}

#[test]
fn abort_ends_the_cycle_anywhere() {
    assert!(run(&[Init, Download, DownloadStep, InstallAborted], None).is_empty());
    assert!(run(&[Init, Test, InstallAborted], None).is_empty());
    assert_eq!(
        run(&[Init, Download, InstallAborted, DownloadStep], None),
        ["OTAU-SEQ"]
    );
}

#[test]
fn refused_connector_content_fires_otau_served() {
    let refused = OtauEvent::ContentRefused {
        file: "fw.bin".into(),
        status: 410,
    };
    assert_eq!(run(&[Init, Download], Some(refused)), ["OTAU-SERVED"]);
}
