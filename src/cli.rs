//! The command line, as clap derive structs.
//!
//! These structs never travel past `settings`, which turns them (plus the environment) into the
//! values the rest of the program works with. Doc comments here are the `--help` text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

/// Download repositories from the Hugging Face Hub, fast, resumably, into the shared HF cache.
#[derive(Debug, Parser)]
#[command(name = "hfdl", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Report a failure as one JSON object on stdout (`kind`, `message`, `causes`, `hints`,
    /// `exit_code`) instead of lines on stderr. For the Python API (python/hfdl), which raises
    /// typed exceptions from it; hidden because it is not meant for people.
    #[arg(long, global = true, hide = true)]
    pub(crate) error_json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Download files from a repository (a drop-in for `hf download`).
    Download(Box<DownloadArgs>),
    /// Inspect and clean the hub cache (shared with huggingface_hub and transformers).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Save, remove or check the access token.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Show the effective configuration: endpoint, cache, token source, proxy, version.
    Env(EnvArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `hfdl cache` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// List cached repositories: type, size on disk, files, revisions, last modified.
    #[command(visible_alias = "list")]
    Ls {
        #[command(flatten)]
        cache: CacheDirArg,
        /// Show one line per revision.
        #[arg(long)]
        revisions: bool,
        #[command(flatten)]
        select: LsSelect,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete cached repositories (`model/org/name`) or revisions (a commit hash).
    Rm {
        /// What to delete: `model/org/name`, `dataset/org/name`, `space/org/name`,
        /// `kernel/org/name`, or a commit hash.
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<String>,
        #[command(flatten)]
        cache: CacheDirArg,
        #[command(flatten)]
        confirm: ConfirmArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete revisions no ref points to, and leftover partial downloads.
    Prune {
        #[command(flatten)]
        cache: CacheDirArg,
        #[command(flatten)]
        confirm: ConfirmArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Re-hash a cached revision (or a --local-dir) against the Hub's listing.
    Verify(Box<VerifyArgs>),
}

/// Which entries `cache ls` shows, as `hf cache ls` selects them.
#[derive(Debug, Args)]
pub(crate) struct LsSelect {
    /// Keep entries matching KEY OP VALUE (repeatable, all must match): `size>1GB`,
    /// `accessed>7d`, `modified<=2w`, `type=model`, `refs=main`. Sizes take k/kb/m/mb/g/gb/
    /// t/tb/p/pb (powers of 1000); durations s/m/h/d/w/mo/y, compared with the entry's age.
    #[arg(short = 'f', long = "filter", value_name = "EXPR", action = clap::ArgAction::Append)]
    pub(crate) filters: Vec<String>,
    /// Sort by `name` (ascending), `size`, `accessed` or `modified` (descending: biggest or
    /// newest first); `:asc` or `:desc` sets the order.
    #[arg(long, value_name = "KEY", value_parser = SORT_KEYS)]
    pub(crate) sort: Option<String>,
    /// Show only the first N entries (after filtering and sorting).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
}

/// The `--sort` values of `hf cache ls`.
const SORT_KEYS: [&str; 12] = [
    "accessed",
    "accessed:asc",
    "accessed:desc",
    "modified",
    "modified:asc",
    "modified:desc",
    "name",
    "name:asc",
    "name:desc",
    "size",
    "size:asc",
    "size:desc",
];

/// Safety switches of the commands that delete.
#[derive(Debug, Args)]
pub(crate) struct ConfirmArgs {
    /// Show what would be deleted, delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub(crate) yes: bool,
}

/// Where the hub cache is.
#[derive(Debug, Args)]
pub(crate) struct CacheDirArg {
    /// Hub cache directory to use instead of `HF_HUB_CACHE` / `$HF_HOME/hub`.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::DirPath)]
    pub(crate) cache_dir: Option<PathBuf>,
}

/// Output switches shared by the commands (`hf` 2.4's formatting options).
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Output format on stdout. `auto` (the default) is `agent` when an AI coding agent runs
    /// hfdl, else `human`.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["json", "quiet"])]
    pub(crate) format: Option<FormatArg>,
    /// Print JSON (same as `--format json`).
    #[arg(long, conflicts_with = "quiet")]
    pub(crate) json: bool,
    /// Print only the essential value (the path, one id per line); same as `--format quiet`.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Accepted for `hf` command lines: hfdl never truncates table cells.
    #[arg(long)]
    pub(crate) no_truncate: bool,
}

/// Which Hub to talk to, and as whom.
#[derive(Debug, Args)]
pub(crate) struct HubArgs {
    /// Access token (overrides `HF_TOKEN` and the saved token).
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Hub endpoint, e.g. `https://hf-mirror.com` (overrides `HF_ENDPOINT`).
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
}

/// The arguments of `hfdl cache verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Repository to verify, as for `download`.
    #[arg(value_name = "REPO_ID")]
    pub(crate) repo_id: String,
    /// Type of the repository.
    #[arg(
        long = "repo-type",
        visible_alias = "type",
        value_enum,
        value_name = "TYPE"
    )]
    pub(crate) repo_type: Option<RepoTypeArg>,
    /// Revision to verify. Defaults to `main`.
    #[arg(long, value_name = "REVISION")]
    pub(crate) revision: Option<String>,
    #[command(flatten)]
    pub(crate) cache: CacheDirArg,
    /// Verify this local directory instead of the cache.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::DirPath, conflicts_with = "cache_dir")]
    pub(crate) local_dir: Option<PathBuf>,
    /// Fail if files listed on the Hub are missing locally (else a warning counts them).
    #[arg(long)]
    pub(crate) fail_on_missing_files: bool,
    /// Fail if local files are not in the Hub's listing (else a warning counts them).
    #[arg(long)]
    pub(crate) fail_on_extra_files: bool,
    #[command(flatten)]
    pub(crate) hub: HubArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `hfdl auth` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// Save a token where huggingface_hub reads it (`$HF_HOME/token`, mode 0600).
    Login {
        /// The token; read from stdin when not given.
        #[arg(long, value_name = "TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Remove the saved token.
    Logout,
    /// Show who the token belongs to (the Hub's whoami API).
    Whoami {
        #[command(flatten)]
        hub: HubArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// The arguments of `hfdl env`.
#[derive(Debug, Args)]
pub(crate) struct EnvArgs {
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `--repo-type` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RepoTypeArg {
    Model,
    Dataset,
    Space,
    Kernel,
}

/// `--format` values, as `hf` 2.4 names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// `agent` when an AI coding agent is detected, else `human` (the default).
    Auto,
    /// For people: `✓ Downloaded` and `  path: …`, aligned tables.
    Human,
    /// For agents: `key=value` pairs, tab-separated tables.
    Agent,
    /// A JSON document (for a download: path, commit, and every file with its size and whether
    /// it was transferred).
    Json,
    /// Only the essential value: the path, or one id per line.
    Quiet,
}

/// The arguments of `hfdl download`.
#[derive(Debug, Args)]
pub(crate) struct DownloadArgs {
    /// Repository to download from: `org/name`, `datasets/org/name` (also `spaces/`,
    /// `kernels/`) or `hf://datasets/org/name`.
    #[arg(value_name = "REPO_ID")]
    pub(crate) repo_id: String,

    /// Files to download. One filename downloads that file; several, or folders ending in `/`,
    /// are patterns selecting part of the repository.
    #[arg(value_name = "FILENAMES")]
    pub(crate) filenames: Vec<String>,

    /// Type of the repository.
    #[arg(
        long = "repo-type",
        visible_alias = "type",
        value_enum,
        value_name = "TYPE"
    )]
    pub(crate) repo_type: Option<RepoTypeArg>,

    /// Branch, tag, commit hash or ref (e.g. `refs/pr/1`) to download. Defaults to `main`.
    #[arg(long, value_name = "REVISION")]
    pub(crate) revision: Option<String>,

    /// Only download files matching this pattern (repeatable; `*` also matches `/`).
    #[arg(long, value_name = "PATTERN", action = clap::ArgAction::Append)]
    pub(crate) include: Vec<String>,

    /// Skip files matching this pattern (repeatable; wins over --include).
    #[arg(long, value_name = "PATTERN", action = clap::ArgAction::Append)]
    pub(crate) exclude: Vec<String>,

    /// Hub cache directory to use instead of `HF_HUB_CACHE` / `$HF_HOME/hub`.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::DirPath, conflicts_with = "local_dir")]
    pub(crate) cache_dir: Option<PathBuf>,

    /// Write plain files into this directory instead of the cache.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::DirPath)]
    pub(crate) local_dir: Option<PathBuf>,

    /// Download again even if the files are already present.
    #[arg(long)]
    pub(crate) force_download: bool,

    /// Show what would be downloaded (sizes, what is present, free space); download nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Answer from the cache alone, without any network request (also `HF_HUB_OFFLINE=1`).
    #[arg(long)]
    pub(crate) offline: bool,

    /// Access token (overrides `HF_TOKEN` and the saved token).
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,

    /// Number of files downloaded at once, fixed (at most 64). Without it, hfdl starts at 8 and
    /// adapts: more while the run is bound by round trips, fewer when the server pushes back.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) max_workers: Option<u16>,

    /// Number of HTTP connections for the ranges of large files (small files may use up to
    /// `--max-workers`; at most 64).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) connections: u16,

    /// Drop a connection that delivers no byte for this many seconds and continue its range on
    /// a fresh one. Defaults to `HF_HUB_DOWNLOAD_TIMEOUT`, else 20.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) stall_timeout: Option<Duration>,

    #[command(flatten)]
    pub(crate) output: OutputArgs,

    /// Hub endpoint, e.g. `https://hf-mirror.com` (overrides `HF_ENDPOINT`).
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint: Option<String>,

    /// Deprecated `huggingface-cli` flag, accepted and ignored: hfdl always resumes.
    #[arg(long, hide = true)]
    pub(crate) resume_download: bool,

    /// Deprecated `huggingface-cli` flag, accepted and ignored: local dirs hold real files.
    #[arg(long, hide = true, value_name = "VALUE")]
    pub(crate) local_dir_use_symlinks: Option<String>,
}

