//! Rows: confirm (being written).
