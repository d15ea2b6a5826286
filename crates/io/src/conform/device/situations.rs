//! The situations `fleetsim conform --device` plays to every device, one
//! after the other, each a case of the report card with a stable ID and the
//! clause of `shared/reference/ddi.md` it checks. Adding one: an entry in
//! [`SITUATIONS`] and its arms in `script.rs` (setup, hooks, verdict).

/// What the reference server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A forced update: download, verify, feedback, `closed`/`success` once.
    Update,
    /// The artifact's bytes do not match the advertised hashes.
    Hash,
    /// The action is canceled while its artifact is downloaded.
    Cancel,
    /// The download is cut mid-body.
    Resume,
    /// A root poll is answered 429 with `Retry-After`.
    Quota,
    /// A soft update (`download: attempt`, `update: attempt`).
    Soft,
    /// The action waits for the device's confirmation.
    Confirm,
    /// The action's maintenance window opens only after a while.
    Window,
    /// The action is closed under the device: its feedback gets 410.
    Closed,
}

/// One situation of the script.
pub(super) struct Situation {
    /// Stable ID.
    pub(super) id: &'static str,
    /// What the device must do, in one sentence.
    pub(super) title: &'static str,
    /// The clause checked.
    pub(super) clause: &'static str,
    /// What the server presents.
    pub(super) kind: Kind,
}

/// The script, in the order it is played.
pub(super) const SITUATIONS: &[Situation] = &[
    Situation {
        id: "DEV-DDI-UPDATE-001",
        title: "a forced update is downloaded whole, then closed/success is reported exactly once, last",
        clause: "ddi.md §1.3, §1.4 (feedback → action status)",
        kind: Kind::Update,
    },
    Situation {
        id: "DEV-DDI-HASH-001",
        title: "an artifact that does not match its advertised hashes is reported closed/failure, never success",
        clause: "ddi.md §1.3 `hashes`, §1.9",
        kind: Kind::Hash,
    },
    Situation {
        id: "DEV-DDI-CANCEL-001",
        title: "a cancel arriving mid-download is answered on cancelAction/{id}/feedback (closed or rejected)",
        clause: "ddi.md §1.5, §1.6",
        kind: Kind::Cancel,
    },
    Situation {
        id: "DEV-DDI-RESUME-001",
        title: "a download cut mid-body is resumed with `Range: bytes=N-` (N > 0), not restarted",
        clause: "ddi.md §1.9 (Range; RFC 7233)",
        kind: Kind::Resume,
    },
    Situation {
        id: "DEV-DDI-QUOTA-001",
        title: "after a 429 with `Retry-After: 1` the device waits at least that long before its next request",
        clause: "ddi.md §4 (polling; hawkBit quota 429)",
        kind: Kind::Quota,
    },
    Situation {
        id: "DEV-DDI-SOFT-001",
        title: "a soft update (`download: attempt`, `update: attempt`) is carried out and closed/success reported once",
        clause: "ddi.md §1.3 handling types",
        kind: Kind::Soft,
    },
    Situation {
        id: "DEV-DDI-CONFIRM-001",
        title: "an action waiting for confirmation is confirmed (or denied) before anything of it is downloaded",
        clause: "ddi.md §1.8",
        kind: Kind::Confirm,
    },
    Situation {
        id: "DEV-DDI-WINDOW-001",
        title: "an update whose maintenance window is unavailable is not installed (no closed) until the window opens, then closed/success once",
        clause: "ddi.md §1.3 `maintenanceWindow`, §4 (DDI-WINDOW-INSTALL)",
        kind: Kind::Window,
    },
    Situation {
        id: "DEV-DDI-CLOSED-001",
        title: "feedback answered 410 Gone is not sent again: the device lets the closed action go and polls",
        clause: "ddi.md §1.4 (410 on a closed action)",
        kind: Kind::Closed,
    },
];

/// The whole-script case: the `sleep` is respected throughout.
pub(super) const POLL: Situation = Situation {
    id: "DEV-DDI-POLL-001",
    title: "root polls come no faster than the `sleep` the server gave (DDI-POLL-RATE), all script long",
    clause: "ddi.md §4",
    kind: Kind::Update,
};
