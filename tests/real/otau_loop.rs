//! OTAU end to end, sans-IO: N [`OtauClient`]s against one [`OtauServer`] in
//! a deterministic in-memory loop (a binary heap of wake-ups in virtual time,
//! no sockets, zero latency), with the [`OtauOracle`] watching.
//!
//! Checks the seed's full status sequence for a 2-file URL_LIST campaign,
//! Range resume after interrupted downloads, install failures, and that each
//! server fault mode / client misbehaviour fires its invariant and only it.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use fleetsim::artifact::Catalog;
use fleetsim::message::{ContentId, NetError, Request};
use fleetsim::oracle::otau::OtauOracle;
use fleetsim::protocol::ddi::Delivery;
use fleetsim::protocol::otau::wire::{Manifest, Status, StatusReport};
use fleetsim::protocol::otau::{AckMode, OtauClient, OtauEnv, OtauSettings, Transmit};
use fleetsim::server::otau::{cik_for, OtauAnswer, OtauFaults, OtauServer};
use fleetsim::time::{Span, Time};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

struct Dev {
    client: OtauClient,
    rng: ChaCha8Rng,
    cik: String,
    parked: Option<(Request, Time)>,
    interrupt_next: bool,
}

struct Run {
    server: OtauServer,
    oracle: OtauOracle,
    devs: Vec<Dev>,
    heap: BinaryHeap<Reverse<(Time, u64, usize)>>,
    seq: u64,
    ranges: u64,
    settings: OtauSettings,
    catalog: Catalog,
}

const FILES: [&str; 2] = ["firmware_v2.bin", "instructions.txt"];

impl Run {
    fn new(n: usize, settings: OtauSettings, faults: OtauFaults, interrupt: bool) -> Run {
        let mut server = OtauServer::new(n as u64);
        server.faults = faults;
        server.add_content(FILES[0], ContentId(1), 200_000, Time::ZERO);
        server.add_content(FILES[1], ContentId(2), 1_000, Time::ZERO);
        let devs = (0..n)
            .map(|i| Dev {
                client: OtauClient::new(Time(i as u64 * 10)),
                rng: ChaCha8Rng::seed_from_u64(i as u64),
                cik: cik_for(i as u64),
                parked: None,
                interrupt_next: interrupt && i % 2 == 0,
            })
            .collect();
        let catalog = server.catalog().clone();
        let mut run = Run {
            catalog,
            server,
            oracle: OtauOracle::new(),
            devs,
            heap: BinaryHeap::new(),
            seq: 0,
            ranges: 0,
            settings,
        };
        for i in 0..n {
            let t = run.devs[i].client.poll_timeout();
            run.wake(t, i);
        }
        run
    }

