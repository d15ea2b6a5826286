//! Rows: mgmt (being written).
