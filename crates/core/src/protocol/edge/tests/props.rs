//! Property tests across model, mapping, diff and buffer.
