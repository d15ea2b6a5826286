//! The gateway runtime a `protocol: ditto` device starts with, and the edge
//! devices that join it later: deterministic functions of the gateway's
//! serial and an edge device's index, so a run's things are the same in
//! every driver and every shard.
//!
//! Each edge device `k` has a Device FI (`da:device:<Kind>:<k>`, attributes
//! `vendor` and `model`) and two device items: `…:Configuration` (writable
//! `interval`, `mode`) and `…:Status` (read-only `value`, `battery`). Every
//! seventh device's Device FI ID carries a space and a slash (`… hall/left`)
//! so its thing ID exercises the seed's `%XX` encoding. The gateway's own FIs
//! (`da:item:Gateway:Configuration`, `da:item:Gateway:Status`) become
//! features of the gateway thing.

use serde_json::json;

use fleetsim_core::protocol::edge::{Definition, FunctionalItem, GatewayRuntime, ModelError};

/// The kinds edge devices cycle through.
const KINDS: [&str; 3] = ["Camera", "Thermostat", "Lamp"];

/// Writable properties of a device's `Configuration` item.
pub const WRITABLE: [&str; 2] = ["interval", "mode"];
/// Read-only properties of a device's `Status` item.
pub const READ_ONLY: [&str; 2] = ["value", "battery"];
/// The `mode`s a device cycles through on its own.
pub const MODES: [&str; 3] = ["eco", "normal", "boost"];

fn definition(kind: &str) -> Definition {
    // Namespace, name and version are all valid: parse cannot fail.
    Definition::parse(&format!("org.fleetsim:{kind}:1.0.0"))
        .unwrap_or_else(|e| unreachable!("built-in definition: {e}"))
}

/// The Device FI UID of edge device `k`.
pub fn device_uid(k: u64) -> String {
    let kind = KINDS[(k % 3) as usize];
    if k % 7 == 3 {
        format!("da:device:{kind}:{k} hall/left")
    } else {
        format!("da:device:{kind}:{k}")
    }
}

/// The UID of edge device `k`'s item `item` (`Configuration` or `Status`).
pub fn item_uid(k: u64, item: &str) -> String {
    format!("da:item:{}:{k}:{item}", KINDS[(k % 3) as usize])
}

/// Edge device `k`: its Device FI and its items.
pub fn edge_device(k: u64) -> (FunctionalItem, Vec<FunctionalItem>) {
    let kind = KINDS[(k % 3) as usize];
    let def = definition(kind);
    let info = FunctionalItem::new(device_uid(k), def.clone())
        .named(format!("{kind} {k}"))
        .tag(kind.to_lowercase())
        .attribute("vendor", json!("fleetsim"))
        .attribute("model", json!(format!("{kind}-{}", k % 5)));
    let config = FunctionalItem::new(item_uid(k, "Configuration"), def.clone())
        .writable(WRITABLE[0], json!(60))
        .writable(WRITABLE[1], json!(MODES[0]));
    let status = FunctionalItem::new(item_uid(k, "Status"), def)
        .read_only(READ_ONLY[0], json!(0))
        .read_only(READ_ONLY[1], json!(100));
    (info, vec![config, status])
}

/// The runtime of gateway `serial` in `namespace` with edge devices
/// `0..edge_devices`.
pub fn runtime(
    namespace: &str,
    serial: &str,
    edge_devices: u64,
) -> Result<GatewayRuntime, ModelError> {
    let mut rt = GatewayRuntime::new(namespace, serial)?;
    let def = definition("Gateway");
    rt.add_gateway_item(
        FunctionalItem::new("da:item:Gateway:Configuration", def.clone())
            .named(serial)
            .writable("reportInterval", json!(300)),
    )?;
    rt.add_gateway_item(
        FunctionalItem::new("da:item:Gateway:Status", def)
            .read_only("uptime", json!(0))
            .read_only("edgeDevices", json!(edge_devices)),
    )?;
    for k in 0..edge_devices {
        let (info, items) = edge_device(k);
        rt.add_edge_device(info, items)?;
    }
    Ok(rt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetsim_core::protocol::edge::map_runtime;

    #[test]
    fn runtime_maps_to_one_thing_per_device_plus_the_gateway() {
        let rt = runtime("org.acme", "gw-1", 8).unwrap();
        let things = map_runtime(&rt);
        assert_eq!(things.len(), 9);
        assert_eq!(things[0].thing_id, "org.acme:gw-1");
        // Device 3 carries a space and a slash: both encoded in its thing ID.
        let encoded = things
            .iter()
            .find(|t| t.thing_id.contains("%20hall%2Fleft"));
        assert_eq!(
            encoded.map(|t| t.thing_id.as_str()),
            Some("org.acme:gw-1:da:device:Camera:3%20hall%2Fleft")
        );
    }
}
