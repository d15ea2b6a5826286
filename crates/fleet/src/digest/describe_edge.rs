//! An edge gateway's observations told as sentences (the TUI, `replay`,
//! report excerpts).

use std::fmt::{self, Formatter};

use super::describe::Describe;
use fleetsim_core::protocol::edge::EdgeEvent;

impl Describe for EdgeEvent {
    fn describe(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            EdgeEvent::CommandSent { .. }
            | EdgeEvent::CommandAnswered { .. }
            | EdgeEvent::CommandRefused { .. }
            | EdgeEvent::CommandRetry { .. }
            | EdgeEvent::CommandTimedOut { .. }
            | EdgeEvent::Recreated { .. } => command(self, f),
            EdgeEvent::SessionUp => write!(f, "twin session open: START-SEND-MESSAGES sent"),
            EdgeEvent::SessionReady { handed_out, resync } => {
                let what = if *resync {
                    "a catch-up diff (the buffer had overflowed)"
                } else {
                    "the first sync or the buffered replay"
                };
                write!(f, "twin session ready: {handed_out} changes out as {what}")
            }
            EdgeEvent::SessionDown { requeued } => {
                write!(
                    f,
                    "twin session dropped: {requeued} commands in flight go again"
                )
            }
            EdgeEvent::StrayFrame => write!(f, "a frame no command waited for"),
            EdgeEvent::Buffered { count, dropped } => {
                write!(f, "{count} changes buffered while offline")?;
                match dropped {
                    0 => Ok(()),
                    n => write!(f, ", {n} dropped at the bound"),
                }
            }
            EdgeEvent::MessageApplied {
                correlation_id,
                status,
                changed,
            } => {
                let how = if *changed {
                    "applied"
                } else {
                    "changed nothing"
                };
                write!(
                    f,
                    "$set.configuration {correlation_id} {how}, answered {status}"
                )
            }
            EdgeEvent::MessageDuplicate { correlation_id } => {
                write!(
                    f,
                    "$set.configuration {correlation_id} again: answered, not applied"
                )
            }
            EdgeEvent::TwinSynced { .. } => write!(f, "twin in sync with the gateway"),
        }
    }
}

/// The sentences of a twin command's life.
fn command(ev: &EdgeEvent, f: &mut Formatter<'_>) -> fmt::Result {
    match ev {
        EdgeEvent::CommandSent {
            correlation_id,
            command,
            resend,
        } => {
            let again = if *resend { " again" } else { "" };
            write!(f, "{command} {correlation_id} sent{again}")
        }
        EdgeEvent::CommandAnswered {
            correlation_id,
            status,
        } => write!(f, "{correlation_id} answered {status}"),
        EdgeEvent::CommandRefused {
            correlation_id,
            status,
            error,
        } => write!(
            f,
            "{correlation_id} refused {status} ({})",
            error.as_deref().unwrap_or("no error code")
        ),
        EdgeEvent::CommandRetry {
            correlation_id,
            status,
            after,
        } => write!(f, "{correlation_id} answered {status}: again in {after}"),
        EdgeEvent::CommandTimedOut { correlation_id } => {
            write!(f, "{correlation_id} unanswered: resent")
        }
        EdgeEvent::Recreated {
            correlation_id,
            command,
            thing_id,
            path,
        } => write!(f, "{command} {correlation_id} re-creates {thing_id}{path}"),
        _ => Ok(()),
    }
}
