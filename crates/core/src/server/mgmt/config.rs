//! Tenant configuration: `GET|PUT /rest/v1/system/configs` and
//! `GET|PUT|DELETE /rest/v1/system/configs/{key}` (hawkBit
//! `MgmtTenantManagementResource`, values as `MgmtSystemTenantConfigurationValue`).
//!
//! The supported keys write through to the DDI side's [`ServerConfig`]:
//! `pollingTime` (root `sleep`: an interval with optional `~NN%` jitter and
//! per-target `, <query> -> <interval>` overrides, `server::polling`),
//! `maintenanceWindowPollCount` (polls before a maintenance window),
//! `authentication.gatewaytoken.enabled` / `.key` (GatewayToken auth) and
//! `authentication.targettoken.enabled` (TargetToken auth),
//! `repository.actions.autoclose.enabled` (close superseded actions) and
//! `user.confirmation.flow.enabled` (the confirmation flow). Other hawkBit keys
//! are answered 400 `configKeyInvalid`: this server has no behaviour behind them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::message::Response;
use crate::protocol::ddi::sleep::format_sleep;
use crate::time::{Span, Time};

use super::{fiql, target_fields, wire, Call};
use crate::server::polling::{Interval, PollingTime, WINDOW_POLL_COUNT};
use crate::server::state::Target;
use crate::server::{Server, ServerConfig};

const POLLING: &str = "pollingTime";
const GW_ENABLED: &str = "authentication.gatewaytoken.enabled";
const GW_KEY: &str = "authentication.gatewaytoken.key";
const TT_ENABLED: &str = "authentication.targettoken.enabled";
const AUTOCLOSE: &str = "repository.actions.autoclose.enabled";
const WINDOW_POLLS: &str = "maintenanceWindowPollCount";
const CONFIRM_FLOW: &str = "user.confirmation.flow.enabled";
/// Every supported key, in output order.
const KEYS: &[&str] = &[
    GW_ENABLED,
    GW_KEY,
    TT_ENABLED,
    WINDOW_POLLS,
    POLLING,
    AUTOCLOSE,
    CONFIRM_FLOW,
];

/// One `pollingTime` override: the query as given, parsed when this
/// server's filter language can read it (else it never matches, as hawkBit
/// skips an override whose query fails), and its interval.
#[derive(Debug)]
struct Override {
    filter: Option<fiql::Filter>,
    interval: Interval,
}

/// Tenant settings the Management API keeps beside [`ServerConfig`].
#[derive(Debug, Default)]
pub(in crate::server) struct Tenant {
    /// When each key was first and last set (absent: hawkBit's global default).
    set: BTreeMap<&'static str, (Time, Time)>,
    /// The gateway key while gateway auth is disabled (the config holds it while enabled).
    gateway_key: Option<String>,
    gateway_enabled: Option<bool>,
    /// `pollingTime` as set (GET echoes it, as hawkBit stores the string).
    polling_text: Option<String>,
    overrides: Vec<Override>,
    window_poll_count: Option<u32>,
}

fn key_of(name: &str) -> Option<&'static str> {
    KEYS.iter().copied().find(|k| *k == name)
}

fn invalid_key(name: &str) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.repository.exception.InvalidTenantConfigurationKeyException",
        "hawkbit.server.error.configKeyInvalid",
        format!("The given configuration key {name} is invalid."),
    )
}

fn invalid_value(message: impl Into<String>) -> Response {
    wire::error(
        400,
        "org.eclipse.hawkbit.repository.exception.TenantConfigurationValidatorException",
        "hawkbit.server.error.configValueInvalid",
        message,
    )
}

/// A setting as hawkBit's validators read it.
enum Setting {
    Polling(PollingTime, String),
    WindowPolls(u32),
    GatewayEnabled(bool),
    GatewayKey(String),
    TargetToken(bool),
    Autoclose(bool),
    ConfirmationFlow(bool),
}

fn parse_bool(key: &str, v: &Value) -> Result<bool, Response> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(invalid_value(format!("{key}: expected true or false"))),
    }
}

/// hawkBit's `PollingTime` with its validator's range check.
fn parse_polling(v: &Value) -> Result<PollingTime, Response> {
    let text = v
        .as_str()
        .ok_or_else(|| invalid_value(format!("{POLLING}: expected a string")))?;
    PollingTime::parse(text).map_err(invalid_value)
}

