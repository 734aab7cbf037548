//! The hfdl crate: every module, and [`run`], which does what `hfdl` does.
//!
//! The binary (`main.rs`) only calls [`run`]. The library target exists so that the fuzz
//! targets under `fuzz/` can link the real parsers through [`fuzzing`]; nothing else is public,
//! and the modules keep their `pub(crate)` boundaries.

mod app;
mod bucket;
mod cache_cmd;
mod cli;
mod commands;
mod download;
mod dry_run;
#[doc(hidden)]
pub mod fuzzing;
mod hub;
mod layout;
mod output;
mod progress;
mod repo;
mod report;
mod retry;
mod select;
mod settings;
mod tree_cache;
mod whereabouts;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line, resolves settings, runs the command and reports the outcome.
pub fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime must start");
    let env = settings::ProcessEnv;
    let style = if cli.error_json {
        report::Style::Json
    } else {
        report::Style::Human
    };
    let result = match cli.command {
        cli::Command::Download(args) => settings::Settings::for_download(*args, &env)
            .and_then(|settings| runtime.block_on(app::download(settings))),
        other => settings::Other::resolve(other, &env)
            .and_then(|settings| runtime.block_on(commands::run(settings))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::error(&err, style),
    }
}
