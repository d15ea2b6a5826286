//! DDI v1 confirmation-flow bodies (ddi.md §1.8) as serde types, after
//! hawkBit's `DdiConfirmationBase`, `DdiAutoConfirmationState`,
//! `DdiConfirmationBaseAction`, `DdiConfirmationFeedback` and
//! `DdiActivateAutoConfirmation`. Kept beside `wire.rs` so the flow's types
//! read together; the same conventions apply (unknown fields ignored, nulls
//! omitted on output).

use serde::{Deserialize, Serialize};

use super::wire::{ActionHistory, Deployment, Link};

/// `GET {base}/confirmationBase` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationBase {
    /// The target's auto-confirmation state.
    #[serde(rename = "autoConfirm")]
    pub auto_confirm: AutoConfirmState,
    /// Activate or deactivate auto-confirm, and the waiting action if any.
    #[serde(rename = "_links", default)]
    pub links: ConfirmationLinks,
}

/// `autoConfirm` of the confirmation base.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoConfirmState {
    /// True while auto-confirm is on.
    pub active: bool,
    /// Who asked for it (omitted when not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    /// Free-text remark (omitted when not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Epoch ms of the activation; hawkBit sends 0 while inactive.
    #[serde(rename = "activatedAt", skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<u64>,
}

/// `_links` of the confirmation base, in hawkBit's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationLinks {
    /// Present while auto-confirm is off.
    #[serde(
        rename = "activateAutoConfirm",
        skip_serializing_if = "Option::is_none"
    )]
    pub activate_auto_confirm: Option<Link>,
    /// Present while auto-confirm is on.
    #[serde(
        rename = "deactivateAutoConfirm",
        skip_serializing_if = "Option::is_none"
    )]
    pub deactivate_auto_confirm: Option<Link>,
    /// The action waiting for confirmation, if any.
    #[serde(rename = "confirmationBase", skip_serializing_if = "Option::is_none")]
    pub confirmation_base: Option<Link>,
}

/// `GET {base}/confirmationBase/{id}` answer: the deployment to consent to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationBaseAction {
    /// Action id, as a string.
    pub id: String,
    /// What would be downloaded and installed (a `deployment` object).
    pub confirmation: Deployment,
    /// Recent status history of the action, newest first.
    #[serde(rename = "actionHistory", skip_serializing_if = "Option::is_none")]
    pub action_history: Option<ActionHistory>,
}

/// The device's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confirmation {
    /// Go ahead: the action turns RUNNING.
    Confirmed,
    /// Not now: the action waits (or waits again, if it was confirmed).
    Denied,
}

impl Confirmation {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Confirmation::Confirmed => "confirmed",
            Confirmation::Denied => "denied",
        }
    }
}

/// `POST {base}/confirmationBase/{id}/feedback` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationFeedback {
    /// Confirmed or denied.
    pub confirmation: Confirmation,
    /// Device status code (stored as "Confirmation status code: N").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// Free-text details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<String>>,
}

/// `POST {base}/confirmationBase/activateAutoConfirm` body (optional).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivateAutoConfirm {
    /// Who asks for auto-confirm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    /// Free-text remark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hawkbit_documents_round_trip() {
        let base: ConfirmationBase = serde_json::from_str(
            r#"{"autoConfirm":{"active":false},"_links":{"activateAutoConfirm":{"href":"a"},"confirmationBase":{"href":"c"}}}"#,
        )
        .expect("confirmation base");
        assert!(!base.auto_confirm.active);
        assert_eq!(
            serde_json::to_string(&base).expect("json"),
            r#"{"autoConfirm":{"active":false},"_links":{"activateAutoConfirm":{"href":"a"},"confirmationBase":{"href":"c"}}}"#
        );
        let f: ConfirmationFeedback =
            serde_json::from_str(r#"{"confirmation":"denied","code":20,"details":["no"],"x":1}"#)
                .expect("feedback");
        assert_eq!(f.confirmation, Confirmation::Denied);
        assert_eq!(f.code, Some(20));
        assert!(serde_json::from_str::<ConfirmationFeedback>(r#"{"code":1}"#).is_err());
    }
}
