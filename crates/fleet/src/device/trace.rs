//! Where a device's observations go when someone watches the device.
//!
//! `--trace-device`, `replay` and the TUI want sentences at once, so a
//! `Vec<String>` is a [`TraceSink`] that tells each observation as it comes.
//! The real-time driver keeps every device's last observations for the
//! excerpt of a violation that may never come: telling each one would cost
//! more than the request that made it, so it keeps a copy of each
//! ([`Keep::keep`], shared between equal observations: [`Keep::is_kept_as`])
//! and tells them only when an excerpt is wanted ([`Said`]). Both read the
//! same sentence, from [`crate::digest::Describe`].

use std::any::Any;
use std::fmt::{self, Display, Formatter};
use std::sync::Arc;

use fleetsim_core::time::Time;

use crate::digest::{Describe, Encode, Told, TraceHash};

/// Takes a device's observations as they are made.
pub trait TraceSink {
    /// The device observed `ev` at `at`.
    fn observed(&mut self, at: Time, ev: &dyn Keep);
}

/// A kept copy of an observation: told later, and compared with the
/// observations that come after it (a device repeats most of them: every
/// root poll of a sleepy device observes the same answer).
pub trait Retold: Describe + Send + Sync {
    /// The observation itself, to compare it with another of its type.
    fn as_any(&self) -> &dyn Any;
}

impl<E: Describe + Send + Sync + 'static> Retold for E {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An observation that can be kept to be told later.
pub trait Keep: Describe {
    /// A copy of the observation, to tell later (shared: thousands of
    /// devices observe the same root answer).
    fn keep(&self) -> Arc<dyn Retold>;

    /// True when `kept` is a copy of an observation equal to this one.
    fn is_kept_as(&self, kept: &dyn Retold) -> bool;

    /// A hash of the observation, the same for equal observations: its
    /// trace encoding as if made at time 0.
    fn key(&self) -> u64;
}

impl<E: Describe + Encode + Clone + PartialEq + Send + Sync + 'static> Keep for E {
    fn keep(&self) -> Arc<dyn Retold> {
        Arc::new(self.clone())
    }

    fn is_kept_as(&self, kept: &dyn Retold) -> bool {
        kept.as_any().downcast_ref::<E>() == Some(self)
    }

    fn key(&self) -> u64 {
        let mut hash = TraceHash::default();
        self.encode(Time(0), &mut hash);
        hash.0
    }
}

/// One trace line: `at` and the observation's sentence.
fn line(f: &mut Formatter<'_>, at: Time, ev: &(impl Describe + ?Sized)) -> fmt::Result {
    write!(f, "{at:>14}    {}", Told(ev))
}

/// Shows the trace line of `ev` made at `at`, as a `Vec<String>` sink
/// would have taken it: `format!("{}", Said(at, &*kept))`.
pub struct Said<'a>(pub Time, pub &'a dyn Describe);

impl Display for Said<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        line(f, self.0, self.1)
    }
}

impl TraceSink for Vec<String> {
    fn observed(&mut self, at: Time, ev: &dyn Keep) {
        self.push(Said(at, ev).to_string());
    }
}

#[cfg(test)]
mod tests {
    use fleetsim_core::protocol::ddi::DdiEvent;
    use fleetsim_core::protocol::ReqKind;

    use super::*;

    #[test]
    fn a_kept_observation_is_told_as_the_line_told_at_once() {
        let ev = DdiEvent::Answered {
            kind: ReqKind::Root,
            status: 200,
        };
        let at = Time(90_061_001);
        let mut now: Vec<String> = Vec::new();
        now.observed(at, &ev);
        let later = ev.keep();
        assert_eq!(Said(at, &*later).to_string(), now[0]);
        assert!(ev.is_kept_as(&*later));
        let other = DdiEvent::Answered {
            kind: ReqKind::Root,
            status: 304,
        };
        assert!(!other.is_kept_as(&*later));
        assert!(now[0].contains("200"), "{}", now[0]);
        assert!(now[0].contains(&at.to_string()), "{}", now[0]);
    }
}
