//! `fleetsim serve`: the embedded server over real HTTP(S) until a signal.

use super::*;
use fleetsim::http_server::ServeError;

pub(crate) fn serve_command(a: ServeArgs) -> Exit {
    let scenario = match &a.scenario {
        Some(path) => match load_within(path, &a.limits) {
            Ok(s) => Some(s),
            Err(e) => return e,
        },
        None => None,
    };
    if !(a.time_scale.is_finite() && a.time_scale > 0.0) {
        return Exit::BadInput(format!(
            "--time-scale: expected a number above 0, found {}",
            a.time_scale
        ));
    }
    let tls = a
        .tls_cert
        .zip(a.tls_key)
        .map(|(cert, key)| fleetsim::http_server::TlsFiles { cert, key });
    let mgmt = match a.mgmt.resolve() {
        Ok((user, password)) => fleetsim::http_server::MgmtCredentials { user, password },
        Err(e) => return e,
    };
    let mqtt = match (a.mqtt_listen, &a.mqtt_broker) {
        (_, Some(broker)) => match resolve_addr(broker) {
            Ok(addr) => fleetsim::http_server::ServeMqtt::External(addr),
            Err(e) => return Exit::BadInput(format!("--mqtt-broker {broker}: {e}")),
        },
        (Some(listen), None) => fleetsim::http_server::ServeMqtt::Embedded(listen),
        (None, None) => fleetsim::http_server::ServeMqtt::Auto,
    };
    let opts = fleetsim::http_server::ServeOptions {
        listen: a.listen,
        scenario,
        tls,
        time_scale: a.time_scale,
        mqtt,
        limits: fleetsim::http_server::ServeLimits {
            max_connections: a.max_connections,
            idle_timeout: std::time::Duration::from_millis(a.idle_timeout.as_millis()),
            max_body_memory: usize::try_from(a.max_body_memory).unwrap_or(usize::MAX),
            ..Default::default()
        },
        tenants: a.tenant.clone(),
        metrics_listen: a.metrics_listen,
        products: a.product_id.clone(),
    };
    init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    match rt.block_on(fleetsim::http_server::serve_until_signal_with_credentials(
        opts, mgmt,
    )) {
        Ok(()) => Exit::Pass,
        Err(
            e @ (ServeError::Tls { .. }
            | ServeError::TimeScale(_)
            | ServeError::Tenant(_)
            | ServeError::Product(_)
            | ServeError::Limit { .. }),
        ) => Exit::BadInput(e.to_string()),
        Err(e) => Exit::Infrastructure(e.into()),
    }
}

/// `HOST:PORT` to the first address it resolves to.
fn resolve_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| "resolves to no address".to_string()),
        Err(e) => Err(format!("expected HOST:PORT such as 127.0.0.1:1883 ({e})")),
    }
}

/// Log filter without `RUST_LOG`: the embedded broker (rumqttd) logs every
/// connection at info and a closed probe connection as an error.
const DEFAULT_LOG: &str = "info,rumqttd=warn,rumqttd::server::broker=off";

pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_ansi(is_terminal())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
