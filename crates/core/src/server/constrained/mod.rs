//! The sidekick service and the custom protocol gateway of seed 000, with the
//! update layer's signed-URL CDN behind them — sans-IO, like the other cores.
//!
//! Campaigns hand install commands to the twin layer with [`ConstrainedGateway::install`]
//! whether or not the device is online; the sidekick stores each one as the
//! device's pending install (its "thing state"). A constrained device's one
//! poll (`GET /cpg/v1/devices/{id}/poll`, see `docs/guide/cpg.md`) is answered from
//! that cache, so the device gets everything in one answer. How the answer's
//! download URL is made is the campaign's [`Strategy`]:
//!
//! - `none`: the CDN URL signed when the command arrived, which expires after
//!   the campaign's `url_validity` (30 days by default);
//! - `long_lived_cache` (option 1): the artifact is fetched into the
//!   [`ArtifactCache`] by checksum and the URL points there;
//! - `refresh_on_online` (option 2): the poll only signals `connect`; the
//!   device's online event (`POST …/online`) fires the install command again
//!   with fresh URLs, once per device;
//! - `long_validity` (option 3): the CDN URL simply lives longer.
//!
//! [`GatewayFaults`] break these rules on purpose, one URL-* invariant each.

mod cache;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::artifact::Catalog;
use crate::message::{ContentId, Method, Request, Response};
use crate::protocol::constrained::wire::{parse_poll_query, PollAnswer, UpdateOffer};
use crate::time::{Span, Time};

use super::cdn::{self, json_error, CdnFaults, UrlSigner};
pub use super::fault::GatewayFaults;

pub use cache::{ArtifactCache, CacheEntry};

/// How long a URL lives under [`GatewayFaults::short_validity`].
const SHORT_VALIDITY: Span = Span::minutes(1);
/// A device seen this recently counts as online for
/// [`GatewayFaults::drop_while_offline`].
const ONLINE_GRACE: Span = Span::minutes(10);

/// Whether `path` is the gateway's, the CDN's or the cache's.
pub fn is_gateway_path(path: &str) -> bool {
    ["/cpg/", "/cdn/", "/cache/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

pub use crate::protocol::constrained::Strategy;

/// Where the sidekick's URLs point and how its clock maps to `expires`.
#[derive(Clone, Debug)]
pub struct SidekickConfig {
    /// `scheme://host[:port]` of the gateway, CDN and cache.
    pub origin: String,
    /// `expires` of a URL made at [`Time::ZERO`] with zero validity, in seconds
    /// (0 in virtual runs, the Unix time of the start under `serve`).
    pub epoch_s: u64,
    /// `poll_interval` told to devices.
    pub poll_interval: Span,
    /// Seeds the URL-signing key.
    pub key_seed: u64,
}

/// An install command of the update layer (one per campaign).
#[derive(Clone, Debug)]
pub struct InstallCommand {
    /// Version the device ends up with.
    pub version: String,
    /// Artifact file name.
    pub name: String,
    /// Artifact size.
    pub size: u64,
    /// Artifact content.
    pub content: ContentId,
    /// Its sha256, filled in by the sidekick when the command is first
    /// installed or reported (hashing a large artifact waits until needed).
    pub sha256: String,
    /// How the gateway deals with URL expiry.
    pub strategy: Strategy,
    /// Validity of the CDN URLs the command carries.
    pub validity: Span,
}

/// What the sidekick did, for the oracle and the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SidekickEvent {
    /// An install command reached the twin of `device` (`reissue`: fired
    /// again by an online event).
    Fired {
        /// Device index (registration order).
        device: usize,
        /// Command index.
        command: usize,
        /// True for a re-fire by a deviceOnline event.
        reissue: bool,
    },
    /// A command was dropped because the device was offline (a fault).
    Dropped {
        /// Device index.
        device: usize,
        /// Command index.
        command: usize,
    },
    /// The device reported the command's result.
    Finished {
        /// Device index.
        device: usize,
        /// Command index.
        command: usize,
        /// Installed.
        ok: bool,
    },
    /// An artifact left the cache while `needed_by` pending installs needed it.
    Evicted {
        /// Its checksum.
        sha256: String,
        /// Pending installs that still needed it.
        needed_by: u32,
    },
}

/// Counters for the report (read back by the real-time driver from `serve`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayCounters {
    /// Install commands stored.
    pub fired: u64,
    /// Install commands re-fired by an online event.
    pub refired: u64,
    /// Polls answered.
    pub polls: u64,
    /// CDN downloads served (200/206).
    pub cdn_served: u64,
    /// CDN downloads refused as expired (410).
    pub cdn_expired: u64,
    /// CDN downloads refused for their signature (403).
    pub cdn_forbidden: u64,
    /// Cache downloads served.
    pub cache_served: u64,
}

