//! Virtual-time simulation: the engine, its event queue, per-device random
//! streams, trace digests, run setup and statistics.

pub mod digest;
pub mod engine;
pub mod queue;
pub mod rng;
pub mod setup;
pub mod stats;

pub use engine::{attach_excerpts, replay_device, Engine, RunResult, Selection, REQUEST_TIMEOUT};
pub use setup::Setup;
