//! The gateway side of seed 002 (the Gateway Software Protocol Adapter): a
//! gateway runtime's Functional Items, their mapping to Ditto things and
//! features, and the changes the gateway sends to keep its twin true.
//!
//! Layout:
//! - [`model`] and the runtime operations: [`GatewayRuntime`] (serial,
//!   namespace, gateway FIs, edge devices), [`FunctionalItem`], [`Definition`].
//! - [`command`]: `$set.configuration/<property>` from the twin side and
//!   what the gateway answers.
//! - [`mapping`]: the seed's FI → thing/feature mapping, pure functions.
//! - [`change`]: the change vocabulary ([`Change`]), [`diff`], [`initial_sync`],
//!   and [`apply`] of a change to a plain [`Twin`].
//! - [`buffer`]: the bounded offline [`Buffer`].
//! - [`envelope`]: changes as Ditto Protocol twin commands, and the answer
//!   to an inbound live message.
//! - [`sync`]: [`TwinSync`], what to send on first connect, while connected,
//!   and on reconnect (buffered changes, or a catch-up after an overflow).
//! - [`client`]: [`EdgeClient`], the gateway on the crate's client contract:
//!   a Ditto Protocol session (frames), commands in flight matched by
//!   correlation-id, retries, live messages applied once.
//!
//! Nothing here does IO or reads a clock.
//!
//! ```
//! use fleetsim_core::protocol::edge::*;
//! use serde_json::json;
//!
//! let camera = Definition::parse("com.example:Camera:1.0.0").unwrap();
//! let mut rt = GatewayRuntime::new("org.acme", "gw-1").unwrap();
//! let device = FunctionalItem::new("da:device:cam1", camera.clone()).named("Front door");
//! let config = FunctionalItem::new("da:item:Cameras:1:Configuration", camera)
//!     .writable("resolution", json!("720p"));
//! rt.add_edge_device(device, vec![config]).unwrap();
//! let before = rt.clone();
//! rt.set_property("da:item:Cameras:1:Configuration", "resolution", json!("1080p")).unwrap();
//! let changes = diff(&before, &rt);
//! assert_eq!(changes.len(), 1);
//! assert_eq!(changes[0].command(), "ModifyFeatureProperty");
//! assert_eq!(changes[0].path(), "/features/Configuration/properties/configuration/resolution");
//! ```

pub mod buffer;
pub mod change;
pub mod client;
pub mod command;
pub mod envelope;
pub mod mapping;
pub mod model;
mod runtime;
pub mod sync;

#[cfg(test)]
pub(crate) mod tests;

/// `docs/guide/edge-gateways.md`, whose examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../../../docs/guide/edge-gateways.md")]
struct EdgeGatewaysWalkthrough;

pub use buffer::{Buffer, BufferStats, Drained};
pub use change::{
    apply, diff, diff_scoped, diff_twins, initial_sync, twin, twin_of, ApplyError, Change,
    PropertyGroup, Twin,
};
pub use client::{
    messages_filter, start_send_messages, EdgeClient, EdgeConfig, EdgeEvent, EdgeStats,
};
pub use command::{apply_command, CommandError};
pub use envelope::{from_envelope, handle_message, to_envelope, Handled, NotAChange};
pub use mapping::{
    feature_of, features, locate, map_runtime, map_thing, MappedThing, Scope, ThingType,
    DEVICE_INFO, MAPPING_VERSION,
};
pub use model::{Definition, EdgeDevice, FunctionalItem, GatewayRuntime, ModelError, Owner};
pub use sync::{SyncStats, TwinSync};
