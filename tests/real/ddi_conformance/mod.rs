//! hawkBit DDI conformance rows: one `#[tokio::test]` per row of
//! `docs/conformance/hawkbit-ddi.md`, named after the row. Each test drives
//! `fleetsim serve` the way a hawkBit user would — the Management API to set
//! up, DDI as the device — over real HTTP (`crate::hawkbit_http`), and checks
//! what hawkBit's own tests (`Ddi*Test` in eclipse-hawkbit/hawkbit) expect.

mod cancel;
mod config;
mod confirm;
mod download;
mod feedback;
mod installed;
mod media;
mod mgmt;
mod multi;
mod polling;
mod root;
mod window;
