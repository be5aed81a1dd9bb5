//! Dockerfile parser (being written).
