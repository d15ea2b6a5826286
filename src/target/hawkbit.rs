//! Adapter for the Hawkbit management API. (Being written.)

use super::{AdapterError, FleetInfo, MgmtClient, Order, Recorded};

/// A logged-in Hawkbit session.
pub struct Hawkbit {
    client: MgmtClient,
}

impl Hawkbit {
    /// Logs in.
    pub async fn connect(client: MgmtClient) -> Result<Hawkbit, AdapterError> {
        Ok(Hawkbit { client })
    }

    /// Tenant settings and targets.
    pub async fn prepare(&mut self, _fleet: &FleetInfo) -> Result<(), AdapterError> {
        Err(AdapterError::Unsupported(format!(
            "{} adapter not written yet",
            self.client.base()
        )))
    }

    /// Creates and assigns a campaign.
    pub async fn start(&mut self, _order: &Order) -> Result<(), AdapterError> {
        Err(AdapterError::Unsupported("not written yet".into()))
    }

    /// Catches up with devices registered since.
    pub async fn tick(&mut self) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Cancels a campaign.
    pub async fn cancel(&mut self, _index: usize) -> Result<(), AdapterError> {
        Err(AdapterError::Unsupported("not written yet".into()))
    }

    /// What the server recorded.
    pub async fn recorded(
        &mut self,
        _index: usize,
        ids: &[String],
    ) -> Result<Vec<Recorded>, AdapterError> {
        Ok(vec![Recorded::NotAssigned; ids.len()])
    }
}
