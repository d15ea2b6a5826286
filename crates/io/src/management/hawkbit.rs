//! Adapter for the hawkBit Management API v1 (`/rest/v1`, ddi.md §5), as
//! Eclipse hawkBit and `fleetsim serve` speak it.
//!
//! - prepare: tenant configuration (`pollingTime`, gateway token) and the
//!   fleet's targets, created up front in batches (so no device depends on
//!   plug and play, and an assignment can name every selected device);
//! - start: a software module of type `os` per campaign with every artifact
//!   uploaded (with the hashes hawkBit checks on upload), a distribution set,
//!   and an assignment to the selected targets in batches of 5 000 (hawkBit's
//!   limit per call); `timeforced` and maintenance windows are expressed in
//!   the server's clock, read from the distribution set's `createdAt`;
//! - cancel: `DELETE .../actions/{id}` for each assigned action still open;
//! - recorded: each target's actions for the campaign's distribution set,
//!   mapped from their status (`status` in hawkBit 1.x, `detailStatus` before);
//! - installed: each target's `installedDS`, as the campaign that created it.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{AdapterError, FleetInfo, MgmtClient, Order, OrderKind, OrderWindow, Recorded, Secret};
use fleetsim_core::message::{percent_decode, percent_encode, Method};
use fleetsim_core::oracle::{CampaignView, Installed};
use fleetsim_core::time::{civil_from_days, Span};

/// Targets per `POST /rest/v1/targets`.
const TARGET_BATCH: usize = 1000;
/// Targets per assignment call (hawkBit's maximum).
const ASSIGN_BATCH: usize = 5000;

/// A campaign as created on the server.
#[derive(Debug, Default)]
struct Created {
    distribution: u64,
    /// `(controller id, action id)` of each assignment.
    actions: Vec<(String, u64)>,
}

/// A hawkBit Management API session.
pub struct Hawkbit {
    client: MgmtClient,
    created: Vec<Option<Created>>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: u64,
    #[serde(default, rename = "createdAt")]
    created_at: Option<u64>,
}

#[derive(Deserialize)]
struct Link {
    href: String,
}

#[derive(Deserialize)]
struct AssignedAction {
    id: u64,
    #[serde(default, rename = "_links")]
    links: Option<std::collections::BTreeMap<String, Link>>,
}

#[derive(Deserialize)]
struct AssignmentResult {
    #[serde(default, rename = "assignedActions")]
    assigned_actions: Vec<AssignedAction>,
}

#[derive(Deserialize)]
struct Page<T> {
    content: Vec<T>,
}

#[derive(Deserialize)]
struct Action {
    id: u64,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "detailStatus")]
    detail_status: Option<String>,
    #[serde(default, rename = "_links")]
    links: Option<std::collections::BTreeMap<String, Link>>,
}

impl Hawkbit {
    /// Checks the credentials with one cheap read.
    pub async fn connect(client: MgmtClient) -> Result<Hawkbit, AdapterError> {
        client
            .call(
                Method::Get,
                "/rest/v1/targets?limit=1",
                None::<&Value>,
                &[200],
            )
            .await?;
        Ok(Hawkbit {
            client,
            created: Vec::new(),
        })
    }

