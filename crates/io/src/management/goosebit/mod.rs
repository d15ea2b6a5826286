//! Adapter for goosebit's REST API (`/api/v1/...`, goosebit 0.2.12).
//!
//! - **connect**: `POST /login` (form `username`, `password`) returns a JWT;
//!   every later call sends it as `Authorization: Bearer`. The token lives in
//!   a [`Secret`] and is cut out of every error text.
//! - **prepare**: goosebit has no GatewayToken, no tenant settings and no
//!   per-tenant polling setting (poll time is the server's `POLL_TIME`), so
//!   only the fleet's requirements are checked.
//! - **start**: the campaign's files are wrapped into one SWUpdate `.swu`
//!   ([`super::swu`]) with the campaign's version and no
//!   `hardware-compatibility` list, which goosebit reads as board
//!   `default`/revision `default` — the hardware it records for devices that,
//!   like fleetsim's, send no `hw_boardname`/`hw_revision` in configData.
//!   The `.swu` is uploaded (`PUT /api/v1/software`, multipart), the
//!   campaign's devices are put into a feed of the campaign's own
//!   (`PUT /api/v1/devices` with `feed` and `software: "rollout"`; goosebit
//!   creates devices it does not know yet) and a rollout of the software is
//!   created on that feed (`PUT /api/v1/rollouts`). A device that registers
//!   after `start` is therefore already in the feed: `tick` has nothing to do.
//! - **cancel**: goosebit has no cancel. The rollout is deleted
//!   (`DELETE /api/v1/rollouts`; pausing would need PATCH, which fleetsim's
//!   HTTP layer does not speak), which withdraws the offer from devices that
//!   have not finished (their poll no longer links a deployment); a device
//!   mid-update is not told (no `cancelAction`).
//! - **recorded**: `GET /api/v1/devices`; `sw_version` equal to the
//!   campaign's version means updated, `last_state` `Error` failed, a deleted
//!   rollout canceled, a device not in the campaign's feed not assigned.
//!
//! goosebit knows only forced updates: soft, time-forced and download-only
//! campaigns and maintenance windows are refused as unsupported.

mod instance;

pub use instance::{form_encode, Instance, InstanceError, InstanceOptions, VENV_ENV};

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;

use super::client::{multipart, op, parse};
use super::swu::{self, SwuDescription, SwuFile};
use super::{AdapterError, FleetInfo, MgmtClient, Order, OrderKind, Recorded, Secret};
use fleetsim_core::message::Method;
use fleetsim_core::oracle::CampaignView;

/// What `start` created for one campaign.
#[derive(Clone, Debug)]
struct Started {
    version: String,
    feed: String,
    rollout_id: u64,
    canceled: bool,
}

/// A logged-in goosebit session.
pub struct Goosebit {
    client: MgmtClient,
    campaigns: BTreeMap<usize, Started>,
}

#[derive(Deserialize)]
struct Login {
    access_token: String,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

/// One device of `GET /api/v1/devices`.
#[derive(Deserialize, Debug)]
struct DeviceRow {
    id: String,
    #[serde(default)]
    sw_version: Option<String>,
    #[serde(default)]
    feed: Option<String>,
    #[serde(default)]
    last_state: Option<String>,
}

#[derive(Deserialize)]
struct Devices {
    devices: Vec<DeviceRow>,
}

/// File name for the `.swu` of a campaign (goosebit stores it under this name).
fn swu_name(order: &Order) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "fleetsim-{}-{}-{}.swu",
        order.index,
        clean(&order.name),
        clean(&order.version)
    )
}

/// Maps one device row to what it shows for a campaign.
fn classify(row: Option<&DeviceRow>, c: &Started) -> Recorded {
    let Some(row) = row else {
        return Recorded::NotAssigned;
    };
    if row.sw_version.as_deref() == Some(c.version.as_str()) {
        return Recorded::Updated;
    }
    if row.feed.as_deref() != Some(c.feed.as_str()) {
        return Recorded::NotAssigned;
    }
    if row.last_state.as_deref() == Some("Error") {
        return Recorded::Failed;
    }
    if c.canceled {
        return Recorded::Canceled;
    }
    Recorded::InProgress
}

