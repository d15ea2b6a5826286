//! Rows: installed (being written).
