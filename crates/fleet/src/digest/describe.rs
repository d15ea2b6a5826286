//! Observations told as sentences for people — `root poll: sleep 60 s,
//! deployment 1 offered` — the way the TUI's device view, `fleetsim replay`
//! and report excerpts show a device's trace.

use std::fmt::{self, Display, Formatter};

use fleetsim_core::protocol::constrained::{ConstrainedEvent, ConstrainedReq};
use fleetsim_core::protocol::ddi::wire::HandlingType;
use fleetsim_core::protocol::ddi::{DdiEvent, Offer, Outcome};
use fleetsim_core::protocol::otau::{OtauEvent, OtauReq};
use fleetsim_core::protocol::ReqKind;
use fleetsim_core::time::Span;

/// An observation that can be told as a sentence.
pub trait Describe {
    /// Writes the sentence.
    fn describe(&self, f: &mut Formatter<'_>) -> fmt::Result;
}

/// Shows an observation as its sentence: `format!("{}", Told(&event))`.
pub struct Told<'a, E: ?Sized>(pub &'a E);

impl<E: Describe + ?Sized> Display for Told<'_, E> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.0.describe(f)
    }
}

/// What a request of `kind` is, in words.
fn request(kind: ReqKind) -> &'static str {
    match kind {
        ReqKind::Root => "root poll",
        ReqKind::ConfigData => "configData",
        ReqKind::Deployment => "deploymentBase",
        ReqKind::Feedback => "feedback",
        ReqKind::Cancel => "cancelAction",
        ReqKind::CancelFeedback => "cancel feedback",
        ReqKind::Download => "artifact download",
        ReqKind::OtauLongPoll => "long poll",
        ReqKind::OtauAck => "config_otau write-back",
        ReqKind::OtauStatus => "otau_in status",
        ReqKind::OtauInfo => "file info",
        ReqKind::OtauActivate => "activation",
        ReqKind::OtauDownload => "file download",
        ReqKind::CpgPoll => "gateway poll",
        ReqKind::CpgOnline => "online event",
        ReqKind::CpgDownload => "artifact download",
        ReqKind::Confirmation => "confirmationBase",
        ReqKind::ConfirmationFeedback => "confirmation feedback",
        ReqKind::AutoConfirm => "auto-confirm activation",
        ReqKind::TwinCommand => "twin command frame",
    }
}

/// `60 s`, or the span's own form when it is not whole seconds.
fn seconds(span: Span) -> String {
    let ms = span.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        span.to_string()
    }
}

/// `skip`, `attempt` or `forced`, as on the wire.
fn handling(h: HandlingType) -> &'static str {
    match h {
        HandlingType::Skip => "skip",
        HandlingType::Attempt => "attempt",
        HandlingType::Forced => "forced",
    }
}

impl Describe for DdiEvent {
    fn describe(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DdiEvent::Sent { kind, scheduled } => {
                let when = if *scheduled { " (scheduled)" } else { "" };
                write!(f, "{} sent{when}", request(*kind))
            }
            DdiEvent::NetFailed { kind, error } => {
                write!(f, "{}: no answer ({error})", request(*kind))
            }
            DdiEvent::Answered { kind, status } => {
                write!(f, "{} answered {status}", request(*kind))
            }
            DdiEvent::Unreadable { kind } => write!(f, "{}: unreadable answer", request(*kind)),
            DdiEvent::WrongMedia { kind } => {
                write!(
                    f,
                    "{}: asked for CBOR, answered another type",
                    request(*kind)
                )
            }
            DdiEvent::RootSeen {
                sleep,
                offer,
                installed,
                config_data,
            } => {
                match sleep {
                    Some(s) => write!(f, "root poll: sleep {}", seconds(*s))?,
                    None => write!(f, "root poll: sleep unreadable")?,
                }
                match offer {
                    Offer::Nothing => write!(f, ", nothing offered")?,
                    Offer::Deployment(a) => write!(f, ", deployment {a} offered")?,
                    Offer::Cancel(a) => write!(f, ", cancel of action {a} asked")?,
                    Offer::Confirmation(a) => write!(f, ", confirmation of action {a} asked")?,
                }
                if let Some(a) = installed {
                    write!(f, ", action {a} installed")?;
                }
                if *config_data {
                    write!(f, ", configData asked")?;
                }
                Ok(())
            }
            DdiEvent::InstalledChecked { action, matches } => {
                let verdict = if *matches {
                    "names the installed version"
                } else {
                    "is not linked or names another version"
                };
                write!(
                    f,
                    "after the reboot: installedBase of action {action} {verdict}"
                )
            }
            other => describe_ddi_work(other, f),
        }
    }
}

