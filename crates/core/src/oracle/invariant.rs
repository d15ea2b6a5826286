//! The catalogue of invariants: stable IDs, what each one means and the
//! clause it enforces. IDs never change meaning; reports, `expect:` lists and
//! CI histories refer to them.

use std::fmt;

/// An invariant the oracle checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InvariantId {
    /// `DDI-SM-OFFERED` — a device sends feedback only for an action the
    /// server offered it (ddi.md §1.1: the root's `deploymentBase` /
    /// `cancelAction` link names the action; §1.3: the deployment's `id` is
    /// that action). Fires when a server's documents name an action it never
    /// offered, so a device following them reports on a phantom action.
    DdiSmOffered,
    /// `DDI-SM-FINAL` — no action leaves a final state (ddi.md §3: FINISHED,
    /// ERROR, CANCELED and DOWNLOADED are terminal; `active=false`). Fires when
    /// a closed action is offered again or its status changes afterwards.
    DdiSmFinal,
    /// `DDI-SM-410` — feedback on a closed action is answered `410 Gone`
    /// (ddi.md §1.4; hawkBit test `tryToFinishAnUpdateProcessAfterItHasBeenFinished`).
    DdiSm410,
    /// `DDI-SM-MAPPING` — the feedback → action-status mapping of seed 001 holds
    /// as seen through the server's later answers: closed+success/none ⇒
    /// FINISHED (installedBase links it), closed+failure ⇒ ERROR (never
    /// installedBase), proceeding/scheduled/resumed/rejected/download ⇒
    /// informational (the action stays active).
    DdiSmMapping,
    /// `DDI-POLL-RATE` — a device never polls faster than the `sleep` it was
    /// told, minus the allowed jitter (ddi.md §4), except to retry after an
    /// error or to come back after work on an action.
    DdiPollRate,
    /// `DDI-SLEEP` — the server's `sleep` is `HH:mm:ss` or ISO-8601 and not
    /// below hawkBit's `minPollingTime` of 30 s (ddi.md §4).
    DdiSleep,
    /// `DDI-ARTIFACT-HASH` — the bytes served for an artifact have the hashes
    /// the deployment advertised (ddi.md §1.3 `hashes`, §1.9 `ETag: "<sha1>"`).
    DdiArtifactHash,
    /// `DDI-RANGE` — a satisfiable `Range` request to an artifact is answered
    /// `206` with the requested start (ddi.md §1.9; RFC 7233 §4.1).
    DdiRange,
    /// `DDI-JSON` — a 200 answer of the root, a deploymentBase or a
    /// cancelAction resource is the JSON document ddi.md §1.1, §1.3 and §1.5
    /// describe (unknown fields allowed, required ones present).
    DdiJson,
    /// `DDI-HASHES` — every artifact of a deployment advertises its `sha1`
    /// and `md5` as hex digests of the right length, and `sha256` (which old
    /// servers omit) well-formed if present (ddi.md §1.3: hawkBit's
    /// `DdiArtifactHash` omits only `sha256` when null). A device that checks
    /// the hash it trusts most cannot, when the server leaves it out.
    DdiHashes,
    /// `DDI-SOFT-DEFER` — a soft update a device deferred with `scheduled`
    /// stays on offer until the device takes it up: every root answer offers
    /// its `deploymentBase` (or a `cancelAction`), and the device's `resumed`
    /// is accepted (ddi.md §1.4: `scheduled`/`resumed` are informational, the
    /// action stays RUNNING; §1.1 the root offers the active action; §3 only
    /// `closed`, a cancel or a lapsed window end it). Bounded by the device's
    /// deferral, or by the forcetime of a timeforced action.
    DdiSoftDefer,
    /// `DDI-CBOR` — a device that asks for `application/cbor` gets CBOR
    /// documents (ddi.md §0: DDI GETs produce `application/cbor`; hawkBit
    /// tests `rootPollResourceCbor`, `deploymentResourceCbor`,
    /// `cancelActionCbor`). Fires on a 200 document answer of another type.
    DdiCbor,
    /// `DDI-CONSENT-NO-DEPLOYMENT` — while an action waits for the device's
    /// consent, the root does not offer it as `deploymentBase` (ddi.md §1.8;
    /// hawkBit `DdiConfirmationBaseTest.deploymentEndpointNotAccessibleForActionsWFC`).
    /// Fires when the root links `deploymentBase/{id}` for an action the
    /// device was asked to confirm (`confirmationBase/{id}` read) and has
    /// neither answered nor had auto-confirmed.
    DdiConsentNoDeployment,
    /// `DDI-CONSENT-BEFORE-INSTALL` — nothing of an action is downloaded or
    /// installed before the device confirmed it, once the device was asked
    /// (ddi.md §1.8: the action stays WAIT_FOR_CONFIRMATION after `denied`,
    /// `JpaConfirmationManagement.denyAction`). Fires when a device that
    /// denied an action (or has not answered) completes a download of it or
    /// reports it installed.
    DdiConsentBeforeInstall,
    /// `DDI-WINDOW-INSTALL` — a device starts no installation while the last
    /// deployment it saw said `maintenanceWindow: unavailable` (ddi.md §4:
    /// outside the window the action is download-only, `update: skip`;
    /// hawkBit `DdiRootController.calculateUpdateType`). Fires when a server
    /// tells a device to install outside its window.
    DdiWindowInstall,
    /// `OTAU-SEQ` — a cycle's `otau_in` statuses follow the status diagram
    /// (otau.md §3.3 rules 3–6, `[SCH]` diagram; the seed's order §3.2): `INIT`
    /// first, phase ranks never decrease, a non-`_STEP` status never repeats,
    /// `_STEP`s only inside their phase, `DOWNLOAD_SUCCESS` after `DOWNLOAD`,
    /// `INSTALL` after `DOWNLOAD_SUCCESS`, `INSTALLED_VERSION` after
    /// `INSTALL_SUCCESS`, each error only in its phase, and nothing after a
    /// terminal status (except `INSTALLED_VERSION` after an error).
    OtauSeq,
    /// `OTAU-VERSION` — every status carries the delivered manifest's
    /// `version`, and `INSTALLED_VERSION` after `INSTALL_SUCCESS` equals it
    /// (otau.md §3 "should match the version field in config_otau", §3.3.2).
    OtauVersion,
    /// `OTAU-OVERLAP` — no new manifest is handed to a device while its
    /// current cycle is running (otau.md §10.9: a device processes one OTAU
    /// at a time; the seed client only polls between cycles, §9).
    OtauOverlap,
    /// `OTAU-304` — a long poll is answered 304 only if nothing was written
    /// to `config_otau` after `If-Modified-Since` and left unacknowledged
    /// when the poll was sent (otau.md §4.1 "will then immediately return the
    /// value", §4.2 delivery rule, §7).
    Otau304,
    /// `OTAU-REDELIVER` — an acknowledged value is not delivered again
    /// (otau.md §4.2: "a device write (ACK) clears pending"; §10.2).
    OtauRedeliver,
    /// `OTAU-CONTENT` — the bytes served for a payload file match the size
    /// and sha256 of its `info=true` line (otau.md §4.4, §10.7 "size in info
    /// must equal the blob length"; the sha256 in meta is this mock's `[INF]`).
    OtauContent,
    /// `OTAU-ACK` — a device that processed a manifest (reported statuses
    /// for it) also wrote the same `config_otau` value back, at the latest
    /// before the next manifest reaches it (otau.md §3.3.8, §5; the seed ACKs
    /// before `INIT` and allows doing it after the update).
    OtauAck,
    /// `OTAU-WRITE-RATE` (warning) — at least 1 s between two `otau_in`
    /// writes of a device (otau.md §3.3.9, §4: "Data cannot be written faster
    /// than a rate of once per second; doing so results in undefined behavior").
    OtauWriteRate,
    /// `OTAU-SERVED` — connector content named by a delivered manifest is
    /// served: its `info=true` line and its bytes are not answered
    /// 403/404/410 (otau.md §2 "an entry without a host is a content id in
    /// the IoT Connector's content area", §4.4: an activated device is
    /// "authorized for the content"). Expiry (410) is a property of external
    /// presigned URLs, not of connector content; those are not checked.
    OtauServed,
    /// `URL-HANDOUT` — a download URL handed to a device has not expired and
    /// does not expire before the device can plausibly use it: the windows
    /// its download needs at its link's bandwidth (seed 000: "if the device
    /// needs more than 30 days the assignment will fail"; docs/guide/cpg.md).
    UrlHandout,
    /// `URL-REFUSE` — the CDN refuses an expired URL (410) and one whose
    /// signature does not match, e.g. with `expires` pushed forward (403)
    /// (seed 000 option 3: "make sure that a spoofed URL cannot be misused").
    UrlRefuse,
    /// `URL-ONCE` — under `refresh_on_online` the install command fires again
    /// at most once per device (seed 000 option 2: "configured as
    /// once-per-device, meaning that a second deviceOnline event will not
    /// re-trigger the install command again").
    UrlOnce,
    /// `URL-EVICT` — the artifact cache does not evict an artifact a pending
    /// install still needs: a cache URL handed out for a pending install is
    /// never answered 404 (seed 000 option 1: "must track if there are any
    /// active install commands pending until it can remove an artifact").
    UrlEvict,
    /// `URL-LIVE` — with a strategy on, every device that polls within the
    /// run's bound finishes its update, and none fails for a refused URL
    /// (seed 000: the options exist to "bypass" the 30-day failure).
    UrlLive,
    /// `MGMT-OUTCOME` — what the server's Management API records for an
    /// action agrees with the final feedback it accepted from the device
    /// (ddi.md §1.4 table: closed+success/none ⇒ FINISHED, closed+failure ⇒
    /// ERROR, download-only `downloaded` ⇒ DOWNLOADED; §1.6 a confirmed cancel
    /// ⇒ CANCELED), and it records no outcome for an action the device was
    /// never offered. Checked on managed real-time runs, which read the
    /// server's view back after the run (`run --manage`).
    MgmtOutcome,
    /// `MGMT-INSTALLED` — the target's installed distribution set in the
    /// Management API is the set of the last action whose closed+success the
    /// server accepted (ddi.md §1.4 table: FINISHED sets installedDS; a
    /// download-only action never does). Checked on managed real-time runs.
    MgmtInstalled,
    /// `TWIN-CONVERGE` — after a quiet period following a (re)connect
    /// (the gateway's `TwinSynced`: session ready, nothing in flight, queued
    /// or buffered) the twin equals the gateway's state: every thing,
    /// feature and property of the seed's mapping of its runtime, and no
    /// other thing, feature or property beneath its thing IDs (seed 002
    /// "Synchronization flow": changes "are buffered and applied once a
    /// connection is established"; ditto.md §6 "Gateway sim must" 4). A
    /// value written twin-side (HTTP API) is excused while the twin still
    /// holds exactly it: such writes "will not be reflected on the edge
    /// device" (seed 002 "Setting a property").
    TwinConverge,
    /// `TWIN-LOST` — a twin command answered 2xx was applied: the twin
    /// emitted its event (one per successful modify or delete, each with the
    /// command's `correlation-id`; ditto.md §1 "Commands", §6 "Twin service
    /// must" 4) before the gateway's next quiet period (seed 002: buffered
    /// changes are "applied once a connection is established").
    TwinLost,
    /// `TWIN-DUP` — the twin applies a gateway command (events carrying its
    /// `correlation-id`) at most as often as the gateway sent it, resends
    /// included (ditto.md §6 "Gateway sim must" 3: unique correlation-ids).
    TwinDup,
    /// `TWIN-ORDER` — on each thing and path, the twin applies the gateway's
    /// commands in the order the gateway issued them (seed 002: buffered
    /// changes are "applied … in order", ditto.md §6 "Gateway sim must" 4).
    /// Correlation-ids are `<serial>-<counter>`, the counter growing in
    /// issue order and kept by a resend; the edge client never has two
    /// commands on overlapping paths unanswered at once (`edge::client`
    /// queue), so on one exact path the twin must see counters never go down.
    TwinOrder,
    /// `TWIN-ID` — every thing ID the twin reports for a gateway (in its
    /// events' topics, as `thingId`, as the key it stores) is exactly the
    /// seed's encoding `<namespace>:<serial>[:<Device FI ID>]`: the eight
    /// characters `/ ? # * , space % "` and control characters as `%XX`,
    /// nothing else (seed 002 "ID Encoding"; ditto.md §3).
    TwinId,
    /// `TWIN-ONCE` — a `$set.configuration` command posted once to a
    /// feature's inbox is applied on the device at most once (seed 002
    /// "Setting a property"; ditto.md §1 "Live messages": at most once).
    TwinOnce,
    /// `TWIN-NOPUSH` — a property written twin-side (HTTP API) is never
    /// pushed to the device: the device applies no `$set.configuration` of a
    /// twin-written value that was not posted as a command (seed 002 "Setting
    /// a property": such changes "will not be reflected on the edge device").
    TwinNopush,
}

