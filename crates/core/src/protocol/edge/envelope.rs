//! The gateway's [`Change`]s as Ditto Protocol twin commands, and the
//! gateway's handling of an inbound live message (`$set.configuration/…`),
//! on [`crate::ditto::protocol`]'s envelope.
//!
//! A change is a `…/things/twin/commands/{modify|delete}` envelope on its
//! thing, with its path and value; [`from_envelope`] reads one back (the
//! twin side's view, and the round trip the tests check). A live message
//! to `/features/<fid>/inbox/messages/<subject>` of one of the gateway's
//! things is resolved to its FI ([`locate`]), applied ([`apply_command`]) and
//! answered with the same topic, path and `correlation-id`, `content-type:
//! application/json`, and the status of [`super::command`].

use serde_json::Value;

use super::change::{Change, PropertyGroup};
use super::command::{apply_command, CommandError, APPLIED_STATUS};
use super::mapping::locate;
use super::model::GatewayRuntime;
use crate::ditto::protocol::{Channel, CommandAction, Criterion, Envelope, Group, Pointer};

/// The content type of a message reply's JSON value.
pub const JSON: &str = "application/json";

/// The path of a change as a pointer (segments of [`Change::path`]).
pub fn pointer(change: &Change) -> Pointer {
    let path = change.path();
    Pointer::from_segments(path.split('/').filter(|s| !s.is_empty()))
}

/// The twin command envelope of a change, with this `correlation-id`.
pub fn to_envelope(change: &Change, correlation_id: &str) -> Envelope {
    let action = match change.action() {
        "delete" => CommandAction::Delete,
        _ => CommandAction::Modify,
    };
    let value = change.value().cloned();
    Envelope::twin_command(
        change.thing_id(),
        action,
        pointer(change),
        value,
        correlation_id,
    )
}

/// Why an envelope is not one of the gateway's changes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAChange {
    /// Not a `things/twin/commands/modify|delete` signal.
    #[error("not a twin modify or delete command")]
    Signal,
    /// A path outside the vocabulary (`/attributes`, `/features/f/definition`, …).
    #[error("path {0} is not one a gateway sends")]
    Path(String),
    /// A modify without a value.
    #[error("a modify needs a value")]
    NoValue,
}

/// Reads a twin command envelope back into a [`Change`].
pub fn from_envelope(env: &Envelope) -> Result<Change, NotAChange> {
    let delete = match (&env.topic.group, &env.topic.channel, &env.topic.criterion) {
        (Group::Things, Some(Channel::Twin), Criterion::Commands(CommandAction::Modify)) => false,
        (Group::Things, Some(Channel::Twin), Criterion::Commands(CommandAction::Delete)) => true,
        _ => return Err(NotAChange::Signal),
    };
    let value = match (delete, &env.value) {
        (true, _) => None,
        (false, Some(value)) => Some(value.clone()),
        (false, None) => return Err(NotAChange::NoValue),
    };
    let thing_id = env.topic.thing_id();
    let segments: Vec<&str> = env.path.segments().iter().map(String::as_str).collect();
    let group = |g: &str| PropertyGroup::ALL.into_iter().find(|p| p.as_str() == g);
    let change = match (segments.as_slice(), value) {
        ([], Some(thing)) => Change::ModifyThing { thing_id, thing },
        ([], None) => Change::DeleteThing { thing_id },
        (["features", fid], Some(feature)) => Change::ModifyFeature {
            thing_id,
            feature_id: fid.to_string(),
            feature,
        },
        (["features", fid], None) => Change::DeleteFeature {
            thing_id,
            feature_id: fid.to_string(),
        },
        (["features", fid, "properties"], Some(properties)) => Change::ModifyFeatureProperties {
            thing_id,
            feature_id: fid.to_string(),
            properties,
        },
        (["features", fid, "properties", g, key], value) => {
            let Some(group) = group(g) else {
                return Err(NotAChange::Path(env.path.to_string()));
            };
            let (feature_id, key) = (fid.to_string(), key.to_string());
            match value {
                Some(value) => Change::ModifyFeatureProperty {
                    thing_id,
                    feature_id,
                    group,
                    key,
                    value,
                },
                None => Change::DeleteFeatureProperty {
                    thing_id,
                    feature_id,
                    group,
                    key,
                },
            }
        }
        _ => return Err(NotAChange::Path(env.path.to_string())),
    };
    Ok(change)
}

/// The gateway's handling of one inbound live message: the reply to send,
/// and whether the runtime changed (its change then goes out as a diff).
#[derive(Clone, Debug, PartialEq)]
pub struct Handled {
    /// The reply message.
    pub reply: Envelope,
    /// Whether an FI property changed.
    pub changed: bool,
}

/// Handles a live message sent to a feature's inbox of one of this
/// gateway's things. Anything else addressed to the gateway (a thing-level
/// inbox, an unknown thing or feature) is answered `404`
/// `gateway:item.notfound`.
pub fn handle_message(rt: &mut GatewayRuntime, msg: &Envelope) -> Handled {
    let outcome = match (&msg.topic.criterion, msg.path.segments()) {
        (Criterion::Messages(subject), [features, fid, inbox, ..])
            if features == "features" && inbox == "inbox" =>
        {
            let thing_id = msg.topic.thing_id();
            match locate(rt, &thing_id, fid) {
                Some(uid) => apply_command(
                    rt,
                    &uid,
                    subject,
                    msg.value.as_ref().unwrap_or(&Value::Null),
                ),
                None => Err(CommandError::UnknownItem(format!(
                    "{thing_id}/features/{fid}"
                ))),
            }
        }
        _ => Err(CommandError::UnknownItem(format!(
            "{}{}",
            msg.topic.thing_id(),
            msg.path
        ))),
    };
    match outcome {
        Ok(changed) => Handled {
            reply: msg.message_reply(APPLIED_STATUS, Some(JSON), None),
            changed,
        },
        Err(e) => Handled {
            reply: msg.message_reply(e.status(), Some(JSON), Some(e.to_json())),
            changed: false,
        },
    }
}
