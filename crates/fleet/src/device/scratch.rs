//! Event buffers a device's steps reuse, so that stepping any client
//! allocates nothing once the buffers have grown.

use std::any::Any;

/// Reusable event buffers, one per event type, so stepping a client
/// allocates nothing once the buffers have grown.
#[derive(Default)]
pub(super) struct Scratch(Vec<Box<dyn Any + Send>>);

impl Scratch {
    /// The (empty) buffer for events of type `E`.
    pub(super) fn take<E: Send + 'static>(&mut self) -> Vec<E> {
        self.0
            .iter_mut()
            .find_map(|b| b.downcast_mut::<Vec<E>>())
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Gives the buffer back for the next step.
    pub(super) fn put<E: Send + 'static>(&mut self, mut events: Vec<E>) {
        events.clear();
        match self.0.iter_mut().find_map(|b| b.downcast_mut::<Vec<E>>()) {
            Some(slot) => *slot = events,
            None => self.0.push(Box::new(events)),
        }
    }
}
