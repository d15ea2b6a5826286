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
        let http = Http::with_alpn(connections, false, ca, timeout, true, 0)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "name: p\nduration: 1h\nfleet:\n  - { kind: always_on, protocol: otau, count: 2 }\n  - { kind: always_on, protocol: otau, count: 2, otau: { http_over_mqtt_port: true } }\n";

    fn opts(mqtt: Option<&str>) -> RealOptions {
        RealOptions {
            target: Target {
                base_url: "http://127.0.0.1:8080".into(),
                tenant: None,
                gateway_token: None,
                ca_pem: None,
            },
            manager: None,
            mqtt: mqtt.map(str::to_string),
            live: None,
            server_events: None,
            twin: Default::default(),
        }
    }

    #[test]
    fn only_the_groups_that_ask_use_the_mqtts_port() {
        let s = fleetsim_fleet::scenario::load_str("p.yaml", YAML).expect("scenario");
        let t = Duration::from_secs(5);
        let port = MqttPort::of(&s, &opts(Some("mqtts://localhost:8883")), t)
            .expect("accepted")
            .expect("a group asks");
        assert_eq!(base_of("http://target", Some(&port), 0), "http://target");
        assert_eq!(
            base_of("http://target", Some(&port), 1),
            "https://localhost:8883"
        );
        assert_eq!(base_of("http://target", None, 1), "http://target");
        for bad in [
            None,
            Some("mqtt://localhost:1883"),
            Some("fleetsim+mqtts://h:1"),
        ] {
            assert!(MqttPort::of(&s, &opts(bad), t).is_err(), "{bad:?}");
        }
        let plain = YAML.replace(", otau: { http_over_mqtt_port: true }", "");
        let s = fleetsim_fleet::scenario::load_str("p.yaml", &plain).expect("scenario");
        assert!(MqttPort::of(&s, &opts(None), t).expect("fine").is_none());
    }
}
