//! The oracle: checks invariants online, O(1) work per observation.

mod invariant;

pub use invariant::InvariantId;