    fn wake(&mut self, t: Time, i: usize) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, i)));
    }

    fn campaign(&mut self, version: &str, now: Time) {
        self.server
            .set_manifest_all(&Manifest::url_list_json(version, "fw", &FILES), now);
        for i in 0..self.devs.len() {
            self.oracle.observe_manifest_set(i as u64, now);
            self.wake(now, i);
        }
    }

    /// Runs until `end` (bounded number of steps).
    fn run_until(&mut self, end: Time) {
        let mut steps = 0;
        while let Some(Reverse((t, _, i))) = self.heap.peek().copied() {
            if t > end {
                break;
            }
            self.heap.pop();
            steps += 1;
            assert!(steps < 2_000_000, "loop did not settle");
            self.step(t, i);
        }
    }

    fn step(&mut self, now: Time, i: usize) {
        let cik = self.devs[i].cik.clone();
        let env = OtauEnv {
            base_url: "http://otau.test",
            cik: &cik,
            catalog: &self.catalog,
            settings: &self.settings,
        };
        let dev = &mut self.devs[i];
        let delivery = if let Some((req, until)) = &dev.parked {
            match self.server.poll_pending(now, req, *until) {
                Some(resp) => {
                    dev.parked = None;
                    Delivery::Complete(resp)
                }
                None => return,
            }
        } else {
            let Some(req) = dev
                .client
                .poll_transmit(now, &env)
                .and_then(Transmit::into_http)
            else {
                return;
            };
            if req.headers.get("range").is_some() {
                self.ranges += 1;
            }
            match self.server.handle(now, &req) {
                OtauAnswer::Pending { until } => {
                    dev.parked = Some((req, until));
                    self.seq += 1;
                    self.heap.push(Reverse((until, self.seq, i)));
                    return;
                }
                OtauAnswer::Ready(resp) if dev.interrupt_next && resp.body.len() > 10_000 => {
                    dev.interrupt_next = false;
                    let cut = resp.body.len() / 3;
                    let partial = fleetsim::message::Response {
                        body: resp.body.truncated(cut),
                        ..resp
                    };
                    Delivery::Broken(NetError::Reset, Some(partial))
                }
                OtauAnswer::Ready(resp) => Delivery::Complete(resp),
            }
        };
        let mut events = Vec::new();
        dev.client
            .handle_response(now, delivery, &env, &mut dev.rng, &mut events);
        for e in &events {
            self.oracle.observe(i as u64, now, e);
        }
        let next = self.devs[i].client.poll_timeout();
        if next != Time::NEVER {
            self.wake(next, i);
        }
    }

    fn statuses(&self, i: usize) -> Vec<StatusReport> {
        self.server
            .statuses(i as u64)
            .iter()
            .filter_map(|r| StatusReport::parse(&r.value).ok())
            .collect()
    }

    fn violation_ids(&self) -> BTreeSet<&'static str> {
        self.oracle.violations().iter().map(|v| v.id).collect()
    }
}

fn settings() -> OtauSettings {
    OtauSettings {
        install_time: Span::secs(30),
        ..OtauSettings::default()
    }
}

const SEED_ORDER: [Status; 9] = [
    Status::Init,
    Status::Download,
    Status::DownloadStep,
    Status::DownloadStep,
    Status::DownloadSuccess,
    Status::Install,
    Status::InstallStep,
    Status::InstallSuccess,
    Status::InstalledVersion,
];

#[test]
fn campaign_runs_every_device_through_the_seed_sequence_with_range_resume() {
    let mut run = Run::new(40, settings(), OtauFaults::default(), true);
    run.run_until(Time(5_000));
    run.campaign("2.0.1", Time(5_000));
    run.run_until(Time(3_600_000));
    for i in 0..40 {
        let got: Vec<Status> = run.statuses(i).iter().map(|r| r.status).collect();
        assert_eq!(got, SEED_ORDER, "device {i}");
        assert!(run.statuses(i).iter().all(|r| r.version == "2.0.1"));
        assert!(run.server.acked_at(i as u64).is_some());
        assert_eq!(run.devs[i].client.installed(), Some("2.0.1"));
    }
    assert_eq!(
        run.ranges, 20,
        "every interrupted device resumed with Range"
    );
    assert!(
        run.oracle.violations().is_empty(),
        "{:?}",
        run.oracle.violations()
    );
}

#[test]
fn same_seed_same_trace() {
    let trace = || {
        let s = OtauSettings {
            install_failure: 0.2,
            ..settings()
        };
        let mut run = Run::new(30, s, OtauFaults::default(), true);
        run.campaign("6", Time(1_000));
        run.run_until(Time(3_600_000));
        (0..30u64)
            .flat_map(|i| run.server.statuses(i).to_vec())
            .map(|r| (r.at, r.value))
            .collect::<Vec<_>>()
    };
    let a = trace();
    assert!(a.len() > 200);
    assert_eq!(a, trace());
}