/// The longest duration accepted anywhere (flags and variables): about 11.6 days.
const MAX_SECONDS: f64 = 1e6;

/// A duration in seconds, as flags and `HF_HUB_*_TIMEOUT` give it: a finite number above 0
/// and at most [`MAX_SECONDS`] (`inf`, `nan`, `1e20`, `0` and `-1` are refused).
pub(crate) fn seconds(raw: &str) -> Result<Duration, String> {
    let value: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a number of seconds"))?;
    if !(value > 0.0 && value <= MAX_SECONDS) {
        return Err(format!(
            "`{raw}` is out of range: expected seconds above 0 and at most {MAX_SECONDS:e}"
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<DownloadArgs, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("hfdl").chain(args.iter().copied()))?;
        match cli.command {
            Command::Download(args) => Ok(*args),
            other => panic!("not a download: {other:?}"),
        }
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_are_finite_and_positive() {
        assert_eq!(seconds(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert_eq!(seconds("1e6"), Ok(Duration::from_secs(1_000_000)));
        // The last one is what the `reference` fuzz target found (it panicked before).
        let fuzzed = format!("{}2", "3".repeat(104));
        for bad in [
            "inf", "-inf", "nan", "NaN", "1e20", "0", "-1", "", "x", "1e6000", &fuzzed,
        ] {
            assert!(seconds(bad).is_err(), "{bad:?} accepted");
        }
        let err = parse(&["download", "o/m", "--stall-timeout", "inf"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn seed_command_line_parses() {
        let args = parse(&[
            "download",
            "--resume-download",
            "org/model",
            "--local-dir",
            "dir",
            "--local-dir-use-symlinks",
            "False",
            "--token",
            "t",
        ])
        .unwrap();
        assert!(args.resume_download);
        assert_eq!(args.local_dir_use_symlinks.as_deref(), Some("False"));
        assert_eq!(args.repo_id, "org/model");
    }

    #[test]
    fn include_takes_one_value_per_flag() {
        let args = parse(&["download", "r/x", "--include", "*.json", "a.txt"]).unwrap();
        assert_eq!(args.include, ["*.json"]);
        assert_eq!(args.filenames, ["a.txt"]);
    }

    #[test]
    fn cache_dir_conflicts_with_local_dir() {
        assert!(parse(&["download", "r/x", "--cache-dir", "a", "--local-dir", "b"]).is_err());
    }

    #[test]
    fn type_is_an_alias() {
        let args = parse(&["download", "r/x", "--type", "dataset"]).unwrap();
        assert_eq!(args.repo_type, Some(RepoTypeArg::Dataset));
    }
}
