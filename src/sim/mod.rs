//! Virtual-time simulation: the engine, its event queue, per-device random
//! streams, trace digests, run setup and statistics.

pub mod digest;
pub mod engine;
pub mod gateway;
pub mod queue;
pub mod replay;
pub mod rng;
pub mod setup;
pub mod stats;

pub use engine::{Engine, RunResult, Selection, REQUEST_TIMEOUT};
pub use replay::{attach_excerpts, replay_device};
pub use setup::Setup;
