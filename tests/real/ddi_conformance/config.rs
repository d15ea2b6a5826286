//! Rows: config (being written).
