//! Unit tests of the OTAU client against hand-written answers.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::message::{Body, ContentId, Headers, NetError, Response};
use crate::protocol::otau::event::OtauReq;
use crate::protocol::otau::wire::form_decode;

fn settings() -> OtauSettings {
    OtauSettings {
        status_gap: Span::secs(1),
        install_time: Span::secs(5),
        ..OtauSettings::default()
    }
}

fn form_200(value: &str) -> Delivery {
    Delivery::Complete(Response {
        status: 200,
        headers: Headers::new(),
        body: Body::Bytes(form_encode(&[("config_otau", value)]).into_bytes().into()),
    })
}

#[test]
fn long_poll_carries_seed_headers_and_refuses_unknown_type() {
    let s = settings();
    let catalog = Catalog::new();
    let env = OtauEnv {
        base_url: "http://h",
        cik: "c1",
        catalog: &catalog,
        settings: &s,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut c = OtauClient::new(Time::ZERO);
    let req = c
        .poll_transmit(Time::ZERO, &env)
        .and_then(Transmit::into_http)
        .unwrap();
    assert_eq!(req.url, "http://h/onep:v1/stack/alias?config_otau");
    assert_eq!(req.headers.get("x-exosite-cik"), Some("c1"));
    assert_eq!(req.headers.get("request-timeout"), Some("300000"));
    assert_eq!(req.headers.get("if-modified-since"), Some("0"));
    assert!(
        c.poll_transmit(Time::ZERO, &env)
            .and_then(Transmit::into_http)
            .is_none(),
        "one request in flight"
    );
    let mut ev = Vec::new();
    let bad = r#"{"version":"9","name":"n","type":"ZIP","payload":[]}"#;
    c.handle_response(Time(5), form_200(bad), &env, &mut rng, &mut ev);
    assert!(matches!(&ev[1], OtauEvent::Refused { version, .. } if version == "9"));
    let ack = c
        .poll_transmit(Time(5), &env)
        .and_then(Transmit::into_http)
        .unwrap();
    assert_eq!(
        ack.body.as_bytes(),
        form_encode(&[("config_otau", bad)]).as_bytes()
    );
    c.handle_response(
        Time(6),
        Delivery::Complete(Response::status(204)),
        &env,
        &mut rng,
        &mut ev,
    );
    let report = c
        .poll_transmit(c.poll_timeout(), &env)
        .and_then(Transmit::into_http)
        .unwrap();
    let body = String::from_utf8(report.body.as_bytes().to_vec()).unwrap();
    let pairs = form_decode(&body).unwrap();
    let r = StatusReport::parse(&pairs[0].1).unwrap();
    assert_eq!((r.status, r.version.as_str()), (Status::TestError, "9"));
}

#[test]
fn range_resume_after_broken_download() {
    let s = settings();
    let mut catalog = Catalog::new();
    let sha = catalog.register(ContentId(3), 1000).hashes.sha256.clone();
    let env = OtauEnv {
        base_url: "http://h",
        cik: "c1",
        catalog: &catalog,
        settings: &s,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut c = OtauClient::new(Time::ZERO);
    let mut ev = Vec::new();
    let mut now = Time::ZERO;
    c.poll_transmit(now, &env)
        .and_then(Transmit::into_http)
        .unwrap();
    c.handle_response(
        now,
        form_200(&Manifest::url_list_json("2", "n", &["f1"])),
        &env,
        &mut rng,
        &mut ev,
    );
    // ACK, INIT, DOWNLOAD
    for _ in 0..3 {
        now = c.poll_timeout();
        c.poll_transmit(now, &env)
            .and_then(Transmit::into_http)
            .unwrap();
        c.handle_response(
            now,
            Delivery::Complete(Response::status(204)),
            &env,
            &mut rng,
            &mut ev,
        );
    }
    now = c.poll_timeout();
    let info = c
        .poll_transmit(now, &env)
        .and_then(Transmit::into_http)
        .unwrap();
    assert_eq!(info.url, "http://h/provision/download?id=f1&info=true");
    let line = format!("application/octet-stream,1000,1,sha256={sha}");
    c.handle_response(
        now,
        Delivery::Complete(Response {
            status: 200,
            headers: Headers::new(),
            body: Body::Bytes(line.into_bytes().into()),
        }),
        &env,
        &mut rng,
        &mut ev,
    );
    now = c.poll_timeout();
    let get = c
        .poll_transmit(now, &env)
        .and_then(Transmit::into_http)
        .unwrap();
    assert_eq!(get.headers.get("range"), None);
    let whole = Body::Synthetic {
        content: ContentId(3),
        offset: 0,
        len: 1000,
    };
    let partial = Response {
        status: 200,
        headers: Headers::new(),
        body: whole.truncated(400),
    };
    c.handle_response(
        now,
        Delivery::Broken(crate::message::NetError::Reset, Some(partial)),
        &env,
        &mut rng,
        &mut ev,
    );
    now = c.poll_timeout();
    let resume = c
        .poll_transmit(now, &env)
        .and_then(Transmit::into_http)
        .unwrap();
    assert_eq!(resume.headers.get("range"), Some("bytes=400-"));
    let rest = Response {
        status: 206,
        headers: Headers::new().with("content-range", "bytes 400-999/1000"),
        body: Body::Synthetic {
            content: ContentId(3),
            offset: 400,
            len: 600,
        },
    };
    c.handle_response(now, Delivery::Complete(rest), &env, &mut rng, &mut ev);
    assert!(!ev
        .iter()
        .any(|e| matches!(e, OtauEvent::ContentMismatch { .. })));
    now = c.poll_timeout();
    let step = c
        .poll_transmit(now, &env)
        .and_then(Transmit::into_http)
        .unwrap();
    assert!(String::from_utf8_lossy(step.body.as_bytes()).contains("DOWNLOAD_STEP"));
}

#[test]
fn absolute_payload_url_is_fetched_directly_and_failures_report_download_error() {
    let s = OtauSettings {
        max_download_failures: 1,
        ..settings()
    };
    let catalog = Catalog::new();
    let env = OtauEnv {
        base_url: "http://h",
        cik: "c1",
        catalog: &catalog,
        settings: &s,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut c = OtauClient::new(Time::ZERO);
    let mut ev = Vec::new();
    c.poll_transmit(Time::ZERO, &env)
        .and_then(Transmit::into_http)
        .unwrap();
    let m = Manifest::url_list_json("4", "n", &["https://cdn.example/fw.bin"]);
    c.handle_response(Time::ZERO, form_200(&m), &env, &mut rng, &mut ev);
    let mut urls = Vec::new();
    let mut reports = Vec::new();
    for _ in 0..10 {
        let now = c.poll_timeout();
        let Some(req) = c.poll_transmit(now, &env).and_then(Transmit::into_http) else {
            break;
        };
        urls.push(req.url.clone());
        let answer = if req.method == Method::Get {
            Response::status(500)
        } else {
            if let Ok(pairs) = form_decode(std::str::from_utf8(req.body.as_bytes()).unwrap()) {
                if let Ok(r) = StatusReport::parse(&pairs[0].1) {
                    reports.push(r.status);
                }
            }
            Response::status(204)
        };
        c.handle_response(now, Delivery::Complete(answer), &env, &mut rng, &mut ev);
        if reports.last() == Some(&Status::DownloadError) {
            break;
        }
    }
    assert!(urls.iter().any(|u| u == "https://cdn.example/fw.bin"));
    assert!(
        !urls.iter().any(|u| u.contains("info=true")),
        "no info for absolute URLs"
    );
    assert_eq!(
        reports,
        [Status::Init, Status::Download, Status::DownloadError]
    );
}

fn mqtt_settings() -> OtauSettings {
    OtauSettings {
        transport: Transport::Mqtt,
        ..settings()
    }
}

/// Answers every publish with a PUBACK until the client goes idle; returns
/// the published `(alias, status or value)` pairs.
fn run_publishes(
    c: &mut OtauClient,
    env: &OtauEnv<'_>,
    rng: &mut ChaCha8Rng,
    ev: &mut Vec<OtauEvent>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for _ in 0..50 {
        let now = c.poll_timeout();
        if now == Time::NEVER {
            break;
        }
        match c.poll_transmit(now, env) {
            Some(Transmit::Publish { alias, value }) => {
                let shown = match StatusReport::parse(&value) {
                    Ok(r) if alias == "otau_in" => r.status.as_str().to_string(),
                    _ => value,
                };
                out.push((alias, shown));
                c.handle_published(now, Ok(()), env, rng, ev);
            }
            other => panic!("unexpected transmit {other:?}"),
        }
    }
    out
}

#[test]
fn mqtt_mode_waits_for_messages_and_publishes_ack_and_statuses() {
    let s = mqtt_settings();
    let catalog = Catalog::new();
    let env = OtauEnv {
        base_url: "http://h",
        cik: "c1",
        catalog: &catalog,
        settings: &s,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut c = OtauClient::with_transport(Time::ZERO, Transport::Mqtt);
    let mut ev = Vec::new();
    assert_eq!(c.poll_timeout(), Time::NEVER, "no long polls over MQTT");
    assert!(c.poll_transmit(Time(1000), &env).is_none());
    c.handle_message(Time(1), "otau_in", "x", &env, &mut rng, &mut ev);
    c.handle_message(Time(1), "config_otau", "", &env, &mut rng, &mut ev);
    assert!(ev.is_empty() && c.poll_timeout() == Time::NEVER);

    let m = Manifest::url_list_json("7", "n", &[]);
    c.handle_message(Time(10), "config_otau", &m, &env, &mut rng, &mut ev);
    assert!(matches!(&ev[1], OtauEvent::Started { files: 0, .. }));
    let ack = c.poll_transmit(Time(10), &env);
    assert_eq!(
        ack,
        Some(Transmit::Publish {
            alias: "config_otau",
            value: m.clone()
        })
    );
    assert!(c.poll_transmit(Time(10), &env).is_none(), "one in flight");
    // A lost PUBACK: retried with backoff, as an HTTP write would be.
    c.handle_published(Time(20), Err(NetError::Timeout), &env, &mut rng, &mut ev);
    assert!(matches!(
        ev.last(),
        Some(OtauEvent::Retry {
            kind: OtauReq::Ack,
            error: Some(NetError::Timeout)
        })
    ));
    assert!(c.poll_timeout() > Time(20) && c.poll_timeout() != Time::NEVER);
    let published = run_publishes(&mut c, &env, &mut rng, &mut ev);
    let statuses: Vec<&str> = published
        .iter()
        .filter(|(a, _)| *a == "otau_in")
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(published[0], ("config_otau", m.clone()));
    assert_eq!(
        statuses,
        [
            "INIT",
            "DOWNLOAD",
            "DOWNLOAD_SUCCESS",
            "INSTALL",
            "INSTALL_STEP",
            "INSTALL_SUCCESS",
            "INSTALLED_VERSION"
        ]
    );
    assert!(ev.iter().any(|e| matches!(e, OtauEvent::Acked { .. })));
    assert_eq!(c.installed(), Some("7"));
    assert!(!c.busy() && c.poll_timeout() == Time::NEVER);

    // The same value again (a retained message on reconnect): ACK only.
    c.handle_message(Time(90_000), "config_otau", &m, &env, &mut rng, &mut ev);
    let again = run_publishes(&mut c, &env, &mut rng, &mut ev);
    assert_eq!(again, [("config_otau", m)]);
    assert_eq!(c.poll_timeout(), Time::NEVER);
}

#[test]
fn mqtt_mode_downloads_over_http() {
    let s = mqtt_settings();
    let catalog = Catalog::new();
    let env = OtauEnv {
        base_url: "http://h",
        cik: "c1",
        catalog: &catalog,
        settings: &s,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut c = OtauClient::with_transport(Time::ZERO, Transport::Mqtt);
    let mut ev = Vec::new();
    let m = Manifest::url_list_json("8", "n", &["f1"]);
    c.handle_message(Time(0), "config_otau", &m, &env, &mut rng, &mut ev);
    for _ in 0..3 {
        // ACK, INIT, DOWNLOAD
        let now = c.poll_timeout();
        assert!(matches!(
            c.poll_transmit(now, &env),
            Some(Transmit::Publish { .. })
        ));
        c.handle_published(now, Ok(()), &env, &mut rng, &mut ev);
    }
    let now = c.poll_timeout();
    let Some(Transmit::Http(info)) = c.poll_transmit(now, &env) else {
        panic!("the info request goes over HTTP");
    };
    assert_eq!(info.url, "http://h/provision/download?id=f1&info=true");
    assert_eq!(info.headers.get("x-exosite-cik"), Some("c1"));
    // A stray PUBACK while a download is in flight changes nothing.
    c.handle_published(now, Ok(()), &env, &mut rng, &mut ev);
    assert_eq!(c.poll_timeout(), Time::NEVER);
}

/// A long poll answered 200 without `config_otau` (or 404) again and again
/// backs off further each time, like 5xx, instead of starting over.
#[test]
fn unusable_long_poll_answers_back_off_increasingly() {
    let s = settings();
    let catalog = Catalog::new();
    let env = OtauEnv {
        base_url: "http://h",
        cik: "c1",
        catalog: &catalog,
        settings: &s,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut c = OtauClient::new(Time::ZERO);
    let mut ev = Vec::new();
    let mut now = Time::ZERO;
    let mut waits = Vec::new();
    for i in 0..5 {
        c.poll_transmit(now, &env).unwrap();
        let answer = match i % 3 {
            0 => Response::status(404),
            1 => Response::status(500),
            _ => Response {
                status: 200,
                headers: Headers::new(),
                body: Body::Bytes(b"{\"garbage\":".to_vec().into()),
            },
        };
        c.handle_response(now, Delivery::Complete(answer), &env, &mut rng, &mut ev);
        let due = c.poll_timeout();
        waits.push(due.since(now));
        now = due;
    }
    assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
}
