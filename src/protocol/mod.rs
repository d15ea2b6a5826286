//! Sans-IO protocol clients. Each takes `now` and inputs and returns requests,
//! timers and observations; neither owns a socket nor reads a clock.

pub mod ddi;
pub mod otau;
