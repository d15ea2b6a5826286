//! Rows: multi (being written).
