//! Secrets a scenario may hold, and the scenario with them hidden, as
//! reports keep it (`report.json`'s `scenario_yaml`, which error messages
//! point users to and which gets shared).
//!
//! The only secret a scenario holds is `server.gateway_token`; target
//! tokens, management passwords and CIKs come from flags, files or are
//! derived, and never enter the scenario.

use super::Scenario;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

impl Scenario {
    /// A copy with every secret replaced by [`REDACTED`]. A virtual run of
    /// it behaves the same: devices and the embedded server share the
    /// replaced token as they shared the real one, and no trace records it.
    pub fn redacted(&self) -> Scenario {
        let mut s = self.clone();
        if let Some(token) = s.server.gateway_token.as_mut() {
            *token = REDACTED.to_string();
        }
        s
    }
}
