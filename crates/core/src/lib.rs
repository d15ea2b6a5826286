//! fleetsim-core — the sans-IO heart of fleetsim: everything that decides
//! what a device or a server does, as plain state machines fed with `now`
//! and inputs.
//!
//! - [`time`]: virtual/real time in milliseconds; nothing here reads a clock.
//! - [`message`]: HTTP-shaped requests and responses exchanged by devices and servers.
//! - [`artifact`]: synthetic firmware content and download verification.
//! - [`protocol`]: sans-IO protocol clients (DDI v1, Exosite OTAU, the constrained-device protocol)
//!   and the edge gateway of seed 002 (Functional Items mapped to Ditto things).
//! - [`server`]: the server cores (DDI, management API, OTAU, gateway and CDN, the Ditto-style twin service).
//! - [`ditto`]: Eclipse Ditto's identifiers (the seed-002 ID encoding) and the Ditto Protocol envelope.
//! - [`oracle`]: invariants, each with a stable ID and the clause it enforces.
//! - [`connectivity`]: the network link model (online windows, loss, latency, bandwidth).
//! - [`netem`]: what a link does to one real exchange (drop, delay, throttle, cut), for real transports.
//!
//! This crate must never depend on tokio, hyper, a TLS stack or a terminal
//! library, read a clock, open a socket or use a global RNG.
//!
//! # A device and a server, stepping each other
//!
//! No driver is needed to see a whole DDI update: the client says when it
//! wants to act and what to send, the server core answers in-process, and
//! time is whatever the caller says it is.
//!
//! ```
//! use fleetsim_core::message::ContentId;
//! use fleetsim_core::protocol::ddi::{ClientEnv, ClientSettings, DdiClient, DdiEvent, Outcome};
//! use fleetsim_core::protocol::{Client, Delivery, Transmit};
//! use fleetsim_core::server::*;
//! use fleetsim_core::time::Time;
//! use rand::SeedableRng;
//!
//! let mut server = Server::new(ServerConfig::default());
//! server.register_target("dev-1", 1, None);
//! let artifacts = vec![ArtifactSpec { filename: "fw.bin".into(), content: ContentId(7), size: 4096 }];
//! let module = ModuleSpec { part: "os".into(), name: "fw".into(), version: "2.0".into(), artifacts };
//! let fw = server.add_distribution(DistributionSpec { name: "fw".into(), version: "2.0".into(), modules: vec![module] });
//! server.assign(Time::ZERO, fw, "dev-1", ActionType::Forced, None, None);
//!
//! let (settings, catalog) = (ClientSettings::default(), server.catalog().clone());
//! let mut device = DdiClient::new(Time::ZERO, &settings);
//! let (mut rng, mut events) = (rand_chacha::ChaCha8Rng::seed_from_u64(1), Vec::new());
//! let ended = |events: &Vec<DdiEvent>| events.iter().any(|e| matches!(e, DdiEvent::ActionEnded { .. }));
//! for _ in 0..100 {  // poll, deploymentBase, downloads, feedbacks: far fewer steps
//!     if ended(&events) { break }
//!     let now = Client::poll_timeout(&device);
//!     let env = ClientEnv { base_url: "http://h", tenant: "DEFAULT", controller_id: "dev-1",
//!                           authorization: None, catalog: &catalog, settings: &settings };
//!     let sent = Client::poll_transmit(&mut device, now, &env, &mut rng, &mut events);
//!     let Some(Transmit::Http(request)) = sent else { continue };
//!     let answer = server.handle(now, &request);
//!     Client::handle_response(&mut device, now, Delivery::Complete(answer), &env, &mut rng, &mut events);
//! }
//! assert!(events.iter().any(|e| matches!(e, DdiEvent::ActionEnded { outcome: Outcome::Success, .. })));
//! ```

pub mod artifact;
pub mod connectivity;
pub mod ditto;
pub mod message;
pub mod netem;
pub mod oracle;
pub mod protocol;
pub mod server;
pub mod time;
