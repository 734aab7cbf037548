//! The one integration-test binary: every test runs the real `hfdl` against local servers.

// Shared helpers: the fake Hub, test environments, the Python judge.
mod support;
