//! HTTP over the MQTT port (otau.md §4.6): the devices of groups with
//! `otau.http_over_mqtt_port` send their HTTP requests to the Murano-shaped
//! `mqtts://` endpoint given with `--mqtt`, over TLS offering ALPN
//! `http/1.1`, instead of to the target.

use super::*;

/// Where those devices' HTTP goes, and which groups they are.
pub(super) struct MqttPort {
    /// `https://HOST:PORT` of the MQTT endpoint.
    pub(super) base: String,
    /// A client whose TLS handshakes offer ALPN `http/1.1`.
    pub(super) http: Arc<Http>,
    /// Per setup group (scenario fleet order): uses the port.
    groups: Vec<bool>,
}

impl MqttPort {
    /// The port for `scenario`'s groups that ask for it, if any does;
    /// `--mqtt` must then name a Murano-shaped endpoint over TLS.
    pub(super) fn of(
        scenario: &Scenario,
        opts: &RealOptions,
        timeout: Duration,
    ) -> Result<Option<MqttPort>, RuntimeError> {
        let groups: Vec<bool> = scenario
            .fleet
            .iter()
            .map(|g| g.protocol.is_otau() && g.otau.http_over_mqtt_port)
            .collect();
        if !groups.iter().any(|u| *u) {
            return Ok(None);
        }
        let given = opts.mqtt.as_deref().unwrap_or_default();
        let wrong = |what: &str| {
            RuntimeError::Mqtt {
            addr: given.to_string(),
            what: format!("otau.http_over_mqtt_port needs --mqtt mqtts://HOST:PORT (a Murano-shaped endpoint over TLS): {what}"),
        }
        };
        let url = crate::mqtt::parse_broker_url(given).map_err(|e| wrong(&e))?;
        if opts.mqtt.is_none() || !url.tls || url.dialect != crate::mqtt::Dialect::Murano {
            return Err(wrong("not an mqtts:// endpoint"));
        }
        let ca = opts
            .target
            .ca_pem
            .as_ref()
            .map(|(p, b)| (p.as_str(), b.as_slice()));
        let connections = scenario.load.connections;
        let http = Http::with_alpn(connections, false, ca, timeout, true)?;
        Ok(Some(MqttPort {
            base: format!("https://{}", url.host_port),
            http: Arc::new(http),
            groups,
        }))
    }

    /// Whether devices of setup group `group` use the port.
    pub(super) fn uses(&self, group: u16) -> bool {
        self.groups.get(group as usize).copied().unwrap_or(false)
    }
}

/// The base URL of a device of setup group `group`.
pub(super) fn base_of<'a>(base: &'a str, port: Option<&'a MqttPort>, group: u16) -> &'a str {
    match port {
        Some(p) if p.uses(group) => &p.base,
        _ => base,
    }
}
