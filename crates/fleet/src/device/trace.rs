//! Where a device's observations go when someone watches the device.
//!
//! `--trace-device`, `replay` and the TUI want sentences at once, so a
//! `Vec<String>` is a [`TraceSink`] that tells each observation as it comes.
//! The real-time driver keeps every device's last observations for the
//! excerpt of a violation that may never come: telling each one would cost
//! more than the request that made it, so it keeps them as [`Kept`] (a copy
//! of the observation) and tells them only when an excerpt is wanted. Both
//! read the same sentence, from [`crate::digest::Describe`].

use std::fmt::{self, Display, Formatter};

use fleetsim_core::time::Time;

use crate::digest::{Describe, Told};

/// Takes a device's observations as they are made.
pub trait TraceSink {
    /// The device observed `ev` at `at`.
    fn observed(&mut self, at: Time, ev: &dyn Keep);
}

/// An observation that can be kept to be told later.
pub trait Keep: Describe {
    /// A copy of the observation, to tell later.
    fn keep(&self) -> Box<dyn Describe + Send>;
}

impl<E: Describe + Clone + Send + 'static> Keep for E {
    fn keep(&self) -> Box<dyn Describe + Send> {
        Box::new(self.clone())
    }
}

/// One trace line: `at` and the observation's sentence.
fn line(f: &mut Formatter<'_>, at: Time, ev: &(impl Describe + ?Sized)) -> fmt::Result {
    write!(f, "{at:>14}    {}", Told(ev))
}

impl TraceSink for Vec<String> {
    fn observed(&mut self, at: Time, ev: &dyn Keep) {
        self.push(Kept::told_now(at, ev));
    }
}

/// An observation kept untold, with when it was made; `Display` tells it
/// as the line a `Vec<String>` sink would have taken.
pub struct Kept {
    /// When the device made it.
    pub at: Time,
    what: Box<dyn Describe + Send>,
}

impl Kept {
    /// The line of `ev`, made at `at`, told now.
    fn told_now(at: Time, ev: &dyn Keep) -> String {
        struct Now<'a>(Time, &'a dyn Keep);
        impl Display for Now<'_> {
            fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
                line(f, self.0, self.1)
            }
        }
        Now(at, ev).to_string()
    }
}

impl Display for Kept {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        line(f, self.at, &*self.what)
    }
}

impl TraceSink for Vec<Kept> {
    fn observed(&mut self, at: Time, ev: &dyn Keep) {
        self.push(Kept {
            at,
            what: ev.keep(),
        });
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
        let mut later: Vec<Kept> = Vec::new();
        now.observed(at, &ev);
        later.observed(at, &ev);
        assert_eq!(later[0].to_string(), now[0]);
        assert!(now[0].contains("200"), "{}", now[0]);
        assert!(now[0].contains(&at.to_string()), "{}", now[0]);
    }
}
