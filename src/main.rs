//! Entry point: parse, resolve settings, run, report (all in [`hfdl::run`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    hfdl::run()
}