#[derive(Clone, Debug)]
struct Pending {
    command: usize,
    /// The URL stored with the command (CDN or cache).
    url: String,
    /// `refresh_on_online`: the URL is not handed out before an online event.
    awaiting_online: bool,
}

#[derive(Clone, Debug, Default)]
struct Twin {
    id: String,
    installed: String,
    last_seen: Option<Time>,
    pending: Option<Pending>,
    /// The last download URL handed to the device (what could leak).
    handed_out: Option<String>,
}

/// The sidekick + gateway + CDN core.
pub struct ConstrainedGateway {
    config: SidekickConfig,
    signer: UrlSigner,
    catalog: Catalog,
    ids: BTreeMap<String, usize>,
    twins: Vec<Twin>,
    commands: Vec<InstallCommand>,
    cache: ArtifactCache,
    /// Faults in force (set by the driver per request).
    pub faults: GatewayFaults,
    events: Vec<SidekickEvent>,
    counters: GatewayCounters,
}

impl ConstrainedGateway {
    /// An empty sidekick.
    pub fn new(config: SidekickConfig) -> ConstrainedGateway {
        ConstrainedGateway {
            signer: UrlSigner::from_seed(config.key_seed),
            config,
            catalog: Catalog::new(),
            ids: BTreeMap::new(),
            twins: Vec::new(),
            commands: Vec::new(),
            cache: ArtifactCache::default(),
            faults: GatewayFaults::default(),
            events: Vec::new(),
            counters: GatewayCounters::default(),
        }
    }

    /// Moves the gateway to `origin` with URL times counted from `epoch_s`
    /// and a new signing key (`serve` learns its address after binding and
    /// signs in Unix seconds). Only before any install command was given.
    pub fn rebase(&mut self, origin: String, epoch_s: u64, key_seed: u64) {
        self.config.origin = origin;
        self.config.epoch_s = epoch_s;
        self.signer = UrlSigner::from_seed(key_seed);
    }

    /// The twin index of `device`, created on first sight.
    pub fn register(&mut self, device: &str) -> usize {
        if let Some(i) = self.ids.get(device) {
            return *i;
        }
        let i = self.twins.len();
        self.ids.insert(device.to_string(), i);
        self.twins.push(Twin {
            id: device.to_string(),
            installed: String::new(),
            ..Twin::default()
        });
        i
    }

    /// Twins registered so far.
    pub fn twin_count(&self) -> usize {
        self.twins.len()
    }

    /// Install commands known so far.
    pub fn command_count(&self) -> usize {
        self.commands.len()
    }

    /// Makes `command` known (its artifact joins the CDN); its index.
    pub fn add_command(&mut self, command: InstallCommand) -> usize {
        self.catalog.register(command.content, command.size);
        self.commands.push(command);
        self.commands.len() - 1
    }

    /// Fills in the sha256 of command `command` (hashing its artifact)
    /// the first time it is needed.
    fn fill_sha256(&mut self, command: usize) {
        let Some(cmd) = self.commands.get_mut(command) else {
            return;
        };
        if cmd.sha256.is_empty() {
            if let Some(info) = self.catalog.get(cmd.content) {
                cmd.sha256 = info.hashes.sha256.clone();
            }
        }
    }

    /// The install command `command` reaches the twin of device `device` at
    /// `now` (the device may be asleep): stored as its pending install.
    pub fn install(&mut self, now: Time, device: usize, command: usize) {
        let Some(twin) = self.twins.get(device) else {
            return;
        };
        if self.faults.drop_while_offline
            && twin
                .last_seen
                .is_none_or(|seen| now.since(seen) > ONLINE_GRACE)
        {
            self.events.push(SidekickEvent::Dropped { device, command });
            return;
        }
        self.release_pending(device);
        self.fill_sha256(command);
        let cmd = &self.commands[command];
        let url = match cmd.strategy {
            Strategy::LongLivedCache => {
                self.cache
                    .acquire(&cmd.sha256, &cmd.name, cmd.content, cmd.size);
                format!(
                    "{}{}",
                    self.config.origin,
                    cdn::cache_path(&cmd.sha256, &cmd.name)
                )
            }
            _ => self.cdn_url(now, command),
        };
        self.twins[device].pending = Some(Pending {
            command,
            url,
            awaiting_online: cmd.strategy == Strategy::RefreshOnOnline,
        });
        self.counters.fired += 1;
        self.events.push(SidekickEvent::Fired {
            device,
            command,
            reissue: false,
        });
    }

