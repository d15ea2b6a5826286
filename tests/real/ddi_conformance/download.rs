//! Rows: download (being written).