impl Goosebit {
    /// Logs in with the configured user and password.
    pub async fn connect(mut client: MgmtClient) -> Result<Goosebit, AdapterError> {
        let form = format!(
            "username={}&password={}",
            form_encode(client.user()),
            form_encode(client.password().expose())
        );
        let resp = client
            .send(
                Method::Post,
                "/login",
                Some("application/x-www-form-urlencoded".into()),
                form.into_bytes(),
            )
            .await?;
        // goosebit answers a wrong password with 401 (a malformed form with 422).
        if matches!(resp.status, 400 | 401 | 403 | 422) {
            return Err(AdapterError::Refused {
                user: client.user().to_string(),
                status: resp.status,
            });
        }
        let resp = client.check(Method::Post, "/login", resp, &[200])?;
        let login: Login = parse(Method::Post, "/login", &resp)?;
        client.set_bearer(Secret::new(login.access_token));
        Ok(Goosebit {
            client,
            campaigns: BTreeMap::new(),
        })
    }

    /// Checks what goosebit cannot do for this fleet.
    pub async fn prepare(&mut self, fleet: &FleetInfo) -> Result<(), AdapterError> {
        if fleet.gateway_token.is_some() {
            return Err(AdapterError::Unsupported(
                "goosebit does not accept GatewayToken authorization; remove server.gateway_token from the scenario".into(),
            ));
        }
        if fleet.uses_target_tokens() {
            return Err(AdapterError::Unsupported(
                "goosebit does not accept TargetToken authorization; use fleet[].auth: none".into(),
            ));
        }
        // The session is usable (the token works for the REST API).
        self.client
            .call(Method::Get, "/api/v1/rollouts", None::<&()>, &[200])
            .await?;
        Ok(())
    }

    /// Uploads the campaign as a `.swu`, puts its devices into the
    /// campaign's feed and rolls the software out on that feed.
    pub async fn start(&mut self, order: &Order) -> Result<(), AdapterError> {
        match order.kind {
            OrderKind::Forced => {}
            other => {
                return Err(AdapterError::Unsupported(format!(
                    "campaign `{}`: goosebit only does forced updates, not {other:?}",
                    order.name
                )))
            }
        }
        if order.confirmation_required == Some(true) {
            return Err(AdapterError::Unsupported(format!(
                "campaign `{}`: goosebit has no confirmation flow",
                order.name
            )));
        }
        if order.window.is_some() {
            return Err(AdapterError::Unsupported(format!(
                "campaign `{}`: goosebit has no maintenance windows",
                order.name
            )));
        }
        let description = format!("fleetsim campaign {}", order.name);
        let files: Vec<SwuFile<'_>> = order
            .artifacts
            .iter()
            .map(|a| SwuFile {
                name: &a.filename,
                bytes: &a.bytes,
            })
            .collect();
        let image = swu::build(
            &SwuDescription {
                version: &order.version,
                description: &description,
                hardware_compatibility: &[],
            },
            &files,
        )
        .map_err(|e| AdapterError::Unsupported(format!("campaign `{}`: {e}", order.name)))?;

        let path = "/api/v1/software";
        let (ct, body) = multipart("file", &swu_name(order), &image, &[]);
        let resp = self.client.send(Method::Put, path, Some(ct), body).await?;
        let resp = self.client.check(Method::Put, path, resp, &[200])?;
        let software: Created = parse(Method::Put, path, &resp)?;

        let feed = format!("fleetsim-{}", order.index);
        // In slices: goosebit saves each device one by one within the call.
        for ids in order.targets.chunks(500) {
            self.client
                .call(
                    Method::Put,
                    "/api/v1/devices",
                    Some(&json!({"devices": ids, "feed": feed, "software": "rollout"})),
                    &[200],
                )
                .await?;
        }
        let rollout: Created = self
            .client
            .call_json(
                Method::Put,
                "/api/v1/rollouts",
                Some(&json!({"name": order.name, "feed": feed, "software_id": software.id})),
                &[200],
            )
            .await?;
        self.campaigns.insert(
            order.index,
            Started {
                version: order.version.clone(),
                feed,
                rollout_id: rollout.id,
                canceled: false,
            },
        );
        Ok(())
    }

    /// Nothing to do: `start` already placed every selected device, known
    /// or not, in the campaign's feed.
    pub async fn tick(&mut self) -> Result<(), AdapterError> {
        Ok(())
    }