    /// A CDN URL for `command` signed at `now`.
    fn cdn_url(&self, now: Time, command: usize) -> String {
        let cmd = &self.commands[command];
        let validity = if self.faults.short_validity {
            SHORT_VALIDITY
        } else {
            cmd.validity
        };
        let expires = self.seconds(now + validity);
        self.signer
            .sign(&self.config.origin, &cmd.sha256, &cmd.name, expires)
    }

    fn seconds(&self, t: Time) -> u64 {
        self.config.epoch_s + t.as_millis() / 1000
    }

    /// Drops the pending install of `device`, releasing its cache reference.
    fn release_pending(&mut self, device: usize) {
        let Some(p) = self.twins[device].pending.take() else {
            return;
        };
        let cmd = &self.commands[p.command];
        if cmd.strategy == Strategy::LongLivedCache && self.cache.release(&cmd.sha256) {
            self.events.push(SidekickEvent::Evicted {
                sha256: cmd.sha256.clone(),
                needed_by: 0,
            });
        }
    }

    /// Answers one request to the gateway, the CDN or the cache.
    pub fn handle(&mut self, now: Time, req: &Request) -> Response {
        let path = req.path();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (req.method, segments.as_slice()) {
            (Method::Get, ["cpg", "v1", "devices", id, "poll"]) => match device_id(id) {
                Ok(id) => self.poll(now, &id, req),
                Err(refused) => refused,
            },
            (Method::Post, ["cpg", "v1", "devices", id, "online"]) => match device_id(id) {
                Ok(id) => self.online(now, &id),
                Err(refused) => refused,
            },
            (Method::Get | Method::Head, ["cdn", "v1", "a", ..]) => {
                let faults = CdnFaults {
                    ignore_expiry: self.faults.ignore_expiry,
                    ignore_signature: self.faults.ignore_signature,
                };
                let resp = cdn::handle(&self.signer, self.seconds(now), req, &self.catalog, faults);
                match resp.status {
                    200 | 206 => self.counters.cdn_served += 1,
                    410 => self.counters.cdn_expired += 1,
                    403 => self.counters.cdn_forbidden += 1,
                    _ => {}
                }
                resp
            }
            (Method::Get | Method::Head, ["cache", "v1", sha, name]) => {
                // Only under the name it was cached as: no `..`, no aliases.
                let present = self.cache.get(sha).is_some_and(|e| e.name == *name);
                let resp = cdn::cache_handle(req, &self.catalog, |_| present);
                if resp.is_success() {
                    self.counters.cache_served += 1;
                }
                resp
            }
            (_, ["cpg", ..] | ["cdn", ..] | ["cache", ..]) => Response::status(405),
            _ => Response::status(404),
        }
    }

    fn poll(&mut self, now: Time, id: &str, req: &Request) -> Response {
        let query = crate::message::path_and_query(&req.url)
            .split_once('?')
            .map_or("", |(_, q)| q);
        let q = match parse_poll_query(query) {
            Ok(q) => q,
            Err(e) => return json_error(400, "bad_query", &e),
        };
        let device = self.register(id);
        self.counters.polls += 1;
        let twin = &mut self.twins[device];
        twin.last_seen = Some(now);
        twin.installed = q.fw.clone();
        let finished = match (&twin.pending, &q.cmd, q.result) {
            (Some(p), Some(cmd), Some(ok)) if command_id(p.command) == *cmd => {
                Some((p.command, ok))
            }
            _ => None,
        };
        if let Some((command, ok)) = finished {
            self.finish(device, command, ok);
        }
        if self.faults.retrigger_every_online {
            // The broken rule treats every poll as an online event too.
            self.refire(now, device, true);
        }
        self.answer(device)
    }

