//! Rows: feedback (being written).
