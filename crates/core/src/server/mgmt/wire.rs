//! Request bodies of the Management API subset (serde) and hawkBit's error
//! answers. Request models ignore unknown fields, as hawkBit's
//! `@JsonIgnoreProperties(ignoreUnknown = true)` models do.
//!
//! Error strings are hawkBit's own, typos included
//! (`hawkbit-core/.../exception/ServerError.java`: `entitiyNotFound`,
//! `entitiyAlreayExists`); statuses follow `ResponseExceptionHandler`.

use serde::{Deserialize, Serialize};

use crate::message::Response;
use crate::protocol::ddi::wire::ExceptionInfo;

/// A hawkBit error body (`ExceptionInfo`) with `status`.
pub(super) fn error(status: u16, class: &str, code: &str, message: impl Into<String>) -> Response {
    let info = ExceptionInfo {
        exception_class: Some(class.to_string()),
        error_code: Some(code.to_string()),
        message: Some(message.into()),
        info: None,
    };
    super::json(status, &info)
}

/// 404 `EntityNotFoundException`.
pub(super) fn not_found(message: impl Into<String>) -> Response {
    error(
        404,
        "org.eclipse.hawkbit.repository.exception.EntityNotFoundException",
        "hawkbit.server.error.repo.entitiyNotFound",
        message,
    )
}

/// 404 for `what` with identifier `id` (hawkBit's message shape).
pub(super) fn no_entity(what: &str, id: impl std::fmt::Display) -> Response {
    not_found(format!(
        "{what} with given identifier {{{id}}} does not exist."
    ))
}

/// 409 `EntityAlreadyExistsException`.
pub(super) fn already_exists(message: impl Into<String>) -> Response {
    error(
        409,
        "org.eclipse.hawkbit.repository.exception.EntityAlreadyExistsException",
        "hawkbit.server.error.repo.entitiyAlreayExists",
        message,
    )
}

/// 400 for an unreadable body: exactly the three fields hawkBit sends.
pub(super) fn not_readable(message: impl Into<String>) -> Response {
    error(
        400,
        "org.eclipse.hawkbit.rest.exception.MessageNotReadableException",
        "hawkbit.server.error.rest.body.notReadable",
        message,
    )
}

/// 400 for a readable body whose values break a rule (bean validation).
pub(super) fn invalid(message: impl Into<String>) -> Response {
    error(
        400,
        "jakarta.validation.ValidationException",
        "hawkbit.server.error.repo.constraintViolation",
        message,
    )
}

/// 403 for an exceeded quota (hawkBit maps `QUOTA_EXCEEDED` to FORBIDDEN on
/// the Management API; the DDI side answers 429).
pub(super) fn quota(message: impl Into<String>) -> Response {
    error(
        403,
        "org.eclipse.hawkbit.repository.exception.AssignmentQuotaExceededException",
        "hawkbit.server.error.quota.tooManyEntries",
        message,
    )
}

/// 400 for a malformed path or query parameter.
pub(super) fn bad_param(message: impl Into<String>) -> Response {
    error(
        400,
        "org.springframework.web.method.annotation.MethodArgumentTypeMismatchException",
        "hawkbit.server.error.rest.param.invalid",
        message,
    )
}

/// hawkBit's `ActionType` names (`MgmtActionType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ActionKind {
    Soft,
    Forced,
    Timeforced,
    Downloadonly,
}

/// `maintenanceWindow` of an assignment (`MgmtMaintenanceWindowRequestBody`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub(in crate::server) struct MaintenanceWindow {
    pub(super) schedule: String,
    pub(super) duration: String,
    pub(super) timezone: String,
}

/// `POST /targets` entry (`MgmtTargetRequestBody`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewTarget {
    pub(super) controller_id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) security_token: Option<String>,
    pub(super) group: Option<String>,
}

/// `POST /softwaremodules` entry (`MgmtSoftwareModuleRequestBodyPost`).
#[derive(Debug, Deserialize)]
pub(super) struct NewModule {
    pub(super) name: Option<String>,
    pub(super) version: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) vendor: Option<String>,
}

/// `{"id": N}` (`MgmtSoftwareModuleAssignment`, `MgmtId`).
#[derive(Debug, Deserialize)]
pub(super) struct IdRef {
    pub(super) id: u64,
}

/// `POST /distributionsets` entry (`MgmtDistributionSetRequestBodyPost`).
#[derive(Debug, Deserialize)]
pub(super) struct NewSet {
    pub(super) name: Option<String>,
    pub(super) version: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) modules: Vec<IdRef>,
    #[serde(default, rename = "requiredMigrationStep")]
    pub(super) required_migration_step: Option<bool>,
}

/// One assignment (`MgmtTargetAssignmentRequestBody` for `assignedTargets`,
/// `MgmtDistributionSetAssignment` for `assignedDS`, where `id` is the set).
#[derive(Debug, Deserialize)]
pub(super) struct Assignment<Id> {
    pub(super) id: Id,
    #[serde(rename = "type")]
    pub(super) kind: Option<ActionKind>,
    pub(super) forcetime: Option<u64>,
    pub(super) weight: Option<i64>,
    #[serde(rename = "maintenanceWindow")]
    pub(super) maintenance_window: Option<MaintenanceWindow>,
    /// Absent: the tenant's `user.confirmation.flow.enabled` (ddi.md §1.8).
    #[serde(rename = "confirmationRequired")]
    pub(super) confirmation_required: Option<bool>,
}

/// A single object or an array of them (hawkBit's
/// `MgmtDistributionSetAssignmentsDeserializer` accepts both).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub(super) fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A rollout condition (`MgmtRolloutCondition`): `THRESHOLD` + percentage.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(super) struct Condition {
    pub(super) condition: Option<String>,
    pub(super) expression: Option<String>,
}

/// One explicit deploy group (`MgmtRolloutGroup`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewGroup {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) target_percentage: Option<f64>,
    pub(super) target_filter_query: Option<String>,
    pub(super) success_condition: Option<Condition>,
    pub(super) error_condition: Option<Condition>,
    /// Overrides the rollout's `confirmationRequired` for this group.
    pub(super) confirmation_required: Option<bool>,
}

/// `POST /rollouts` (`MgmtRolloutRestRequestBodyPost`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewRollout {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) distribution_set_id: Option<u64>,
    pub(super) target_filter_query: Option<String>,
    pub(super) amount_groups: Option<u32>,
    #[serde(default)]
    pub(super) groups: Vec<NewGroup>,
    #[serde(rename = "type")]
    pub(super) kind: Option<ActionKind>,
    pub(super) forcetime: Option<u64>,
    pub(super) weight: Option<i64>,
    pub(super) start_at: Option<u64>,
    pub(super) success_condition: Option<Condition>,
    pub(super) error_condition: Option<Condition>,
    /// Actions of the rollout wait for consent (absent: the tenant's
    /// confirmation flow setting decides, as for single assignments).
    pub(super) confirmation_required: Option<bool>,
}