impl InvariantId {
    /// Every invariant, in catalogue order.
    pub const ALL: [InvariantId; 38] = [
        InvariantId::DdiSmOffered,
        InvariantId::DdiSmFinal,
        InvariantId::DdiSm410,
        InvariantId::DdiSmMapping,
        InvariantId::DdiPollRate,
        InvariantId::DdiSleep,
        InvariantId::DdiArtifactHash,
        InvariantId::DdiRange,
        InvariantId::DdiJson,
        InvariantId::DdiHashes,
        InvariantId::DdiSoftDefer,
        InvariantId::DdiCbor,
        InvariantId::DdiConsentNoDeployment,
        InvariantId::DdiConsentBeforeInstall,
        InvariantId::DdiWindowInstall,
        InvariantId::OtauSeq,
        InvariantId::OtauVersion,
        InvariantId::OtauOverlap,
        InvariantId::Otau304,
        InvariantId::OtauRedeliver,
        InvariantId::OtauContent,
        InvariantId::OtauAck,
        InvariantId::OtauWriteRate,
        InvariantId::OtauServed,
        InvariantId::UrlHandout,
        InvariantId::UrlRefuse,
        InvariantId::UrlOnce,
        InvariantId::UrlEvict,
        InvariantId::UrlLive,
        InvariantId::MgmtOutcome,
        InvariantId::MgmtInstalled,
        InvariantId::TwinConverge,
        InvariantId::TwinLost,
        InvariantId::TwinDup,
        InvariantId::TwinOrder,
        InvariantId::TwinId,
        InvariantId::TwinOnce,
        InvariantId::TwinNopush,
    ];

