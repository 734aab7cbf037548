//! Test support: the in-process fake Hub and helpers to run the real binary.

pub mod fake_hub;
