//! Tests of the edge model, commands, mapping, changes and buffer, and
//! property tests across them. Fixtures shared by the files live here.

mod buffer;
mod change;
pub(crate) mod client_loop;
mod client_props;
mod command;
mod e2e;
mod envelope;
mod http_answers;
mod interop;
pub(crate) mod loop_log;
mod mapping;
mod model;
pub(crate) mod props;
mod sync;

use serde_json::json;

use super::model::{Definition, FunctionalItem, GatewayRuntime};

pub(crate) fn def(text: &str) -> Definition {
    Definition::parse(text).expect("test definition")
}

/// A camera edge device with a configuration and a status item, and one
/// gateway FI: the shape of the seed's picture.
pub(crate) fn sample() -> GatewayRuntime {
    let mut rt = GatewayRuntime::new("org.acme", "gw-1").expect("valid runtime");
    let system = FunctionalItem::new("da:item:gateway:System", def("com.bosch.gw:System:1.0.0"))
        .named("System")
        .read_only("uptime", json!(12));
    rt.add_gateway_item(system).expect("gateway item");
    let device = FunctionalItem::new("da:device:ZigBee:cam1", def("com.bosch.gw:Device:2.1.0"))
        .named("Front door camera")
        .tag("outdoor")
        .tag("camera")
        .attribute("vendor", json!("ACME"))
        .writable("location", json!("porch"))
        .read_only("online", json!(true));
    let config = FunctionalItem::new(
        "da:item:Cameras:1:Configuration",
        def("com.bosch.gw:CameraConfig:1.0.0"),
    )
    .named("Camera configuration")
    .writable("resolution", json!("720p"))
    .read_only("maxResolution", json!("4k"));
    let status = FunctionalItem::new(
        "da:item:Cameras:1:Status",
        def("com.bosch.gw:CameraStatus:1.0.0"),
    )
    .read_only("recording", json!(false));
    rt.add_edge_device(device, vec![config, status])
        .expect("edge device");
    rt
}

pub(crate) const CAM: &str = "da:device:ZigBee:cam1";
pub(crate) const CAM_CONFIG: &str = "da:item:Cameras:1:Configuration";