/// The DDI observations about an action's deployment, download and end.
fn describe_ddi_work(ev: &DdiEvent, f: &mut Formatter<'_>) -> fmt::Result {
    match ev {
        DdiEvent::DeploymentSeen {
            url_action,
            body_action,
            download,
            update,
            windowed,
            bad_hashes,
            ..
        } => {
            let (download, update) = (handling(*download), handling(*update));
            write!(
                f,
                "deployment {url_action}: download {download}, update {update}"
            )?;
            if body_action != url_action {
                write!(f, ", body says action {body_action}")?;
            }
            if *windowed {
                write!(f, ", in a maintenance window")?;
            }
            match bad_hashes.as_deref() {
                Some((file, what)) => write!(f, ", {file}: {what}"),
                None => Ok(()),
            }
        }
        DdiEvent::FeedbackAnswered {
            action,
            cancel,
            execution,
            finished,
            status,
        } => {
            let on = if *cancel {
                "cancel of action"
            } else {
                "action"
            };
            let (execution, finished) = (execution.as_str(), finished.as_str());
            write!(
                f,
                "feedback {execution}/{finished} on {on} {action}: {status}"
            )
        }
        DdiEvent::RangeAnswered {
            from,
            status,
            served_from,
        } => {
            write!(f, "download from byte {from}: {status}")?;
            match served_from {
                Some(s) if s != from => write!(f, ", served from byte {s}"),
                _ => Ok(()),
            }
        }
        DdiEvent::ArtifactChecked { action, matches } => {
            let verdict = if *matches { "match" } else { "do not match" };
            write!(f, "action {action}: artifact hashes {verdict}")
        }
        DdiEvent::PhaseChanged(p) => write!(f, "now {}", p.as_str()),
        DdiEvent::ConsentAsked { .. }
        | DdiEvent::ConsentGiven { .. }
        | DdiEvent::AutoConfirmAnswered { .. } => describe_consent(ev, f),
        DdiEvent::ActionEnded { action, outcome } => match outcome {
            Outcome::Success => write!(f, "action {action} ended: success"),
            Outcome::Failure(why) => write!(f, "action {action} ended: failure ({why})"),
            Outcome::Canceled => write!(f, "action {action} ended: canceled"),
            Outcome::Withdrawn => write!(f, "action {action} ended: withdrawn by the server"),
            Outcome::Rejected => write!(f, "action {action} ended: rejected by the device"),
        },
        DdiEvent::Sent { .. }
        | DdiEvent::NetFailed { .. }
        | DdiEvent::Answered { .. }
        | DdiEvent::Unreadable { .. }
        | DdiEvent::RootSeen { .. }
        | DdiEvent::InstalledChecked { .. }
        | DdiEvent::WrongMedia { .. } => Ok(()),
    }
}

/// The DDI observations about consent (ddi.md §1.8).
fn describe_consent(ev: &DdiEvent, f: &mut Formatter<'_>) -> fmt::Result {
    match ev {
        DdiEvent::ConsentAsked { action } => {
            write!(f, "asked to confirm action {action}")
        }
        DdiEvent::ConsentGiven {
            action,
            confirmed,
            status,
        } => {
            let answer = if *confirmed { "confirmed" } else { "denied" };
            write!(f, "{answer} action {action}: {status}")
        }
        DdiEvent::AutoConfirmAnswered { status } => {
            write!(f, "auto-confirm activation: {status}")
        }
        _ => Ok(()),
    }
}

