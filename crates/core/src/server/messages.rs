//! The messages of one stored status entry (hawkBit `ActionStatus.messages`),
//! kept without a list allocation for the common cases: a server entry has
//! none or one constant line, a device feedback usually one detail. A run
//! keeps every entry of every action, so at 100 000 devices the list per
//! entry was the largest part of the server's memory.

use std::borrow::Cow;

use serde::{Serialize, Serializer};

/// A message text: a server constant or a device's line.
pub(super) type Message = Cow<'static, str>;

/// The messages of one entry, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) enum Messages {
    /// No message.
    #[default]
    None,
    /// One message (no list).
    One(Message),
    /// Two or more, in a list without spare capacity.
    Many(Box<[Message]>),
}

impl Messages {
    /// The messages of `list`, stored without spare capacity.
    pub(super) fn from_vec(mut list: Vec<Message>) -> Messages {
        for m in &mut list {
            if let Cow::Owned(text) = m {
                text.shrink_to_fit();
            }
        }
        match list.len() {
            0 => Messages::None,
            1 => list.pop().map_or(Messages::None, Messages::One),
            _ => Messages::Many(list.into_boxed_slice()),
        }
    }

    /// The messages as a slice, oldest first.
    pub(super) fn as_slice(&self) -> &[Message] {
        match self {
            Messages::None => &[],
            Messages::One(m) => std::slice::from_ref(m),
            Messages::Many(list) => list,
        }
    }

    /// The messages, oldest first.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Message> {
        self.as_slice().iter()
    }
}

impl Serialize for Messages {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

impl<T: AsRef<str>> PartialEq<Vec<T>> for Messages {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.as_slice().len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_order_and_serialize_as_a_list() {
        let none = Messages::from_vec(vec![]);
        let one = Messages::from_vec(vec![Cow::Borrowed("a")]);
        let many = Messages::from_vec(vec![Cow::Borrowed("a"), Cow::Owned("b".into())]);
        assert_eq!(none, Vec::<&str>::new());
        assert_eq!(one, vec!["a"]);
        assert_eq!(many, vec!["a", "b"]);
        assert_eq!(
            serde_json::to_string(&many).ok().as_deref(),
            Some(r#"["a","b"]"#)
        );
        assert_eq!(serde_json::to_string(&none).ok().as_deref(), Some("[]"));
        assert!(std::mem::size_of::<Messages>() <= 32);
    }
}