#[test]
fn install_failure_setting_yields_install_error() {
    let s = OtauSettings {
        install_failure: 0.02,
        ..settings()
    };
    let mut run = Run::new(1000, s, OtauFaults::default(), false);
    run.campaign("3", Time(1_000));
    run.run_until(Time(3_600_000));
    let failed = (0..1000)
        .filter(|&i| run.statuses(i).last().map(|r| r.status) == Some(Status::InstallError))
        .count();
    let ok = (0..1000)
        .filter(|&i| run.statuses(i).last().map(|r| r.status) == Some(Status::InstalledVersion))
        .count();
    assert_eq!(failed + ok, 1000);
    assert!(
        (5..=40).contains(&failed),
        "{failed} failures of 1000 at 2 %"
    );
    assert!(
        run.oracle.violations().is_empty(),
        "{:?}",
        run.oracle.violations()
    );
}

/// Runs a two-manifest campaign (the second set mid-update) and returns the invariants that fired.
fn fired(settings: OtauSettings, faults: OtauFaults) -> BTreeSet<&'static str> {
    let mut run = Run::new(6, settings, faults, false);
    run.campaign("1", Time(1_000));
    run.run_until(Time(10_000));
    run.campaign("2", Time(10_000));
    run.run_until(Time(3_600_000));
    for i in 0..6 {
        assert!(!run.devs[i].client.busy(), "device {i} ended its work");
    }
    run.violation_ids()
}

#[test]
fn each_fault_fires_its_invariant_and_only_it() {
    let none = OtauFaults::default();
    assert_eq!(fired(settings(), none), BTreeSet::new(), "control run");
    let cases: [(OtauFaults, &str); 4] = [
        (
            OtauFaults {
                not_modified_after_change: true,
                ..none
            },
            "OTAU-304",
        ),
        (
            OtauFaults {
                overlap_manifest: true,
                ..none
            },
            "OTAU-OVERLAP",
        ),
        (
            OtauFaults {
                redeliver_acked: true,
                ..none
            },
            "OTAU-REDELIVER",
        ),
        (
            OtauFaults {
                wrong_content: true,
                ..none
            },
            "OTAU-CONTENT",
        ),
    ];
    for (faults, id) in cases {
        assert_eq!(
            fired(settings(), faults),
            BTreeSet::from([id]),
            "{faults:?}"
        );
    }
    let skip = OtauSettings {
        skip_status: Some(Status::DownloadSuccess),
        ..settings()
    };
    assert_eq!(fired(skip, none), BTreeSet::from(["OTAU-SEQ"]));
    let late = OtauSettings {
        ack: AckMode::AfterInstall,
        ..settings()
    };
    assert_eq!(
        fired(late, none),
        BTreeSet::new(),
        "ACK after the install is allowed"
    );
    let never = OtauSettings {
        ack: AckMode::Never,
        ..settings()
    };
    assert_eq!(fired(never, none), BTreeSet::from(["OTAU-ACK"]));
    let lm = OtauSettings {
        ims_from_last_modified: true,
        ..settings()
    };
    assert_eq!(
        fired(lm.clone(), none),
        BTreeSet::new(),
        "IMS = Last-Modified"
    );
    let hide = OtauFaults {
        not_modified_after_change: true,
        ..none
    };
    assert_eq!(fired(lm, hide), BTreeSet::from(["OTAU-304"]));
    let hasty = OtauSettings {
        status_gap: Span::ZERO,
        ..settings()
    };
    assert_eq!(fired(hasty, none), BTreeSet::from(["OTAU-WRITE-RATE"]));
    let wrong = OtauSettings {
        wrong_installed_version: true,
        ..settings()
    };
    assert_eq!(fired(wrong, none), BTreeSet::from(["OTAU-VERSION"]));
}

#[test]
fn refused_manifest_is_reported_and_acknowledged() {
    let mut run = Run::new(2, settings(), OtauFaults::default(), false);
    run.server.set_manifest_all(
        r#"{"version":"7","name":"n","type":"TARBALL","payload":[]}"#,
        Time(100),
    );
    run.oracle.observe_manifest_set(0, Time(100));
    run.oracle.observe_manifest_set(1, Time(100));
    run.wake(Time(100), 0);
    run.wake(Time(100), 1);
    run.run_until(Time(1_000_000));
    for i in 0..2 {
        let got: Vec<Status> = run.statuses(i).iter().map(|r| r.status).collect();
        assert_eq!(got, [Status::TestError]);
        assert!(run.server.acked_at(i as u64).is_some());
    }
    assert!(
        run.oracle.violations().is_empty(),
        "{:?}",
        run.oracle.violations()
    );
}

