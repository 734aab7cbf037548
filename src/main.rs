//! Entry point: parse, resolve settings, run, report.

mod app;
mod cache_cmd;
mod cli;
mod commands;
mod download;
mod dry_run;
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

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime must start");
    let env = settings::ProcessEnv;
    let result = match cli.command {
        cli::Command::Download(args) => settings::Settings::for_download(*args, &env)
            .and_then(|settings| runtime.block_on(app::download(settings))),
        other => settings::Other::resolve(other, &env)
            .and_then(|settings| runtime.block_on(commands::run(settings))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report::error(&err),
    }
}
