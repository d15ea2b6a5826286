//! How the edge client takes a twin command's answer (see the parent
//! module doc): done, re-create what the command missed, retry after a
//! backoff (at least the answer's `retry-after`, which a twin reached over
//! its HTTP API may set), or refuse.

use rand::RngCore;

use super::queue::{Command, Key};
use super::{EdgeClient, EdgeEvent, FEATURE_NOT_FOUND, THING_NOT_FOUND};
use crate::ditto::http::retry_after;
use crate::ditto::protocol::Envelope;
use crate::protocol::edge::change::Change;
use crate::protocol::edge::mapping::{features, map_thing, Scope};
use crate::protocol::{backoff, is_retriable};
use crate::time::{Span, Time};

impl EdgeClient {
    /// A twin command's response or error frame.
    pub(super) fn on_response(
        &mut self,
        now: Time,
        env: &Envelope,
        rng: &mut dyn RngCore,
        events: &mut Vec<EdgeEvent>,
    ) {
        let taken = env.correlation_id().and_then(|id| self.commands.take(id));
        let (Some((key, command)), Some(status)) = (taken, env.status) else {
            self.stats.stray += 1;
            events.push(EdgeEvent::StrayFrame);
            return;
        };
        let error = env
            .value
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(|e| e.as_str())
            .map(str::to_string);
        let is_delete = command.change.action() == "delete";
        if (200..300).contains(&status) || (status == 404 && is_delete) {
            self.stats.answered += 1;
            let correlation_id = command.id;
            events.push(EdgeEvent::CommandAnswered {
                correlation_id,
                status,
            });
        } else if status == 404
            && matches!(error.as_deref(), Some(THING_NOT_FOUND | FEATURE_NOT_FOUND))
        {
            self.recreate(now, key, command, status, error, events);
        } else if is_retriable(status) {
            let at_least = retry_after(env);
            self.retry(now, key, command, (status, at_least), rng, events);
        } else {
            self.refuse(command, status, error, events);
        }
        self.check_synced(now, events);
    }

    fn refuse(
        &mut self,
        command: Command,
        status: u16,
        error: Option<String>,
        events: &mut Vec<EdgeEvent>,
    ) {
        self.stats.refused += 1;
        events.push(EdgeEvent::CommandRefused {
            correlation_id: command.id,
            status,
            error,
        });
    }

    fn retry(
        &mut self,
        now: Time,
        key: Key,
        mut command: Command,
        (status, at_least): (u16, Option<Span>),
        rng: &mut dyn RngCore,
        events: &mut Vec<EdgeEvent>,
    ) {
        command.failures += 1;
        let (base, cap) = (self.config.backoff_base, self.config.backoff_cap);
        let mut after = backoff(base, cap, command.failures, rng);
        // The twin's `Retry-After` (HTTP API), capped like the backoff.
        if let Some(at_least) = at_least {
            after = after.max(at_least.min(cap));
        }
        self.stats.retried += 1;
        events.push(EdgeEvent::CommandRetry {
            correlation_id: command.id.clone(),
            status,
            after,
        });
        self.commands.put_back(key, command, now + after);
    }

    /// `feature.notfound` on a property command, or `thing.notfound` on a
    /// command beneath a thing: re-create the feature (`ModifyFeature`) or
    /// the thing (`ModifyThing`) from the runtime, then the command again.
    /// Once per command; what the runtime no longer has makes the command
    /// moot (refused, counted).
    fn recreate(
        &mut self,
        now: Time,
        key: Key,
        mut command: Command,
        status: u16,
        error: Option<String>,
        events: &mut Vec<EdgeEvent>,
    ) {
        let code = error.as_deref().unwrap_or_default();
        let replacement = match command.recreated {
            true => None,
            false => self.replacement(&command.change, code),
        };
        let Some(change) = replacement else {
            return self.refuse(command, status, error, events);
        };
        let id = self.fresh_id();
        self.stats.recreated += 1;
        events.push(EdgeEvent::Recreated {
            correlation_id: id.clone(),
            command: change.command(),
            thing_id: change.thing_id().to_string(),
            path: change.path(),
        });
        self.commands.push_before(key, id, change, now);
        command.recreated = true;
        self.commands.put_back(key, command, now);
    }

    /// What re-creates the parent `change` missed (see [`EdgeClient::recreate`]).
    fn replacement(&self, change: &Change, code: &str) -> Option<Change> {
        match (code, change) {
            (THING_NOT_FOUND, c) if c.action() != "delete" && c.path() != "/" => {
                let scope = Scope::find(&self.rt, c.thing_id())?;
                let thing = map_thing(&self.rt, &scope)?;
                Some(Change::ModifyThing {
                    thing_id: thing.thing_id,
                    thing: thing.json,
                })
            }
            (
                FEATURE_NOT_FOUND,
                Change::ModifyFeatureProperties {
                    thing_id,
                    feature_id,
                    ..
                }
                | Change::ModifyFeatureProperty {
                    thing_id,
                    feature_id,
                    ..
                },
            ) => {
                let found = features(&self.rt)
                    .into_iter()
                    .find(|(t, f, _)| t == thing_id && f == feature_id);
                found.map(|(thing_id, feature_id, feature)| Change::ModifyFeature {
                    thing_id,
                    feature_id,
                    feature,
                })
            }
            _ => None,
        }
    }
}
