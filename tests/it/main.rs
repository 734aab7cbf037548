//! The one integration-test binary: every test runs the real `hfdl` against local servers.

// Shared helpers: the fake Hub, test environments, the Python judge.
mod support;

// Self-tests of the fake Hub itself, with plain reqwest.
mod fake_hub_selftest;

// The download command against the fake Hub: layouts, selection, revisions, ranges.
mod download;

// Error messages, hints and exit codes.
mod errors;

// Sharing caches and local dirs with the official client, both ways; olah as a real server.
mod interop;

// The interop matrix: huggingface_hub 0.36, 1.17 and 2.4 (each from its own venv) and hfdl
// interrupting and finishing each other's downloads, in the cache and in a local dir.
mod interop_matrix;

// Faults and interruptions: retries, stalls, corruption, crashes, Ctrl-C, concurrent runs,
// mirror quirks and hostile input.
mod faults;

// Mirrors as they are: foreign pagination links, the Referer rule, unreachable redirects.
mod mirrors;

// The toolbox around downloads: offline, dry-run, JSON, references, auth, env, completions.
mod toolbox;

// Proxies, TLS with a private CA, timeouts from the environment, `hfdl env`, secrets.
mod network;

// The real all-MiniLM-L6-v2 files through the fake Hub, loaded by transformers offline.
mod real_model;

// `hfdl cache ls|rm|prune|verify`, judged by the official client's cache scanner.
mod cache_cmd;