    /// goosebit cannot cancel: deletes the campaign's rollout instead, which
    /// withdraws the offer from devices that have not finished it.
    pub async fn cancel(&mut self, index: usize) -> Result<(), AdapterError> {
        let Some(c) = self.campaigns.get_mut(&index) else {
            return Err(AdapterError::Unsupported(format!(
                "campaign {index} was never started on goosebit; nothing to cancel"
            )));
        };
        self.client
            .call(
                Method::Delete,
                "/api/v1/rollouts",
                Some(&json!({"ids": [c.rollout_id]})),
                &[200],
            )
            .await?;
        c.canceled = true;
        Ok(())
    }

    /// What goosebit shows for each device and campaign `index`.
    pub async fn recorded(
        &mut self,
        index: usize,
        ids: &[String],
    ) -> Result<Vec<CampaignView>, AdapterError> {
        // goosebit's API names no actions: nothing to match a device's
        // reports against, so `action` stays unknown.
        let view = |recorded| CampaignView {
            campaign: index,
            recorded,
            action: None,
        };
        let Some(c) = self.campaigns.get(&index) else {
            return Ok(vec![view(Recorded::NotAssigned); ids.len()]);
        };
        let path = "/api/v1/devices";
        let resp = self
            .client
            .call(Method::Get, path, None::<&()>, &[200])
            .await?;
        let list: Devices = parse(Method::Get, path, &resp).map_err(|e| match e {
            AdapterError::BadAnswer { what, .. } => AdapterError::BadAnswer {
                op: op(Method::Get, path),
                what,
            },
            other => other,
        })?;
        let rows: BTreeMap<&str, &DeviceRow> =
            list.devices.iter().map(|d| (d.id.as_str(), d)).collect();
        Ok(ids
            .iter()
            .map(|id| view(classify(rows.get(id.as_str()).copied(), c)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(canceled: bool) -> Started {
        Started {
            version: "2.0.0".into(),
            feed: "fleetsim-0".into(),
            rollout_id: 1,
            canceled,
        }
    }

    fn row(sw: Option<&str>, feed: &str, state: &str) -> DeviceRow {
        DeviceRow {
            id: "d".into(),
            sw_version: sw.map(str::to_string),
            feed: Some(feed.into()),
            last_state: Some(state.into()),
        }
    }

    #[test]
    fn device_rows_map_to_recorded() {
        let c = started(false);
        assert_eq!(classify(None, &c), Recorded::NotAssigned);
        let r = row(Some("2.0.0"), "fleetsim-0", "Finished");
        assert_eq!(classify(Some(&r), &c), Recorded::Updated);
        let r = row(None, "fleetsim-0", "Running");
        assert_eq!(classify(Some(&r), &c), Recorded::InProgress);
        let r = row(None, "fleetsim-0", "Error");
        assert_eq!(classify(Some(&r), &c), Recorded::Failed);
        let r = row(None, "default", "Registered");
        assert_eq!(classify(Some(&r), &c), Recorded::NotAssigned);
        let r = row(Some("1.0.0"), "fleetsim-0", "Registered");
        assert_eq!(classify(Some(&r), &started(true)), Recorded::Canceled);
    }

    #[test]
    fn device_list_parses_goosebit_rows() {
        let text = r#"{"devices":[{"id":"a","name":null,"sw_version":"2.0.0","assigned_software":null,
            "hardware":{"id":1,"model":"default","revision":"default"},"feed":"fleetsim-0","progress":100,
            "last_state":"Finished","update_mode":"Rollout","force_update":false,"last_ipv4":"127.0.0.1",
            "last_ipv6":null,"last_seen":1,"auth_token":null,"polling":true,"last_ip":"127.0.0.1"}]}"#;
        let d: Devices = serde_json::from_str(text).unwrap();
        assert_eq!(d.devices[0].last_state.as_deref(), Some("Finished"));
    }

    #[test]
    fn swu_names_are_plain() {
        let order = Order {
            index: 3,
            name: "fw 2/x".into(),
            version: "2.0.0".into(),
            artifacts: vec![],
            kind: OrderKind::Forced,
            weight: None,
            window: None,
            targets: vec![],
            confirmation_required: None,
        };
        assert_eq!(swu_name(&order), "fleetsim-3-fw_2_x-2.0.0.swu");
    }
}
