//! Real-time runs over real HTTP(S) and MQTT: the embedded server (`serve`), hostile servers (wiremock), managed servers and goosebit; one test binary.

#[path = "../common/mod.rs"]
mod common;

mod conform;
mod conform_device;
mod cpg_hostile;
mod ddi_conformance;
mod ditto_http;
mod ditto_run;
mod ditto_serve;
mod ditto_target;
mod gateway_ddi;
mod goosebit;
mod goosebit_adapter;
mod hawkbit_adapter;
mod hawkbit_crate;
mod hawkbit_http;
mod hostile;
mod leaked_urls;
mod managed_run;
mod observability;
mod otau_hostile;
mod otau_loop;
mod otau_mqtt;
mod otau_murano;
mod otau_murano_mqtt;
mod parity;
mod proxy;
mod real_network;
mod real_run;
mod serve;
mod serve_events;
mod serve_mgmt;
mod serve_otau;
mod server_view;
