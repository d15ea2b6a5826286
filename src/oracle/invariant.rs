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
}

impl InvariantId {
    /// Every invariant, in catalogue order.
    pub const ALL: [InvariantId; 10] = [
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
        }
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
