//! Tenant configuration: `GET|PUT /rest/v1/system/configs` and
//! `GET|PUT|DELETE /rest/v1/system/configs/{key}` (hawkBit
//! `MgmtTenantManagementResource`, values as `MgmtSystemTenantConfigurationValue`).
//!
//! The supported keys write through to the DDI side's [`ServerConfig`]:
//! `pollingTime` (root `sleep`, `HH:mm:ss` with optional `~NN%` jitter),
//! `authentication.gatewaytoken.enabled` / `.key` (GatewayToken auth) and
//! `authentication.targettoken.enabled` (TargetToken auth) and
//! `user.confirmation.flow.enabled` (the confirmation flow). Other hawkBit keys
//! are answered 400 `configKeyInvalid`: this server has no behaviour behind them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::message::Response;
use crate::protocol::ddi::sleep::format_sleep;
use crate::time::{Span, Time};

use super::{wire, Call};
use crate::server::{Server, ServerConfig};

const POLLING: &str = "pollingTime";
const GW_ENABLED: &str = "authentication.gatewaytoken.enabled";
const GW_KEY: &str = "authentication.gatewaytoken.key";
const TT_ENABLED: &str = "authentication.targettoken.enabled";
const CONFIRM_FLOW: &str = "user.confirmation.flow.enabled";
/// Every supported key, in output order.
const KEYS: [&str; 5] = [GW_ENABLED, GW_KEY, TT_ENABLED, POLLING, CONFIRM_FLOW];
/// hawkBit's `minPollingTime` / `maxPollingTime` defaults.
const MIN_POLL: Span = Span::secs(30);
const MAX_POLL: Span = Span::secs(86_399);

/// Tenant settings the Management API keeps beside [`ServerConfig`].
#[derive(Debug, Default)]
pub(in crate::server) struct Tenant {
    /// When each key was first and last set (absent: hawkBit's global default).
    set: BTreeMap<&'static str, (Time, Time)>,
    /// The gateway key while gateway auth is disabled (the config holds it while enabled).
    gateway_key: Option<String>,
    gateway_enabled: Option<bool>,
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
    Polling(Span, f64),
    GatewayEnabled(bool),
    GatewayKey(String),
    TargetToken(bool),
    ConfirmationFlow(bool),
}

fn parse_bool(key: &str, v: &Value) -> Result<bool, Response> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(invalid_value(format!("{key}: expected true or false"))),
    }
}

/// `HH:mm:ss[~NN%]`, within hawkBit's `[00:00:30, 23:59:59]`.
fn parse_polling(v: &Value) -> Result<(Span, f64), Response> {
    let bad = || {
        invalid_value(format!(
            "{POLLING}: expected HH:mm:ss between 00:00:30 and 23:59:59, optionally ~NN%"
        ))
    };
    let text = v.as_str().ok_or_else(bad)?.trim();
    let (time, jitter) = match text.split_once('~') {
        Some((t, j)) => {
            let pct: f64 = j
                .trim()
                .strip_suffix('%')
                .ok_or_else(bad)?
                .trim()
                .parse()
                .map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&pct) {
                return Err(bad());
            }
            (t.trim(), pct / 100.0)
        }
        None => (text, 0.0),
    };
    let parts: Vec<&str> = time.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return Err(bad());
    };
    let num = |x: &str, max: u64| x.parse::<u64>().ok().filter(|n| *n <= max);
    let (h, m, s) = (num(h, 23), num(m, 59), num(s, 59));
    let (Some(h), Some(m), Some(s)) = (h, m, s) else {
        return Err(bad());
    };
    let span = Span::secs(h * 3600 + m * 60 + s);
    if span < MIN_POLL || span > MAX_POLL {
        return Err(bad());
    }
    Ok((span, jitter))
}

fn parse_setting(key: &'static str, v: &Value) -> Result<Setting, Response> {
    Ok(match key {
        POLLING => {
            let (span, jitter) = parse_polling(v)?;
            Setting::Polling(span, jitter)
        }
        GW_ENABLED => Setting::GatewayEnabled(parse_bool(key, v)?),
        GW_KEY => match v {
            Value::String(s) if s.len() <= 128 => Setting::GatewayKey(s.clone()),
            _ => {
                return Err(invalid_value(format!(
                    "{key}: expected a string of at most 128 characters"
                )))
            }
        },
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
            Setting::Polling(span, jitter) => {
                config.polling_sleep = span;
                config.polling_jitter = jitter;
            }
            Setting::GatewayEnabled(b) => enabled = b,
            Setting::GatewayKey(k) => key = k,
            Setting::TargetToken(b) => config.target_token_auth = b,
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
        POLLING => Setting::Polling(Span::minutes(5), 0.0),
        GW_ENABLED => Setting::GatewayEnabled(false),
        GW_KEY => Setting::GatewayKey(String::new()),
        CONFIRM_FLOW => Setting::ConfirmationFlow(false),
        _ => Setting::TargetToken(false),
    };
    let tenant = &mut server.mgmt.config;
    tenant.apply(&mut server.config, setting);
    tenant.set.remove(key);
    Response::status(200)
}
