//! The server-side event stream of `fleetsim serve` (`GET /fleetsim/events`),
//! shared by the server that writes it (`http_server`) and the real-time
//! driver that reads it (`realtime`): what the embedded server did that no
//! device can see — action status changes, OTAU manifests written, install
//! commands given and fired, cache evictions — so the oracle can check in
//! real time what it checks in virtual time.
//!
//! The wire format is NDJSON, one [`EventLine`] per line, each with a
//! sequence number (consecutive, from 0) and the scenario time of `serve`'s
//! clock. A reader asks `?from=SEQ` (the next sequence number it has not
//! seen) and, optionally, `&wait_ms=N` to have the request held until
//! something arrives (at most [`MAX_WAIT_MS`]). The server keeps the last
//! [`RING_CAPACITY`] events; a reader that fell further behind first gets a
//! [`ServerSide::Gap`] line saying how many it missed. Headers carry the
//! server's clock ([`NOW_HEADER`], [`EPOCH_HEADER`]) and the next sequence
//! number ([`NEXT_HEADER`]). Every device answer carries [`SEQ_HEADER`]:
//! a reader that applies the events below it before the answer sees them
//! in the order the virtual engine does.

use serde::{Deserialize, Serialize};

/// The event route (Basic credentials of the Management API).
pub const EVENTS_PATH: &str = "/fleetsim/events";
/// The gateway statistics route (JSON [`GatewayStats`]; same credentials).
pub const GATEWAY_PATH: &str = "/fleetsim/gateway";
/// Events the server keeps for readers.
pub const RING_CAPACITY: usize = 65_536;
/// Lines in one answer at most (a reader asks again from the next one).
pub const MAX_LINES: usize = 4_096;
/// Longest hold a reader may ask for.
pub const MAX_WAIT_MS: u64 = 5_000;
/// Header: the server's scenario time (ms) when it answered — on the
/// stream's answers, and on every answer the server cores decided (the
/// time they decided at).
pub const NOW_HEADER: &str = "x-fleetsim-now-ms";
/// Header: Unix seconds of the server's scenario time zero (URL `expires` base).
pub const EPOCH_HEADER: &str = "x-fleetsim-epoch-s";
/// Header: the sequence number the next event will have.
pub const NEXT_HEADER: &str = "x-fleetsim-next";
/// Header of every device answer of `serve`: the sequence number the next
/// event had when the answer was made, so every event the request caused
/// is numbered below it.
pub const SEQ_HEADER: &str = "x-fleetsim-event-seq";

/// One event as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// Sequence number (a gap line has the number of the first event kept).
    pub seq: u64,
    /// Scenario time of the server's clock, ms.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: ServerSide,
}

/// What the server did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerSide {
    /// A DDI action's status changed (`from: None`: the action was created).
    Status {
        /// Target of the action.
        controller_id: String,
        /// The action.
        action: u64,
        /// Status before.
        from: Option<String>,
        /// Status after.
        to: String,
        /// The status before was final.
        from_final: bool,
        /// The status after is final.
        to_final: bool,
    },
    /// `config_otau` of OTAU device `device` was written (`None`: of every
    /// device, by the admin route); `campaign` when a campaign wrote it.
    Manifest {
        /// The device number.
        device: Option<u64>,
        /// Index of the campaign.
        campaign: Option<usize>,
    },
    /// A campaign gave its install command to constrained device `device`.
    Command {
        /// The device number.
        device: u64,
        /// Index of the campaign.
        campaign: usize,
    },
    /// The sidekick fired an install command at the device (`reissue`: again,
    /// on an online event).
    Fired {
        /// The device number.
        device: u64,
        /// Command index.
        command: usize,
        /// Fired again.
        reissue: bool,
    },
    /// A command was dropped because the device was offline.
    Dropped {
        /// The device number.
        device: u64,
        /// Command index.
        command: usize,
    },
    /// The device's result reached the gateway.
    Finished {
        /// The device number.
        device: u64,
        /// Command index.
        command: usize,
        /// Installed.
        ok: bool,
    },
    /// An artifact left the cache while `needed_by` pending installs needed it.
    Evicted {
        /// Its checksum.
        sha256: String,
        /// Pending installs that needed it.
        needed_by: u32,
    },
    /// The reader asked for events the server no longer keeps.
    Gap {
        /// How many it missed.
        missed: u64,
    },
}

/// The gateway's statistics (`GET /fleetsim/gateway`), for the report's
/// gateway section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayStats {
    /// Bytes in the artifact cache now.
    pub cache_bytes: u64,
    /// Most bytes ever in it.
    pub cache_peak_bytes: u64,
    /// Artifacts fetched into it.
    pub cache_fetches: u64,
    /// Artifacts evicted from it.
    pub cache_evictions: u64,
    /// The sidekick's counters.
    pub counters: fleetsim_core::server::constrained::GatewayCounters,
}

/// Parses an NDJSON answer; lines that do not parse are skipped and counted.
pub fn parse_lines(body: &[u8]) -> (Vec<EventLine>, u64) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice(line) {
            Ok(l) => out.push(l),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_as_ndjson() {
        let lines = [
            EventLine {
                seq: 0,
                at_ms: 5,
                event: ServerSide::Status {
                    controller_id: "d1".into(),
                    action: 7,
                    from: None,
                    to: "RUNNING".into(),
                    from_final: false,
                    to_final: false,
                },
            },
            EventLine {
                seq: 1,
                at_ms: 9,
                event: ServerSide::Fired {
                    device: 3,
                    command: 0,
                    reissue: true,
                },
            },
        ];
        let mut body = Vec::new();
        for l in &lines {
            body.extend(serde_json::to_vec(l).unwrap_or_default());
            body.push(b'\n');
        }
        body.extend(b"not json\n");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(r#""kind":"fired""#), "{text}");
        assert_eq!(parse_lines(&body), (lines.to_vec(), 1));
    }
}
