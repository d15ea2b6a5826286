//! Rows: window (being written).
