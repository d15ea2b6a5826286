//! The contract every protocol client keeps, so a driver steps any of them
//! the same way (quinn-proto style: no socket, no clock, no task).
//!
//! The driver asks [`Client::poll_timeout`] when the client next wants to
//! act; at that time it takes what to send from [`Client::poll_transmit`],
//! carries it, and hands what came of it to [`Client::handle_response`] (or,
//! for a publish, [`Client::handle_published`]). Messages a broker pushes go
//! to [`Client::handle_message`]; a client with a message session (the edge
//! gateway's Ditto Protocol WebSocket) hears it open and drop through
//! [`Client::handle_session`] and sends text frames ([`Transmit::Frame`]),
//! its answers coming back as messages. Every call may push observations
//! ([`Client::Event`]) for the oracle, the trace and the report; the driver
//! owns the buffer so stepping allocates nothing once it is warm.
//!
//! The protocols differ in what they need to know about their server
//! ([`Client::Env`], borrowed on every call) and in what they observe.

use rand::RngCore;

use crate::message::NetError;
use crate::protocol::transport::{Delivery, ReqKind, Transmit};
use crate::time::Time;

/// A sans-IO device-side protocol client.
pub trait Client {
    /// Where the server is and how the device behaves; borrowed on every call.
    type Env<'a>;
    /// One observation.
    type Event;

    /// When the client next wants to send; [`Time::NEVER`] while a request
    /// is in flight (or while it only waits for a message).
    fn poll_timeout(&self) -> Time;

    /// Kind of the request in flight (or of the next one).
    fn request_kind(&self) -> ReqKind;

    /// What to send at `now`, if anything is due.
    fn poll_transmit(
        &mut self,
        now: Time,
        env: &Self::Env<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<Self::Event>,
    ) -> Option<Transmit>;

    /// What came of the request sent last.
    fn handle_response(
        &mut self,
        now: Time,
        delivery: Delivery,
        env: &Self::Env<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<Self::Event>,
    );

    /// What came of the publish sent last (its PUBACK, or why none came).
    /// Clients that never publish ignore it.
    fn handle_published(
        &mut self,
        now: Time,
        result: Result<(), NetError>,
        env: &Self::Env<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<Self::Event>,
    ) {
        let _ = (now, result, env, rng, events);
    }

    /// A message a broker pushed to the device (`alias` = its topic's
    /// resource). Clients without a subscription ignore it.
    fn handle_message(
        &mut self,
        now: Time,
        alias: &str,
        value: &str,
        env: &Self::Env<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<Self::Event>,
    ) {
        let _ = (now, alias, value, env, rng, events);
    }

    /// The device's message session opened (`up`: its connectivity window
    /// started and the connection is established) or dropped. Clients
    /// without a session ignore it.
    fn handle_session(
        &mut self,
        now: Time,
        up: bool,
        env: &Self::Env<'_>,
        rng: &mut dyn RngCore,
        events: &mut Vec<Self::Event>,
    ) {
        let _ = (now, up, env, rng, events);
    }
}
