//! Rows: cancel (being written).
