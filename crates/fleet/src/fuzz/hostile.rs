//! The devices against a hostile server: the virtual engine runs a mixed
//! fleet (DDI always-on and sleepy, OTAU, constrained `cpg`) while a share
//! of the embedded server's answers is rewritten — wrong statuses, garbage
//! and truncated bodies, JSON of the wrong shape or depth, broken headers,
//! foreign content. Whatever comes back, no device (and no server core it
//! then talks to) panics, the run reaches its end within a bounded number
//! of events (no device spins on a bad answer), and the run stays
//! deterministic: the same seed and the same hostility give the same digest.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fuzz;
use crate::engine::{Engine, Selection};
use fleetsim_core::message::{Body, ContentId, Headers, Response};
use fleetsim_core::time::Time;

/// A fleet with every client kind, one campaign for all of them.
const FLEET: &str = "\
name: hostile
seed: 1
duration: 8h
server: { polling: 5m }
fleet:
  - { kind: always_on, count: 3 }
  - { kind: constrained, count: 2, connectivity: { online_every: 1h, online_for: 10m } }
  - { kind: always_on, protocol: otau, count: 2, otau: { long_poll: 60s } }
  - { name: sleepy, kind: constrained, protocol: cpg, count: 2, connectivity: { online_every: 1h, online_for: 6m } }
campaigns:
  - { at: 10m, version: 2.0.0, artifacts: [ { name: fw.bin, size: 40KiB } ] }
";

/// Events one run may take: a well-behaved run of this fleet needs a few
/// thousand; a device that spins on a bad answer needs far more.
const EVENT_BUDGET: u64 = 400_000;

const STATUSES: &[u16] = &[
    100, 200, 201, 204, 206, 301, 304, 400, 401, 403, 404, 405, 406, 409, 410, 412, 413, 415, 416,
    429, 500, 502, 503, 504, 599,
];

/// Bodies a broken or malicious server might send.
const BODIES: &[&str] = &[
    "",
    "{",
    "null",
    "[]",
    "\"\\ud800\"",
    "{\"config\":{\"polling\":{\"sleep\":\"00:00:00\"}},\"_links\":{}}",
    "{\"config\":{\"polling\":{\"sleep\":\"99:99:99\"}}}",
    "{\"config\":{\"polling\":{\"sleep\":\"-00:00:01\"}}}",
    "{\"_links\":{\"deploymentBase\":{\"href\":\"http://h/../../etc/passwd\"}}}",
    "{\"_links\":{\"cancelAction\":{\"href\":\"\"}}}",
    "{\"id\":\"18446744073709551616\",\"deployment\":{\"download\":\"forced\",\"update\":\"forced\",\"chunks\":[{\"part\":\"os\",\"name\":\"x\",\"version\":\"1\",\"artifacts\":[{\"filename\":\"../x\",\"size\":-1,\"hashes\":{}}]}]}}",
    "{\"id\":\"1\",\"deployment\":{\"chunks\":[]}}",
    "{\"id\":\"1\",\"cancelAction\":{\"stopId\":\"999999999999999999999\"}}",
    "{\"version\":\"\",\"files\":[]}",
    "{\"version\":\"9.9.9\",\"url\":\"http://h/provision/download?id=../x\"}",
    "config_otau=%7B%22version%22%3A%22x%22",
    "{\"action\":\"install\",\"url\":\"http://h/cdn/v1/a/x/y?expires=1&sig=00\",\"sha256\":\"zz\",\"size\":18446744073709551615}",
    "<html><body>502 Bad Gateway</body></html>",
];