/// Arbitrary requests never panic the server; arbitrary answers never panic a client.
#[test]
fn hostile_inputs_never_panic() {
    use fleetsim::message::{Body, Headers, Method, Response};
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut server = OtauServer::new(4);
    server.add_content("f", ContentId(5), 100, Time::ZERO);
    let pieces = [
        "/onep:v1/stack/alias?config_otau",
        "/onep:v1/stack/alias?",
        "/onep:v1/stack/alias?a&b",
        "/provision/download?id=f&info=true",
        "/provision/download?id=%",
        "/provision/download?id=f",
        "/provision/download",
        "/timestamp",
        "/",
        "",
    ];
    let values = [
        "0",
        "-1",
        "300000",
        "99999999999999999999",
        "bytes=5-1",
        "bytes=-0",
        "bytes=",
        "%",
        "",
        "Fri, 99 Foo 2018 99:99:99 GMT",
    ];
    for n in 0..5_000u64 {
        let method = [Method::Get, Method::Post, Method::Put, Method::Other][rng.gen_range(0..4)];
        let mut req = Request::new(
            method,
            format!("http://h{}", pieces[rng.gen_range(0..pieces.len())]),
        );
        if rng.gen_bool(0.8) {
            req.headers
                .insert("x-exosite-cik", cik_for(rng.gen_range(0..6)));
        }
        for h in ["request-timeout", "if-modified-since", "range"] {
            if rng.gen_bool(0.5) {
                req.headers
                    .insert(h, values[rng.gen_range(0..values.len())].to_string());
            }
        }
        let body: Vec<u8> = (0..rng.gen_range(0..20)).map(|_| rng.gen()).collect();
        req.body = Body::Bytes(body.into());
        if let OtauAnswer::Pending { until } = server.handle(Time(n), &req) {
            let _ = server.poll_pending(until, &req, until);
        }
    }
    let s = settings();
    let catalog = server.catalog().clone();
    let env = OtauEnv {
        base_url: "http://h",
        cik: "c",
        catalog: &catalog,
        settings: &s,
    };
    let valid = fleetsim::protocol::otau::wire::form_encode(&[(
        "config_otau",
        &Manifest::url_list_json("9", "n", &["f", "http://x/g"]),
    )]);
    let bodies = [
        valid.as_str(),
        valid.as_str(),
        "config_otau=%7B",
        "config_otau=",
        "config_otau=%7B%22version%22%3A1%7D",
        "x=y",
        "",
        "a,b,c,d",
        "text,5,1,sha256=zz",
    ];
    let mut client = OtauClient::new(Time::ZERO);
    let mut events = Vec::new();
    for n in 0..5_000u64 {
        let now = client.poll_timeout().max(Time(n));
        if now == Time::NEVER
            || client
                .poll_transmit(now, &env)
                .and_then(Transmit::into_http)
                .is_none()
        {
            continue;
        }
        let mut resp =
            Response::status([200, 204, 206, 304, 400, 401, 404, 416, 500][rng.gen_range(0..9)]);
        resp.body = Body::Bytes(
            bodies[rng.gen_range(0..bodies.len())]
                .as_bytes()
                .to_vec()
                .into(),
        );
        if rng.gen_bool(0.3) {
            resp.headers =
                Headers::new().with("content-range", values[rng.gen_range(0..values.len())]);
        }
        let delivery = if rng.gen_bool(0.2) {
            Delivery::Broken(NetError::Reset, Some(resp))
        } else {
            Delivery::Complete(resp)
        };
        client.handle_response(now, delivery, &env, &mut rng, &mut events);
    }
}