fn parse_setting(key: &'static str, v: &Value) -> Result<Setting, Response> {
    Ok(match key {
        POLLING => Setting::Polling(parse_polling(v)?, v.as_str().unwrap_or("").to_string()),
        WINDOW_POLLS => match v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()) {
            // hawkBit divides by it: 0 would fail every poll before a window.
            Some(n) if (1..=i32::MAX as u64).contains(&n) => Setting::WindowPolls(n as u32),
            _ => return Err(invalid_value(format!("{key}: expected a positive integer"))),
        },
        GW_ENABLED => Setting::GatewayEnabled(parse_bool(key, v)?),
        GW_KEY => match v {
            Value::String(s) if s.len() <= 128 => Setting::GatewayKey(s.clone()),
            _ => {
                return Err(invalid_value(format!(
                    "{key}: expected a string of at most 128 characters"
                )))
            }
        },
        AUTOCLOSE => Setting::Autoclose(parse_bool(key, v)?),
        CONFIRM_FLOW => Setting::ConfirmationFlow(parse_bool(key, v)?),
        _ => Setting::TargetToken(parse_bool(key, v)?),
    })
}

impl Tenant {
    fn gateway_enabled(&self, config: &ServerConfig) -> bool {
        self.gateway_enabled
            .unwrap_or(config.gateway_token.is_some())
    }

    fn gateway_key(&self, config: &ServerConfig) -> String {
        config
            .gateway_token
            .clone()
            .or_else(|| self.gateway_key.clone())
            .unwrap_or_default()
    }

    fn apply(&mut self, config: &mut ServerConfig, setting: Setting) {
        let (mut enabled, mut key) = (self.gateway_enabled(config), self.gateway_key(config));
        match setting {
            Setting::Polling(p, text) => {
                config.polling_sleep = p.base.span;
                config.polling_jitter = p.base.jitter;
                self.polling_text = (!text.is_empty()).then_some(text);
                self.overrides = p
                    .overrides
                    .into_iter()
                    .map(|(ql, interval)| Override {
                        filter: fiql::parse(&ql, target_fields::FIELDS).ok(),
                        interval,
                    })
                    .collect();
            }
            Setting::WindowPolls(n) => self.window_poll_count = Some(n),
            Setting::GatewayEnabled(b) => enabled = b,
            Setting::GatewayKey(k) => key = k,
            Setting::TargetToken(b) => config.target_token_auth = b,
            Setting::Autoclose(b) => config.autoclose = b,
            Setting::ConfirmationFlow(b) => config.confirmation_flow = b,
        }
        self.gateway_enabled = Some(enabled);
        // Enabled with an empty key stays enabled: hawkBit then has no valid
        // key, so nobody gets in with a gateway token (401), not everybody.
        config.gateway_token = enabled.then(|| key.clone());
        self.gateway_key = Some(key);
    }

    fn value(&self, config: &ServerConfig, key: &str) -> Value {
        match key {
            POLLING if self.polling_text.is_some() => json!(self.polling_text),
            WINDOW_POLLS => json!(self.window_poll_count.unwrap_or(WINDOW_POLL_COUNT)),
            POLLING => {
                let base = format_sleep(config.polling_sleep);
                let pct = (config.polling_jitter * 100.0).round();
                if pct > 0.0 {
                    json!(format!("{base}~{pct}%"))
                } else {
                    json!(base)
                }
            }
            GW_ENABLED => json!(self.gateway_enabled(config)),
            GW_KEY => json!(self.gateway_key(config)),
            AUTOCLOSE => json!(config.autoclose),
            CONFIRM_FLOW => json!(config.confirmation_flow),
            _ => json!(config.target_token_auth),
        }
    }
}

fn value_json(server: &Server, call: &Call<'_>, key: &str) -> Value {
    let tenant = &server.mgmt.config;
    let mut v = json!({
        "value": tenant.value(&server.config, key),
        "global": !tenant.set.contains_key(key),
        "_links": { "self": call.link(format_args!("/system/configs/{key}")) },
    });
    if let Some((created, modified)) = tenant.set.get(key) {
        v["createdAt"] = json!(created.as_millis());
        v["createdBy"] = json!(server.mgmt.credentials.user);
        v["lastModifiedAt"] = json!(modified.as_millis());
        v["lastModifiedBy"] = json!(server.mgmt.credentials.user);
    }
    v
}

