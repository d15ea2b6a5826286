//! The Ditto Protocol topic (ditto.md §1 "Topic"):
//! `<namespace>/<entity-name>/<group>/<channel>/<criterion>/<action>`.
//!
//! The group is `things` or `policies`; only `things` has a channel (`twin`
//! or `live`). The criterion decides what follows: `commands` and `events`
//! take an action from a fixed set, `messages` (live only) a subject that
//! may itself contain `/` (`$set.configuration/name`), `errors` nothing,
//! `acks` an optional label, `search` and `announcements` a name. Namespace
//! and entity name never contain `/` (ditto.md §3), so the first two `/`
//! delimit them; the thing ID is `namespace:name`.

use std::fmt;

/// `things` or `policies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    /// `things`
    Things,
    /// `policies` (no channel)
    Policies,
}

/// `twin` (the persisted twin) or `live` (to and from the device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// `twin`
    Twin,
    /// `live`
    Live,
}

/// The action of a `commands` topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CommandAction {
    /// `create`
    Create,
    /// `retrieve`
    Retrieve,
    /// `modify`
    Modify,
    /// `merge`
    Merge,
    /// `delete`
    Delete,
    /// `migrate`
    Migrate,
}

/// The action of an `events` topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventAction {
    /// `created`
    Created,
    /// `modified`
    Modified,
    /// `merged`
    Merged,
    /// `deleted`
    Deleted,
    /// `migrated`
    Migrated,
}

/// The criterion and what follows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Criterion {
    /// `commands/<action>`
    Commands(CommandAction),
    /// `events/<action>`
    Events(EventAction),
    /// `messages/<subject>` (live only; the subject may contain `/`).
    Messages(String),
    /// `errors`
    Errors,
    /// `search/<action>` (twin only)
    Search(String),
    /// `acks` or `acks/<label>`
    Acks(Option<String>),
    /// `announcements/<name>`
    Announcements(String),
}

/// A parsed topic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Topic {
    /// Namespace (the thing ID before its first `:`).
    pub namespace: String,
    /// Entity name (the thing ID after its first `:`).
    pub name: String,
    /// `things` or `policies`.
    pub group: Group,
    /// `twin`/`live` for things; `None` for policies.
    pub channel: Option<Channel>,
    /// Criterion and action.
    pub criterion: Criterion,
}

/// Why a topic string is not a Ditto Protocol topic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Fewer segments than the group and criterion need.
    #[error("topic {0:?} is too short")]
    TooShort(String),
    /// An unknown group, channel, criterion or action.
    #[error("topic {topic:?}: unknown {what} {found:?}")]
    Unknown {
        /// The whole topic.
        topic: String,
        /// `group`, `channel`, `criterion` or `action`.
        what: &'static str,
        /// The segment found.
        found: String,
    },
    /// Segments after a criterion that takes none (`errors/x`), or a
    /// criterion on a channel that does not have it (`twin/messages`).
    #[error("topic {0:?} has a criterion its channel does not allow or extra segments")]
    Misplaced(String),
}

impl CommandAction {
    pub(crate) const ALL: [(CommandAction, &'static str); 6] = [
        (CommandAction::Create, "create"),
        (CommandAction::Retrieve, "retrieve"),
        (CommandAction::Modify, "modify"),
        (CommandAction::Merge, "merge"),
        (CommandAction::Delete, "delete"),
        (CommandAction::Migrate, "migrate"),
    ];

    /// The action's name in a topic.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, s)| s)
    }

    /// Parses an action name.
    pub fn parse(s: &str) -> Option<CommandAction> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
    }
}

impl EventAction {
    pub(crate) const ALL: [(EventAction, &'static str); 5] = [
        (EventAction::Created, "created"),
        (EventAction::Modified, "modified"),
        (EventAction::Merged, "merged"),
        (EventAction::Deleted, "deleted"),
        (EventAction::Migrated, "migrated"),
    ];

    /// The action's name in a topic.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, s)| s)
    }

    /// Parses an action name.
    pub fn parse(s: &str) -> Option<EventAction> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
    }
}

impl Topic {
    /// A `things` topic for thing `thing_id` (split at its first `:`; an ID
    /// without `:` is taken as a name in the empty namespace).
    pub fn thing(thing_id: &str, channel: Channel, criterion: Criterion) -> Topic {
        let (namespace, name) = thing_id.split_once(':').unwrap_or(("", thing_id));
        Topic {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            group: Group::Things,
            channel: Some(channel),
            criterion,
        }
    }

