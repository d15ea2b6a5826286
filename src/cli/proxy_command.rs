//! `fleetsim proxy`: a reverse proxy that applies a scenario's seeded
//! network faults to any HTTP client until a signal, then prints what it
//! injected.

use super::*;
use fleetsim::proxy::{ProxyError, ProxyOptions};

pub(crate) fn proxy_command(a: ProxyArgs) -> Exit {
    let mut scenario = match load_within(&a.scenario, &a.limits) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if let Some(scale) = a.time_scale {
        scenario.load.time_scale = scale;
    }
    if let Err(e) = flag_checks::check_url("--upstream", &a.upstream) {
        return e;
    }
    let opts = ProxyOptions {
        listen: a.listen,
        upstream: a.upstream,
        scenario,
    };
    serve_command::init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Exit::Infrastructure(e.into()),
    };
    match rt.block_on(fleetsim::proxy::proxy_until_signal(opts)) {
        Ok(tally) => {
            print!("{}", fleetsim::proxy::summary(&tally));
            Exit::Pass
        }
        Err(e @ (ProxyError::Upstream(_) | ProxyError::TimeScale(_))) => {
            Exit::BadInput(e.to_string())
        }
        Err(e) => Exit::Infrastructure(e.into()),
    }
}