/// `GET /system/configs`: every supported key.
pub(super) fn list(server: &mut Server, call: &Call<'_>) -> Response {
    let map: BTreeMap<&str, Value> = KEYS
        .iter()
        .map(|k| (*k, value_json(server, call, k)))
        .collect();
    super::json(200, &map)
}

/// `GET /system/configs/{key}`.
pub(super) fn get(server: &mut Server, call: &Call<'_>, name: &str) -> Response {
    match key_of(name) {
        Some(k) => super::json(200, &value_json(server, call, k)),
        None => invalid_key(name),
    }
}

fn store(server: &mut Server, now: Time, settings: Vec<(&'static str, Setting)>) {
    for (key, setting) in settings {
        let tenant = &mut server.mgmt.config;
        tenant.apply(&mut server.config, setting);
        let entry = tenant.set.entry(key).or_insert((now, now));
        entry.1 = now;
    }
}

/// `PUT /system/configs`: a map of key → value, all validated before any is applied;
/// 200 with the updated values.
pub(super) fn put_many(server: &mut Server, call: &Call<'_>) -> Response {
    let body: BTreeMap<String, Value> = or_answer!(call.body());
    let mut settings = Vec::with_capacity(body.len());
    for (name, value) in &body {
        let Some(key) = key_of(name) else {
            return invalid_key(name);
        };
        settings.push((key, or_answer!(parse_setting(key, value))));
    }
    let keys: Vec<&'static str> = settings.iter().map(|(k, _)| *k).collect();
    store(server, call.now, settings);
    let out: Vec<Value> = keys.iter().map(|k| value_json(server, call, k)).collect();
    super::json(200, &out)
}

/// `PUT /system/configs/{key}` with `{"value": …}`.
pub(super) fn put_one(server: &mut Server, call: &Call<'_>, name: &str) -> Response {
    let Some(key) = key_of(name) else {
        return invalid_key(name);
    };
    #[derive(serde::Deserialize)]
    struct Body {
        value: Value,
    }
    let body: Body = or_answer!(call.body());
    let setting = or_answer!(parse_setting(key, &body.value));
    store(server, call.now, vec![(key, setting)]);
    super::json(200, &value_json(server, call, key))
}

/// `DELETE /system/configs/{key}`: back to hawkBit's default; 200.
pub(super) fn delete(server: &mut Server, _call: &Call<'_>, name: &str) -> Response {
    let Some(key) = key_of(name) else {
        return invalid_key(name);
    };
    let setting = match key {
        POLLING => Setting::Polling(
            PollingTime {
                base: Interval {
                    span: Span::minutes(5),
                    jitter: 0.0,
                },
                overrides: Vec::new(),
            },
            String::new(),
        ),
        WINDOW_POLLS => {
            server.mgmt.config.window_poll_count = None;
            server.mgmt.config.set.remove(key);
            return Response::status(200);
        }
        GW_ENABLED => Setting::GatewayEnabled(false),
        GW_KEY => Setting::GatewayKey(String::new()),
        AUTOCLOSE => Setting::Autoclose(false),
        CONFIRM_FLOW => Setting::ConfirmationFlow(false),
        _ => Setting::TargetToken(false),
    };
    let tenant = &mut server.mgmt.config;
    tenant.apply(&mut server.config, setting);
    tenant.set.remove(key);
    Response::status(200)
}

/// The interval of the first `pollingTime` override whose query matches
/// the target (`JpaControllerManagement.getPollingTime`).
pub(in crate::server) fn polling_override(
    server: &Server,
    cid: &str,
    target: &Target,
) -> Option<Interval> {
    let overrides = &server.mgmt.config.overrides;
    overrides.iter().find_map(|o| {
        let filter = o.filter.as_ref()?;
        filter
            .matches(&|name| target_fields::field(server, cid, target, name))
            .then_some(o.interval)
    })
}

/// The tenant's `maintenanceWindowPollCount`.
pub(in crate::server) fn window_poll_count(server: &Server) -> u32 {
    server
        .mgmt
        .config
        .window_poll_count
        .unwrap_or(WINDOW_POLL_COUNT)
}