impl Describe for OtauEvent {
    fn describe(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let kind = |k: &OtauReq| request(ReqKind::from(*k));
        match self {
            OtauEvent::NotModified { sent, .. } => {
                write!(f, "long poll sent at {sent}: not modified")
            }
            OtauEvent::Offered { version, busy } => {
                let busy = if *busy { " while busy" } else { "" };
                write!(f, "manifest {version:?} offered{busy}")
            }
            OtauEvent::Started { version, files } => {
                write!(f, "manifest {version:?} started: {files} file(s)")
            }
            OtauEvent::Refused { version, reason } => {
                write!(f, "manifest {version:?} refused: {reason}")
            }
            OtauEvent::Acked { version } => write!(f, "manifest {version:?} acknowledged"),
            OtauEvent::StatusAccepted { version, status } => {
                write!(f, "status {} of {version:?} accepted", status.as_str())
            }
            OtauEvent::ContentMismatch { file } => {
                write!(f, "{file}: size or sha256 unlike its info line")
            }
            OtauEvent::ContentRefused { file, status } => {
                write!(f, "{file}: connector content answered {status}")
            }
            OtauEvent::Rejected { kind: k, status } => write!(f, "{}: refused {status}", kind(k)),
            OtauEvent::Retry { kind: k, error } => match error {
                Some(e) => write!(f, "{}: no answer ({e}), will retry", kind(k)),
                None => write!(f, "{}: server trouble, will retry", kind(k)),
            },
        }
    }
}

impl Describe for ConstrainedEvent {
    fn describe(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let kind = |k: &ConstrainedReq| request(ReqKind::from(*k));
        match self {
            ConstrainedEvent::Sent { kind: k } => write!(f, "{} sent", kind(k)),
            ConstrainedEvent::Offered {
                command,
                size,
                url,
                connect,
            } => {
                write!(f, "install {command} offered: {size} bytes")?;
                match (url, connect) {
                    (_, true) => write!(f, ", connect for the URL"),
                    (Some(url), false) => write!(f, " from {url}"),
                    (None, false) => Ok(()),
                }
            }
            ConstrainedEvent::UrlRefused {
                command,
                url,
                status,
            } => write!(
                f,
                "install {command}: download URL refused ({status}): {url}"
            ),
            ConstrainedEvent::Downloaded { command } => {
                write!(f, "install {command}: artifact downloaded and verified")
            }
            ConstrainedEvent::Installed { command, ok } => {
                let how = if *ok { "succeeded" } else { "failed" };
                write!(f, "install {command}: install {how}")
            }
            ConstrainedEvent::Reported {
                command,
                ok,
                detail,
            } => {
                let how = if *ok { "success" } else { "failure" };
                write!(f, "install {command}: {how} reported")?;
                match detail {
                    Some(d) => write!(f, " ({d})"),
                    None => Ok(()),
                }
            }
            ConstrainedEvent::Failed { command, detail } => {
                write!(f, "install {command}: given up ({detail})")
            }
            ConstrainedEvent::Retry { kind: k } => write!(f, "{}: will retry", kind(k)),
            ConstrainedEvent::Interval { seconds } => {
                write!(f, "poll interval now {seconds} s")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_answer_reads_as_a_sentence() {
        let ev = DdiEvent::RootSeen {
            sleep: Some(Span::secs(60)),
            offer: Offer::Deployment(1),
            installed: None,
            config_data: false,
        };
        assert_eq!(
            Told(&ev).to_string(),
            "root poll: sleep 60 s, deployment 1 offered"
        );
    }

    #[test]
    fn an_ended_action_says_why() {
        let ev = DdiEvent::ActionEnded {
            action: 4,
            outcome: Outcome::Failure("hash mismatch".into()),
        };
        assert_eq!(
            Told(&ev).to_string(),
            "action 4 ended: failure (hash mismatch)"
        );
    }
}
