//! Tests of the edge model, mapping, changes and buffer.
