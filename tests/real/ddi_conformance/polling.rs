//! Rows: polling (being written).
