//! Rows: media (being written).