    /// The entity ID, `namespace:name`.
    pub fn thing_id(&self) -> String {
        format!("{}:{}", self.namespace, self.name)
    }

    /// The same entity and channel with another criterion.
    pub fn with_criterion(&self, criterion: Criterion) -> Topic {
        Topic {
            criterion,
            ..self.clone()
        }
    }

    /// Parses a topic string.
    pub fn parse(topic: &str) -> Result<Topic, TopicError> {
        let too_short = || TopicError::TooShort(topic.to_owned());
        let unknown = |what, found: &str| TopicError::Unknown {
            topic: topic.to_owned(),
            what,
            found: found.to_owned(),
        };
        let mut parts = topic.splitn(4, '/');
        let namespace = parts.next().ok_or_else(too_short)?;
        let name = parts.next().ok_or_else(too_short)?;
        let group = parts.next().ok_or_else(too_short)?;
        let rest = parts.next().ok_or_else(too_short)?;
        let (group, channel, rest) = match group {
            "things" => {
                let (channel, rest) = rest.split_once('/').ok_or_else(too_short)?;
                let channel = match channel {
                    "twin" => Channel::Twin,
                    "live" => Channel::Live,
                    other => return Err(unknown("channel", other)),
                };
                (Group::Things, Some(channel), rest)
            }
            "policies" => (Group::Policies, None, rest),
            other => return Err(unknown("group", other)),
        };
        let criterion = parse_criterion(topic, rest)?;
        let allowed = match (&criterion, channel) {
            (Criterion::Messages(_), c) => c == Some(Channel::Live),
            (Criterion::Search(_), c) => c == Some(Channel::Twin),
            _ => true,
        };
        if !allowed {
            return Err(TopicError::Misplaced(topic.to_owned()));
        }
        Ok(Topic {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            group,
            channel,
            criterion,
        })
    }
}

/// `<criterion>[/<action>]`, the part after group and channel.
fn parse_criterion(topic: &str, rest: &str) -> Result<Criterion, TopicError> {
    let (criterion, action) = match rest.split_once('/') {
        Some((c, a)) => (c, Some(a)),
        None => (rest, None),
    };
    let unknown = |what, found: &str| TopicError::Unknown {
        topic: topic.to_owned(),
        what,
        found: found.to_owned(),
    };
    let needed = || action.ok_or_else(|| TopicError::TooShort(topic.to_owned()));
    let single = |a: &str| -> Result<String, TopicError> {
        if a.is_empty() || a.contains('/') {
            return Err(TopicError::Misplaced(topic.to_owned()));
        }
        Ok(a.to_owned())
    };
    Ok(match criterion {
        "commands" => {
            let a = needed()?;
            Criterion::Commands(CommandAction::parse(a).ok_or_else(|| unknown("action", a))?)
        }
        "events" => {
            let a = needed()?;
            Criterion::Events(EventAction::parse(a).ok_or_else(|| unknown("action", a))?)
        }
        "messages" => match needed()? {
            "" => return Err(TopicError::TooShort(topic.to_owned())),
            subject => Criterion::Messages(subject.to_owned()),
        },
        "errors" if action.is_none() => Criterion::Errors,
        "errors" => return Err(TopicError::Misplaced(topic.to_owned())),
        "search" => Criterion::Search(single(needed()?)?),
        "acks" => Criterion::Acks(action.map(single).transpose()?),
        "announcements" => Criterion::Announcements(single(needed()?)?),
        other => return Err(unknown("criterion", other)),
    })
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/", self.namespace, self.name)?;
        match self.group {
            Group::Things => f.write_str("things/")?,
            Group::Policies => f.write_str("policies/")?,
        }
        match self.channel {
            Some(Channel::Twin) => f.write_str("twin/")?,
            Some(Channel::Live) => f.write_str("live/")?,
            None => {}
        }
        match &self.criterion {
            Criterion::Commands(a) => write!(f, "commands/{}", a.as_str()),
            Criterion::Events(a) => write!(f, "events/{}", a.as_str()),
            Criterion::Messages(subject) => write!(f, "messages/{subject}"),
            Criterion::Errors => f.write_str("errors"),
            Criterion::Search(a) => write!(f, "search/{a}"),
            Criterion::Acks(None) => f.write_str("acks"),
            Criterion::Acks(Some(label)) => write!(f, "acks/{label}"),
            Criterion::Announcements(n) => write!(f, "announcements/{n}"),
        }
    }
}