    /// Tenant configuration and the fleet's targets.
    pub async fn prepare(&mut self, fleet: &FleetInfo) -> Result<(), AdapterError> {
        let mut configs = json!({ "pollingTime": hh_mm_ss(fleet.polling) });
        if let Some(token) = &fleet.gateway_token {
            self.client.add_secret(token);
            configs["authentication.gatewaytoken.enabled"] = json!(true);
            configs["authentication.gatewaytoken.key"] = json!(token.expose());
        }
        if fleet.uses_target_tokens() {
            configs["authentication.targettoken.enabled"] = json!(true);
        }
        self.put_configs(&configs).await?;
        let tokens = fleet.target_tokens.iter().chain(std::iter::repeat(&None));
        let targets: Vec<(&String, &Option<Secret>)> =
            fleet.controller_ids.iter().zip(tokens).collect();
        for batch in targets.chunks(TARGET_BATCH) {
            let body: Vec<Value> = batch.iter().map(|(id, t)| target_json(id, t)).collect();
            let resp = self
                .client
                .send(
                    Method::Post,
                    "/rest/v1/targets",
                    Some("application/json".into()),
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
                .await?;
            if resp.status == 409 {
                // Some exist already (an earlier run): create the rest one by
                // one, and give existing ones the token the device will use.
                for (id, token) in batch {
                    self.create_or_update(id, token).await?;
                }
            } else {
                self.client
                    .check(Method::Post, "/rest/v1/targets", resp, &[201])?;
            }
        }
        Ok(())
    }

    /// Creates target `id`; if it exists and the device has a token, sets it.
    async fn create_or_update(
        &mut self,
        id: &str,
        token: &Option<Secret>,
    ) -> Result<(), AdapterError> {
        let one = [target_json(id, token)];
        let created = self
            .client
            .call(Method::Post, "/rest/v1/targets", Some(&one), &[201, 409])
            .await?;
        if let (Some(t), 409) = (token, created.status) {
            let path = format!("/rest/v1/targets/{id}");
            let body = json!({ "securityToken": t.expose() });
            self.client
                .call(Method::Put, &path, Some(&body), &[200])
                .await?;
        }
        Ok(())
    }

    /// Software module with artifacts, distribution set, assignment.
    pub async fn start(&mut self, order: &Order) -> Result<(), AdapterError> {
        let module = format!("{}-firmware", order.name);
        let sm: Vec<IdOnly> = self
            .client
            .call_json(
                Method::Post,
                "/rest/v1/softwaremodules",
                Some(&[json!({ "name": module, "version": order.version, "type": "os", "vendor": "fleetsim" })]),
                &[201],
            )
            .await?;
        let sm = first(sm, "POST /rest/v1/softwaremodules")?;
        for a in &order.artifacts {
            let h = fleetsim_core::artifact::hash_bytes(&a.bytes);
            let path = format!(
                "/rest/v1/softwaremodules/{}/artifacts?filename={}&md5sum={}&sha1sum={}&sha256sum={}",
                sm.id,
                percent_encode(&a.filename),
                h.md5,
                h.sha1,
                h.sha256
            );
            self.client
                .upload(&path, "file", &a.filename, &a.bytes, &[], &[201])
                .await?;
        }
        let ds: Vec<IdOnly> = self
            .client
            .call_json(
                Method::Post,
                "/rest/v1/distributionsets",
                Some(&[json!({
                    "name": order.name,
                    "version": order.version,
                    "type": "os",
                    "modules": [{ "id": sm.id }],
                })]),
                &[201],
            )
            .await?;
        let ds = first(ds, "POST /rest/v1/distributionsets")?;
        // The server's clock, for force times and windows.
        let server_now = ds.created_at.unwrap_or_else(wall_clock_ms);
        let mut created = Created {
            distribution: ds.id,
            actions: Vec::new(),
        };
        let path = format!("/rest/v1/distributionsets/{}/assignedTargets", ds.id);
        for batch in order.targets.chunks(ASSIGN_BATCH) {
            let body: Vec<Value> = batch
                .iter()
                .map(|id| assignment(id, order, server_now))
                .collect();
            let result: AssignmentResult = self
                .client
                .call_json(Method::Post, &path, Some(&body), &[200, 201])
                .await?;
            for a in result.assigned_actions {
                let target = a
                    .links
                    .as_ref()
                    .and_then(|l| l.get("self"))
                    .and_then(|l| target_of_action_href(&l.href));
                if let Some(t) = target {
                    created.actions.push((t, a.id));
                }
            }
        }
        if self.created.len() <= order.index {
            self.created.resize_with(order.index + 1, || None);
        }
        self.created[order.index] = Some(created);
        Ok(())
    }

    /// Sets the tenant's `user.confirmation.flow.enabled`.
    pub async fn confirmation_flow(&mut self, enabled: bool) -> Result<(), AdapterError> {
        self.put_configs(&json!({ "user.confirmation.flow.enabled": enabled }))
            .await
    }

    /// `PUT /rest/v1/system/configs` with `configs` (tenant settings).
    async fn put_configs(&mut self, configs: &Value) -> Result<(), AdapterError> {
        self.client
            .call(
                Method::Put,
                "/rest/v1/system/configs",
                Some(configs),
                &[200, 204],
            )
            .await?;
        Ok(())
    }

    /// Targets exist from `prepare` on: nothing to catch up.
    pub async fn tick(&mut self) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Cancels every action of campaign `index` that is still open.
    pub async fn cancel(&mut self, index: usize) -> Result<(), AdapterError> {
        let Some(Some(c)) = self.created.get(index) else {
            return Ok(());
        };
        self.client
            .each(c.actions.clone(), |client, (target, action)| async move {
                let path = format!(
                    "/rest/v1/targets/{}/actions/{action}",
                    percent_encode(&target)
                );
                // 4xx: the action is closed already (the device was faster).
                let resp = client.send(Method::Delete, &path, None, Vec::new()).await?;
                if resp.status == 401 || resp.status == 403 || resp.status >= 500 {
                    client.check(Method::Delete, &path, resp, &[200, 204])?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Per target: the state of its action for the campaign's distribution set.
    pub async fn recorded(
        &mut self,
        index: usize,
        controller_ids: &[String],
    ) -> Result<Vec<CampaignView>, AdapterError> {
        let Some(Some(c)) = self.created.get(index) else {
            let none = CampaignView {
                campaign: index,
                recorded: Recorded::NotAssigned,
                action: None,
            };
            return Ok(vec![none; controller_ids.len()]);
        };
        let ds_suffix = std::sync::Arc::new(format!("/distributionsets/{}", c.distribution));
        let items: Vec<(String, Vec<u64>)> = controller_ids
            .iter()
            .map(|id| {
                let ours = c.actions.iter().filter(|(t, _)| t == id).map(|(_, a)| *a);
                (id.clone(), ours.collect())
            })
            .collect();
        self.client
            .each(items, |client, (id, ours)| {
                let ds_suffix = ds_suffix.clone();
                async move {
                    let path = format!(
                        "/rest/v1/targets/{}/actions?limit=50&sort=id:DESC",
                        percent_encode(&id)
                    );
                    let page: Page<Action> = client
                        .call_json(Method::Get, &path, None::<&Value>, &[200])
                        .await?;
                    let action = page.content.iter().find(|a| {
                        a.links
                            .as_ref()
                            .and_then(|l| l.get("distributionset"))
                            .is_some_and(|l| l.href.ends_with(ds_suffix.as_str()))
                            || ours.contains(&a.id)
                    });
                    Ok(CampaignView {
                        campaign: index,
                        recorded: action.map_or(Recorded::NotAssigned, recorded_of),
                        action: action.map(|a| a.id),
                    })
                }
            })
            .await
    }

    /// Per target: its `installedDS` (`204` none), as the campaign whose
    /// distribution set it is.
    pub async fn installed(
        &mut self,
        controller_ids: &[String],
    ) -> Result<Vec<Installed>, AdapterError> {
        let sets: std::sync::Arc<Vec<Option<u64>>> = std::sync::Arc::new(
            self.created
                .iter()
                .map(|c| c.as_ref().map(|c| c.distribution))
                .collect(),
        );
        self.client
            .each(controller_ids.to_vec(), |client, id| {
                let sets = sets.clone();
                async move {
                    let path = format!("/rest/v1/targets/{}/installedDS", percent_encode(&id));
                    let resp = client
                        .call(Method::Get, &path, None::<&Value>, &[200, 204])
                        .await?;
                    if resp.status == 204 || resp.body.as_bytes().is_empty() {
                        return Ok(Installed::Nothing);
                    }
                    let set: IdOnly = super::client::parse(Method::Get, &path, &resp)?;
                    Ok(sets
                        .iter()
                        .position(|d| *d == Some(set.id))
                        .map_or(Installed::Other, Installed::Campaign))
                }
            })
            .await
    }
}

/// Maps an action's lower-case `Action.Status`: hawkBit 1.x sends it as
/// `status` (with `active`); 0.x sent it as `detailStatus` and used `status`
/// for `pending`/`finished` only, so `detailStatus` wins when present.
fn recorded_of(a: &Action) -> Recorded {
    let status = a.detail_status.as_deref().or(a.status.as_deref());
    match status {
        Some("finished" | "downloaded") => Recorded::Updated,
        Some("error") => Recorded::Failed,
        Some("canceled") => Recorded::Canceled,
        _ => Recorded::InProgress,
    }
}

fn first(list: Vec<IdOnly>, what: &str) -> Result<IdOnly, AdapterError> {
    list.into_iter()
        .next()
        .ok_or_else(|| AdapterError::BadAnswer {
            op: what.to_string(),
            what: "expected an array with the created entity, found an empty one".into(),
        })
}

/// One element of an `assignedTargets` body.
fn assignment(controller_id: &str, order: &Order, server_now: u64) -> Value {
    let (kind, forcetime) = match order.kind {
        OrderKind::Soft => ("soft", None),
        OrderKind::Forced => ("forced", None),
        OrderKind::TimeForced { force_after } => (
            "timeforced",
            Some(server_now.saturating_add(force_after.as_millis())),
        ),
        OrderKind::DownloadOnly => ("downloadonly", None),
    };
    let mut v = json!({ "id": controller_id, "type": kind });
    if let Some(t) = forcetime {
        v["forcetime"] = json!(t);
    }
    if let Some(w) = order.weight {
        v["weight"] = json!(w);
    }
    if let Some(c) = order.confirmation_required {
        v["confirmationRequired"] = json!(c);
    }
    match &order.window {
        Some(OrderWindow::After(start_after, duration)) => {
            v["maintenanceWindow"] = json!({
                "schedule": cron_at(server_now.saturating_add(start_after.as_millis())),
                "duration": hh_mm_ss(*duration),
                "timezone": "+00:00",
            });
        }
        Some(OrderWindow::Cron {
            schedule,
            duration,
            timezone,
        }) => {
            v["maintenanceWindow"] = json!({
                "schedule": schedule, "duration": duration, "timezone": timezone,
            });
        }
        None => {}
    }
    v
}

/// `HH:mm:ss`, as hawkBit writes durations (capped at 23:59:59).
fn hh_mm_ss(span: Span) -> String {
    let s = (span.as_millis() / 1000).min(23 * 3600 + 59 * 60 + 59);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A Quartz cron expression (`sec min hour day month ? year`) that fires
/// once, at epoch-ms `t` (UTC).
fn cron_at(t: u64) -> String {
    let secs = t / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let tod = secs % 86_400;
    format!(
        "{} {} {} {d} {m} ? {y}",
        tod % 60,
        tod / 60 % 60,
        tod / 3600
    )
}

fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The Management API body that creates target `id` (with its token).
fn target_json(id: &str, token: &Option<Secret>) -> Value {
    match token {
        Some(t) => json!({ "controllerId": id, "name": id, "securityToken": t.expose() }),
        None => json!({ "controllerId": id, "name": id }),
    }
}

/// `.../targets/{controllerId}/actions/{id}` → the controller id.
fn target_of_action_href(href: &str) -> Option<String> {
    let (_, rest) = href.split_once("/targets/")?;
    let (id, _) = rest.split_once("/actions/")?;
    percent_decode(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_names_the_one_second_the_window_opens() {
        assert_eq!(cron_at(0), "0 0 0 1 1 ? 1970");
        // 2026-11-23T18:30:05Z
        assert_eq!(cron_at(1_795_458_605_000), "5 30 18 23 11 ? 2026");
    }

    #[test]
    fn durations_are_hh_mm_ss() {
        assert_eq!(hh_mm_ss(Span::secs(30)), "00:00:30");
        assert_eq!(hh_mm_ss(Span::minutes(90)), "01:30:00");
        assert_eq!(hh_mm_ss(Span::secs(200_000)), "23:59:59");
    }

    fn action(status: Option<&str>, detail: Option<&str>) -> Action {
        Action {
            id: 1,
            status: status.map(String::from),
            detail_status: detail.map(String::from),
            links: None,
        }
    }

    #[test]
    fn recorded_reads_hawkbit_1x_status_and_0x_detail_status() {
        // hawkBit 1.x: no detailStatus, `status` is the real Action.Status.
        assert_eq!(recorded_of(&action(Some("error"), None)), Recorded::Failed);
        assert_eq!(
            recorded_of(&action(Some("canceled"), None)),
            Recorded::Canceled
        );
        assert_eq!(
            recorded_of(&action(Some("finished"), None)),
            Recorded::Updated
        );
        assert_eq!(
            recorded_of(&action(Some("downloaded"), None)),
            Recorded::Updated
        );
        for open in ["running", "canceling", "retrieved", "wait_for_confirmation"] {
            assert_eq!(recorded_of(&action(Some(open), None)), Recorded::InProgress);
        }
        // hawkBit 0.x: `status` pending/finished, the real one in detailStatus.
        let old = action(Some("finished"), Some("error"));
        assert_eq!(recorded_of(&old), Recorded::Failed);
        assert_eq!(
            recorded_of(&action(Some("pending"), None)),
            Recorded::InProgress
        );
        assert_eq!(recorded_of(&action(None, None)), Recorded::InProgress);
    }

    #[test]
    fn action_links_name_their_target() {
        assert_eq!(
            target_of_action_href("http://h/rest/v1/targets/dev%2001/actions/7").as_deref(),
            Some("dev 01")
        );
        assert_eq!(target_of_action_href("http://h/rest/v1/x"), None);
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }
}