/// One hostile rewrite of an answer.
fn tamper(rng: &mut ChaCha8Rng, resp: &mut Response) {
    match rng.gen_range(0..8) {
        0 => resp.status = STATUSES[rng.gen_range(0..STATUSES.len())],
        1 => {
            let n = rng.gen_range(0..400);
            resp.body = Body::Bytes((0..n).map(|_| rng.gen()).collect());
        }
        2 => {
            let keep = rng.gen_range(0..=resp.body.len());
            resp.body = resp.body.truncated(keep);
        }
        3 => match &mut resp.body {
            Body::Bytes(b) if !b.is_empty() => {
                let mut flipped = b.to_vec();
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..flipped.len());
                    flipped[at] = rng.gen();
                }
                *b = flipped.into();
            }
            Body::Synthetic {
                content, offset, ..
            } => {
                // Foreign content, or the right content from the wrong place.
                match rng.gen_bool(0.5) {
                    true => *content = ContentId(rng.gen()),
                    false => *offset = offset.wrapping_add(rng.gen_range(1..1 << 20)),
                }
            }
            _ => resp.status = 200,
        },
        4 => {
            resp.body = Body::Bytes(
                BODIES[rng.gen_range(0..BODIES.len())]
                    .as_bytes()
                    .to_vec()
                    .into(),
            )
        }
        5 => {
            // Deep JSON: a parser that recurses without a bound overflows here.
            let depth = rng.gen_range(100..20_000);
            let mut b = "[".repeat(depth).into_bytes();
            b.extend(std::iter::repeat_n(b']', rng.gen_range(0..=depth)));
            resp.body = Body::Bytes(b.into());
        }
        6 => resp.headers = broken_headers(rng, &resp.headers),
        _ => {
            resp.status = 200;
            resp.body = Body::Empty;
        }
    }
}

/// The answer's headers with some dropped and some lying.
fn broken_headers(rng: &mut ChaCha8Rng, headers: &Headers) -> Headers {
    let mut out = Headers::new();
    for (name, value) in headers.iter() {
        if rng.gen_bool(0.5) {
            out.insert_dynamic(name, value.to_string());
        }
    }
    const LIES: &[(&str, &str)] = &[
        ("content-range", "bytes 99999999-5/3"),
        ("content-range", "bytes */0"),
        ("content-range", "garbage"),
        ("content-type", "text/html"),
        ("content-length", "18446744073709551615"),
        ("etag", "\"\""),
        ("retry-after", "-5"),
        ("retry-after", "99999999999"),
        ("location", "http://h/../../x"),
    ];
    let (name, value) = LIES[rng.gen_range(0..LIES.len())];
    out.insert_dynamic(name, value.to_string());
    out
}

/// Runs the fleet with `share` of the answers rewritten by a stream seeded
/// with `hostility`; the digest, or why the run is not acceptable.
fn hostile_run(seed: u64, share: f64, hostility: u64) -> Result<String, String> {
    let mut scenario =
        crate::scenario::load_str("hostile.yaml", FLEET).map_err(|e| e.to_string())?;
    scenario.seed = seed;
    let end = Time(scenario.duration.0.as_millis());
    let mut engine = Engine::new(&scenario, &Selection::default());
    let mut rng = ChaCha8Rng::seed_from_u64(hostility);
    engine.set_tamper(Box::new(move |_, resp| {
        if rng.gen_bool(share) {
            tamper(&mut rng, resp);
        }
    }));
    let processed = engine.advance(end, EVENT_BUDGET);
    if let Some(next) = engine.next_event_at().filter(|t| *t < end) {
        return Err(format!(
            "{processed} events and still at {next} of {end}: a device spins on a hostile answer"
        ));
    }
    Ok(engine.digest_so_far())
}

#[test]
fn devices_survive_a_hostile_server_deterministically() {
    let case = (
        any::<u64>(),
        prop::sample::select(vec![0.05, 0.3, 1.0]),
        any::<u64>(),
    );
    fuzz("hostile_server", case, |(seed, share, hostility)| {
        let first = hostile_run(seed, share, hostility).map_err(TestCaseError::fail)?;
        let again = hostile_run(seed, share, hostility).map_err(TestCaseError::fail)?;
        prop_assert_eq!(first, again, "the same hostile run gave two digests");
        Ok(())
    });
}