    /// The device reported command `command`: its install is no longer pending.
    fn finish(&mut self, device: usize, command: usize, ok: bool) {
        self.release_pending(device);
        self.events.push(SidekickEvent::Finished {
            device,
            command,
            ok,
        });
        self.fill_sha256(command);
        let cmd = &self.commands[command];
        if ok && self.faults.cache_evict_early && cmd.strategy == Strategy::LongLivedCache {
            let needed_by = self.cache.evict(&cmd.sha256);
            self.events.push(SidekickEvent::Evicted {
                sha256: cmd.sha256.clone(),
                needed_by,
            });
        }
    }

    /// The deviceOnline event: under `refresh_on_online` the pending command
    /// fires again with fresh URLs — once per device (the command is
    /// configured "once-per-device").
    fn online(&mut self, now: Time, id: &str) -> Response {
        let Some(&device) = self.ids.get(id) else {
            return json_error(404, "unknown_device", "unknown device");
        };
        self.twins[device].last_seen = Some(now);
        self.refire(now, device, self.faults.retrigger_every_online);
        self.answer(device)
    }

    /// Re-fires the pending `refresh_on_online` command of `device` with a
    /// fresh URL if it still awaits its online event (or `always`).
    fn refire(&mut self, now: Time, device: usize, always: bool) {
        let command = match &self.twins[device].pending {
            Some(p)
                if self.commands[p.command].strategy == Strategy::RefreshOnOnline
                    && (p.awaiting_online || always) =>
            {
                p.command
            }
            _ => return,
        };
        let url = self.cdn_url(now, command);
        if let Some(p) = self.twins[device].pending.as_mut() {
            p.url = url;
            p.awaiting_online = false;
        }
        self.counters.refired += 1;
        self.events.push(SidekickEvent::Fired {
            device,
            command,
            reissue: true,
        });
    }

    /// The poll document for `device`, from its twin.
    fn answer(&mut self, device: usize) -> Response {
        let twin = &mut self.twins[device];
        if let Some(p) = twin.pending.as_ref().filter(|p| !p.awaiting_online) {
            twin.handed_out = Some(p.url.clone());
        }
        let twin = &self.twins[device];
        let update = twin.pending.as_ref().map(|p| {
            let cmd = &self.commands[p.command];
            UpdateOffer {
                command: command_id(p.command),
                version: cmd.version.clone(),
                name: cmd.name.clone(),
                size: cmd.size,
                sha256: cmd.sha256.clone(),
                url: (!p.awaiting_online).then(|| p.url.clone()),
                connect: p.awaiting_online,
            }
        });
        let doc = PollAnswer {
            poll_interval: self.config.poll_interval.as_millis() / 1000,
            update,
        };
        match serde_json::to_vec(&doc) {
            Ok(body) => Response::json(200, "application/json", body),
            Err(_) => Response::status(500),
        }
    }

    /// Takes the events since the last call.
    pub fn drain_events(&mut self, out: &mut Vec<SidekickEvent>) {
        out.append(&mut self.events);
    }

    /// Contents of the commands' artifacts (devices verify downloads against it).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The artifact cache.
    pub fn cache(&self) -> &ArtifactCache {
        &self.cache
    }

    /// Counters so far.
    pub fn counters(&self) -> GatewayCounters {
        self.counters
    }

    /// The id of twin `device`.
    pub fn device_id(&self, device: usize) -> Option<&str> {
        self.twins.get(device).map(|t| t.id.as_str())
    }

    /// The last download URL handed to `device` (what could leak from it).
    pub fn handed_out_url(&self, device: usize) -> Option<&str> {
        self.twins.get(device)?.handed_out.as_deref()
    }

    /// The signer (tests forge URLs with it).
    pub fn signer(&self) -> &UrlSigner {
        &self.signer
    }
}

/// The percent-decoded device id of a gateway path, or 400 when it breaks
/// the id rule (`ids.rs`): a syntax error of the request, answered before
/// the twin is looked up or created.
fn device_id(raw: &str) -> Result<String, Response> {
    let Some(id) = crate::message::percent_decode(raw) else {
        let why = "device id is not percent-encoded UTF-8";
        return Err(json_error(400, "bad_device_id", why));
    };
    match super::ids::check_id(&id) {
        Ok(()) => Ok(id),
        Err(why) => Err(json_error(
            400,
            "bad_device_id",
            &format!("device id {why}"),
        )),
    }
}

/// The wire id of command index `i`.
pub fn command_id(i: usize) -> String {
    format!("c{}", i + 1)
}

#[cfg(test)]
mod tests;
