//! The one integration-test binary: every test runs the real `hfdl` against local servers.

// Shared helpers: the fake Hub, test environments, the Python judge.
mod support;

// Self-tests of the fake Hub itself, with plain reqwest.
mod fake_hub_selftest;

// The download command against the fake Hub: layouts, selection, revisions, ranges.
mod download;

// Error messages, hints and exit codes.
mod errors;

// The toolbox around downloads: offline, dry-run, JSON, references, auth, env, completions.
mod toolbox;
