//! Commands from the twin side to a gateway's FIs (seed 002, "Setting a
//! property"): `$set.configuration/<property>` with `{"new_value": …}`
//! changes a writable property (or the FI's `name` or `tags`) on the device;
//! the device's change then flows back into the twin as an ordinary change.
//!
//! What the gateway answers (the status of its reply message):
//! - success: `204` and no value (the setter is a Java `void` operation);
//! - no FI behind the addressed feature: `404` `gateway:item.notfound`;
//! - a subject other than `$set.configuration/…` (an FI operation this model
//!   does not have): `404` `gateway:operation.notfound`;
//! - a property the FI does not have: `404` `gateway:property.notfound`;
//! - a read-only property (it is `properties.status`, the device owns it):
//!   `403` `gateway:property.readonly`;
//! - a payload without `new_value`, a non-string `name` or `tags` that are
//!   not an array of strings: `400` `gateway:payload.invalid`.
//!
//! A refused command changes nothing.

use serde_json::{json, Value};

use super::model::GatewayRuntime;

/// The subject prefix of a property setter.
pub const SET_CONFIGURATION: &str = "$set.configuration/";

/// The payload key of a setter's new value.
pub const NEW_VALUE: &str = "new_value";

/// Why the gateway refused a command; it answers with [`CommandError::status`]
/// and [`CommandError::to_json`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No FI has this UID (or no FI is mapped to the addressed feature).
    #[error("no functional item {0}")]
    UnknownItem(String),
    /// The subject is not a `$set.configuration/<property>` setter.
    #[error("no operation {0:?}")]
    UnknownOperation(String),
    /// The FI has no property of that name.
    #[error("no property {0:?}")]
    UnknownProperty(String),
    /// The property is read-only.
    #[error("property {0:?} is read-only")]
    ReadOnly(String),
    /// The payload is not `{"new_value": …}` of a fitting type.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
}

impl CommandError {
    /// The reply's status.
    pub fn status(&self) -> u16 {
        match self {
            CommandError::UnknownItem(_)
            | CommandError::UnknownOperation(_)
            | CommandError::UnknownProperty(_) => 404,
            CommandError::ReadOnly(_) => 403,
            CommandError::InvalidPayload(_) => 400,
        }
    }

    /// The error code, in Ditto's `<area>:<what>` style.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::UnknownItem(_) => "gateway:item.notfound",
            CommandError::UnknownOperation(_) => "gateway:operation.notfound",
            CommandError::UnknownProperty(_) => "gateway:property.notfound",
            CommandError::ReadOnly(_) => "gateway:property.readonly",
            CommandError::InvalidPayload(_) => "gateway:payload.invalid",
        }
    }

    /// The reply's value: `{"status", "error", "message"}` like a Ditto error.
    pub fn to_json(&self) -> Value {
        json!({"status": self.status(), "error": self.code(), "message": self.to_string()})
    }
}

/// The status of a successful setter's reply.
pub const APPLIED_STATUS: u16 = 204;

/// Applies the command `subject` with `payload` to the FI `uid`. Returns
/// whether the value changed (setting the current value is a success that
/// changes nothing).
pub fn apply_command(
    runtime: &mut GatewayRuntime,
    uid: &str,
    subject: &str,
    payload: &Value,
) -> Result<bool, CommandError> {
    let Some(property) = subject.strip_prefix(SET_CONFIGURATION) else {
        return Err(CommandError::UnknownOperation(subject.to_string()));
    };
    let Some(fi) = runtime.item_mut(uid) else {
        return Err(CommandError::UnknownItem(uid.to_string()));
    };
    let Some(new) = payload.as_object().and_then(|p| p.get(NEW_VALUE)) else {
        return Err(CommandError::InvalidPayload(format!(
            "expected {{\"{NEW_VALUE}\": …}}"
        )));
    };
    match property {
        "name" => {
            let name = new
                .as_str()
                .ok_or_else(|| invalid("name must be a string"))?;
            let changed = fi.name != name;
            fi.name = name.to_string();
            Ok(changed)
        }
        "tags" => {
            let tags = new
                .as_array()
                .ok_or_else(|| invalid("tags must be an array"))?;
            let tags = tags.iter().map(|t| t.as_str().map(str::to_string));
            let tags = tags
                .collect::<Option<_>>()
                .ok_or_else(|| invalid("tags must be strings"))?;
            let changed = fi.tags != tags;
            fi.tags = tags;
            Ok(changed)
        }
        _ if fi.read_only.contains_key(property) => {
            Err(CommandError::ReadOnly(property.to_string()))
        }
        _ => match fi.writable.get_mut(property) {
            Some(slot) => Ok(std::mem::replace(slot, new.clone()) != *new),
            None => Err(CommandError::UnknownProperty(property.to_string())),
        },
    }
}

fn invalid(why: &str) -> CommandError {
    CommandError::InvalidPayload(why.to_string())
}