    /// The stable ID.
    pub fn as_str(self) -> &'static str {
        match self {
            InvariantId::DdiSmOffered => "DDI-SM-OFFERED",
            InvariantId::DdiSmFinal => "DDI-SM-FINAL",
            InvariantId::DdiSm410 => "DDI-SM-410",
            InvariantId::DdiSmMapping => "DDI-SM-MAPPING",
            InvariantId::DdiPollRate => "DDI-POLL-RATE",
            InvariantId::DdiSleep => "DDI-SLEEP",
            InvariantId::DdiArtifactHash => "DDI-ARTIFACT-HASH",
            InvariantId::DdiRange => "DDI-RANGE",
            InvariantId::DdiJson => "DDI-JSON",
            InvariantId::DdiHashes => "DDI-HASHES",
            InvariantId::DdiSoftDefer => "DDI-SOFT-DEFER",
            InvariantId::DdiCbor => "DDI-CBOR",
            InvariantId::DdiConsentNoDeployment => "DDI-CONSENT-NO-DEPLOYMENT",
            InvariantId::DdiConsentBeforeInstall => "DDI-CONSENT-BEFORE-INSTALL",
            InvariantId::DdiWindowInstall => "DDI-WINDOW-INSTALL",
            InvariantId::OtauSeq => "OTAU-SEQ",
            InvariantId::OtauVersion => "OTAU-VERSION",
            InvariantId::OtauOverlap => "OTAU-OVERLAP",
            InvariantId::Otau304 => "OTAU-304",
            InvariantId::OtauRedeliver => "OTAU-REDELIVER",
            InvariantId::OtauContent => "OTAU-CONTENT",
            InvariantId::OtauAck => "OTAU-ACK",
            InvariantId::OtauWriteRate => "OTAU-WRITE-RATE",
            InvariantId::OtauServed => "OTAU-SERVED",
            InvariantId::UrlHandout => "URL-HANDOUT",
            InvariantId::UrlRefuse => "URL-REFUSE",
            InvariantId::UrlOnce => "URL-ONCE",
            InvariantId::UrlEvict => "URL-EVICT",
            InvariantId::UrlLive => "URL-LIVE",
            InvariantId::MgmtOutcome => "MGMT-OUTCOME",
            InvariantId::MgmtInstalled => "MGMT-INSTALLED",
            InvariantId::TwinConverge => "TWIN-CONVERGE",
            InvariantId::TwinLost => "TWIN-LOST",
            InvariantId::TwinDup => "TWIN-DUP",
            InvariantId::TwinOrder => "TWIN-ORDER",
            InvariantId::TwinId => "TWIN-ID",
            InvariantId::TwinOnce => "TWIN-ONCE",
            InvariantId::TwinNopush => "TWIN-NOPUSH",
        }
    }

    /// True for the OTAU family (checked only when the fleet has OTAU devices).
    pub fn is_otau(self) -> bool {
        self.as_str().starts_with("OTAU-")
    }

    /// True for the TWIN family (checked only when the fleet has gateways).
    pub fn is_twin(self) -> bool {
        self.as_str().starts_with("TWIN-")
    }

    /// The family: the ID's prefix (`DDI`, `OTAU`, `URL`, `MGMT`, `TWIN`).
    pub fn family(self) -> &'static str {
        self.as_str().split('-').next().unwrap_or("")
    }

    /// True for the URL family (checked only when the fleet has `cpg` devices).
    pub fn is_url(self) -> bool {
        self.as_str().starts_with("URL-")
    }

    /// Looks an ID up by its stable name.
    pub fn parse(s: &str) -> Option<InvariantId> {
        InvariantId::ALL.into_iter().find(|i| i.as_str() == s)
    }

    /// One-line statement, for summaries and reports.
    pub fn summary(self) -> &'static str {
        match self {
            InvariantId::DdiSmOffered => "feedback only for an action the server offered",
            InvariantId::DdiSmFinal => "no action leaves a final state",
            InvariantId::DdiSm410 => "feedback on a closed action answers 410 Gone",
            InvariantId::DdiSmMapping => "feedback maps to action status as seed 001 says",
            InvariantId::DdiPollRate => "no device polls faster than its sleep minus jitter",
            InvariantId::DdiSleep => "sleep is HH:mm:ss or ISO-8601 and at least 30s",
            InvariantId::DdiArtifactHash => "served bytes match the advertised hashes",
            InvariantId::DdiRange => "a satisfiable Range request is answered 206",
            InvariantId::DdiJson => "200 answers are well-formed DDI JSON documents",
            InvariantId::DdiHashes => {
                "artifacts advertise sha1 and md5 (sha256 if any) hex digests"
            }
            InvariantId::DdiSoftDefer => "a deferred soft update stays on offer until resumed",
            InvariantId::DdiCbor => "a device that asks for CBOR gets CBOR documents",
            InvariantId::DdiConsentNoDeployment => {
                "no deploymentBase for an action waiting for the device's consent"
            }
            InvariantId::DdiConsentBeforeInstall => {
                "nothing downloaded or installed before the device confirmed"
            }
            InvariantId::DdiWindowInstall => {
                "no install starts while the maintenance window is unavailable"
            }
            InvariantId::OtauSeq => "otau_in statuses follow the OTAU status diagram",
            InvariantId::OtauVersion => "statuses carry the delivered manifest's version",
            InvariantId::OtauOverlap => "no new manifest while a device's update runs",
            InvariantId::Otau304 => "304 only when nothing new is pending since If-Modified-Since",
            InvariantId::OtauRedeliver => "an acknowledged manifest is not delivered again",
            InvariantId::OtauContent => "served content matches its info line (size, sha256)",
            InvariantId::OtauAck => "a processed manifest is written back (acknowledged)",
            InvariantId::OtauWriteRate => "at most one otau_in write per second",
            InvariantId::OtauServed => "a manifest's connector content is served (no 403/404/410)",
            InvariantId::UrlHandout => {
                "no URL handed out expired or expiring before the device can use it"
            }
            InvariantId::UrlRefuse => "expired (410) and tampered (403) URLs are refused",
            InvariantId::UrlOnce => {
                "refresh_on_online re-fires the install command once per device"
            }
            InvariantId::UrlEvict => {
                "no cached artifact is evicted while a pending install needs it"
            }
            InvariantId::UrlLive => "with a strategy on, every device that polls in time finishes",
            InvariantId::MgmtOutcome => {
                "the Management API records each action as its accepted final feedback says"
            }
            InvariantId::MgmtInstalled => {
                "the installed set is the last update whose success the server accepted"
            }
            InvariantId::TwinConverge => {
                "after a reconnect and a quiet period the twin equals the gateway's state"
            }
            InvariantId::TwinLost => "a change the twin answered 2xx is applied",
            InvariantId::TwinDup => "the twin applies a gateway command at most as often as sent",
            InvariantId::TwinOrder => "the twin applies a gateway's commands per path in order",
            InvariantId::TwinId => "thing IDs are encoded exactly as seed 002 says",
            InvariantId::TwinOnce => "a posted $set.configuration is applied on the device once",
            InvariantId::TwinNopush => "a twin-side write is never pushed to the device",
        }
    }

    /// Where the rule comes from.
    pub fn source(self) -> &'static str {
        match self {
            InvariantId::DdiSmOffered => "ddi.md §1.1, §1.3",
            InvariantId::DdiSmFinal => "ddi.md §3",
            InvariantId::DdiSm410 => "ddi.md §1.4",
            InvariantId::DdiSmMapping => "seed 001 (state machine mapping), ddi.md §1.4",
            InvariantId::DdiPollRate => "ddi.md §4",
            InvariantId::DdiSleep => "ddi.md §4",
            InvariantId::DdiArtifactHash => "ddi.md §1.3, §1.9",
            InvariantId::DdiRange => "ddi.md §1.9, RFC 7233 §4.1",
            InvariantId::DdiJson => "ddi.md §0, §1.1, §1.3, §1.5",
            InvariantId::DdiHashes => "ddi.md §1.3 (DdiArtifactHash)",
            InvariantId::DdiSoftDefer => "ddi.md §1.1, §1.4, §3",
            InvariantId::DdiCbor => "ddi.md §0",
            InvariantId::DdiConsentNoDeployment => "ddi.md §1.8 (DdiConfirmationBaseTest)",
            InvariantId::DdiConsentBeforeInstall => "ddi.md §1.8 (ConfirmationManagement)",
            InvariantId::DdiWindowInstall => "ddi.md §4 (maintenanceWindow), §1.3",
            InvariantId::OtauSeq => "otau.md §3.1, §3.3 rules 3–6",
            InvariantId::OtauVersion => "otau.md §3, §3.3 rule 2",
            InvariantId::OtauOverlap => "otau.md §9, §10.9",
            InvariantId::Otau304 => "otau.md §4.1, §4.2, §7",
            InvariantId::OtauRedeliver => "otau.md §4.2, §10.2",
            InvariantId::OtauContent => "otau.md §4.4, §10.7",
            InvariantId::OtauAck => "otau.md §3.3 rule 8, §5",
            InvariantId::OtauWriteRate => "otau.md §3.3 rule 9, §4",
            InvariantId::OtauServed => "otau.md §2, §4.4",
            InvariantId::UrlHandout => "seed 000 (30-day URL validity), docs/guide/cpg.md",
            InvariantId::UrlRefuse => "seed 000 option 3, docs/guide/cpg.md (Download URLs)",
            InvariantId::UrlOnce => "seed 000 option 2 (once-per-device)",
            InvariantId::UrlEvict => "seed 000 option 1",
            InvariantId::UrlLive => "seed 000 options 1–3",
            InvariantId::MgmtOutcome => "ddi.md §1.4, §1.6, §3",
            InvariantId::MgmtInstalled => "ddi.md §1.4 (installedDS)",
            InvariantId::TwinConverge => {
                "seed 002 (Synchronization flow, Setting a property), ditto.md §6"
            }
            InvariantId::TwinLost => "seed 002 (Synchronization flow), ditto.md §1, §6",
            InvariantId::TwinDup => "ditto.md §1 (Commands), §6",
            InvariantId::TwinOrder => "seed 002 (Synchronization flow), ditto.md §6",
            InvariantId::TwinId => "seed 002 (ID Encoding), ditto.md §3",
            InvariantId::TwinOnce => "seed 002 (Setting a property), ditto.md §1 (Live messages)",
            InvariantId::TwinNopush => "seed 002 (Setting a property)",
        }
    }
}

impl fmt::Display for InvariantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_back() {
        for id in InvariantId::ALL {
            assert_eq!(InvariantId::parse(id.as_str()), Some(id));
        }
        assert_eq!(InvariantId::parse("DDI-NOPE"), None);
    }
}
