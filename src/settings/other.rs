//! Settings of the commands other than `download`: `cache`, `auth`, `env`, `completions`.

use std::path::PathBuf;

use anyhow::Result;

use super::reference::RepoRef;
use super::{
    Env, Paths, Target, TokenSource, absolute, expand_tilde, format, hub_config, token_path,
    token_with_source,
};
use crate::bucket::S3Config;
use crate::cli::{AuthCommand, CacheCommand, Command};
use crate::hub::{CaSource, HubConfig, ProxyConfig};
use crate::output::Format;
use crate::repo::{Repo, Revision};

/// What `hfdl env` reports.
#[derive(Debug)]
pub(crate) struct EnvReport {
    pub(crate) version: &'static str,
    pub(crate) endpoint: String,
    pub(crate) hf_home: PathBuf,
    pub(crate) hub_cache: PathBuf,
    pub(crate) token_source: TokenSource,
    pub(crate) offline: bool,
    pub(crate) proxy: ProxyConfig,
    pub(crate) ca: Option<CaSource>,
    /// For `--local-dir s3://…` targets.
    pub(crate) s3: S3Config,
}

/// The settings of the commands other than `download`.
#[derive(Debug)]
pub(crate) enum Other {
    Cache(CacheSettings),
    Login {
        token: Option<String>,
        token_path: PathBuf,
    },
    Logout {
        token_path: PathBuf,
    },
    Whoami {
        hub: HubConfig,
        format: Format,
    },
    Env {
        report: Box<EnvReport>,
        format: Format,
    },
    Completions(clap_complete::Shell),
}

/// `hfdl cache` subcommands, resolved.
#[derive(Debug)]
pub(crate) enum CacheSettings {
    Ls {
        cache_dir: PathBuf,
        revisions: bool,
        /// `--filter` expressions, parsed by `cache_cmd` (a bad one is a usage error there).
        filters: Vec<String>,
        sort: Option<String>,
        limit: Option<usize>,
        format: Format,
    },
    Rm {
        cache_dir: PathBuf,
        targets: Vec<String>,
        dry_run: bool,
        yes: bool,
        format: Format,
    },
    Prune {
        cache_dir: PathBuf,
        dry_run: bool,
        yes: bool,
        format: Format,
    },
    Verify {
        repo: Repo,
        revision: Revision,
        target: Box<Target>,
        hub: Box<HubConfig>,
        format: Format,
        fail_on: FailOn,
    },
}

/// Which findings of `cache verify`, besides corrupt files, make it fail.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FailOn {
    pub(crate) missing: bool,
    pub(crate) extra: bool,
}

fn cache_dir(arg: Option<PathBuf>, paths: &Paths, env: &dyn Env) -> Result<PathBuf> {
    match arg {
        Some(dir) => absolute(&expand_tilde(&dir.to_string_lossy(), env)),
        None => absolute(&paths.hub_cache),
    }
}

impl Other {
    /// Resolves any command but `download`.
    pub(crate) fn resolve(command: Command, env: &dyn Env) -> Result<Self> {
        let paths = Paths::resolve(env)?;
        Ok(match command {
            Command::Download(_) => unreachable!("download has its own settings"),
            Command::Cache(cache) => Self::Cache(cache_settings(cache, &paths, env)?),
            Command::Auth(AuthCommand::Login { token }) => Self::Login {
                token,
                token_path: token_path(&paths, env),
            },
            Command::Auth(AuthCommand::Logout) => Self::Logout {
                token_path: token_path(&paths, env),
            },
            Command::Auth(AuthCommand::Whoami { hub, output }) => Self::Whoami {
                hub: hub_config(hub.endpoint, hub.token, &paths, env)?,
                format: format::for_result(
                    format::resolve(&output, env, &paths.hf_home),
                    &output,
                    env,
                ),
            },
            Command::Env(args) => Self::Env {
                report: Box::new(env_report(&paths, env)?),
                format: format::resolve(&args.output, env, &paths.hf_home),
            },
            Command::Completions { shell } => Self::Completions(shell),
        })
    }
}

fn env_report(paths: &Paths, env: &dyn Env) -> Result<EnvReport> {
    let hub = hub_config(None, None, paths, env)?;
    Ok(EnvReport {
        version: env!("CARGO_PKG_VERSION"),
        endpoint: hub.endpoint,
        hf_home: absolute(&paths.hf_home)?,
        hub_cache: absolute(&paths.hub_cache)?,
        token_source: token_with_source(None, paths, env)?.1,
        offline: hub.offline,
        proxy: hub.proxy,
        ca: hub.ca,
        s3: super::s3_config(env)?,
    })
}

fn cache_settings(command: CacheCommand, paths: &Paths, env: &dyn Env) -> Result<CacheSettings> {
    Ok(match command {
        CacheCommand::Ls {
            cache,
            revisions,
            select,
            output,
        } => CacheSettings::Ls {
            cache_dir: cache_dir(cache.cache_dir, paths, env)?,
            revisions,
            filters: select.filters,
            sort: select.sort,
            limit: select.limit,
            format: format::resolve(&output, env, &paths.hf_home),
        },
        CacheCommand::Rm {
            targets,
            cache,
            confirm,
            output,
        } => CacheSettings::Rm {
            cache_dir: cache_dir(cache.cache_dir, paths, env)?,
            targets,
            dry_run: confirm.dry_run,
            yes: confirm.yes,
            format: format::resolve(&output, env, &paths.hf_home),
        },
        CacheCommand::Prune {
            cache,
            confirm,
            output,
        } => CacheSettings::Prune {
            cache_dir: cache_dir(cache.cache_dir, paths, env)?,
            dry_run: confirm.dry_run,
            yes: confirm.yes,
            format: format::resolve(&output, env, &paths.hf_home),
        },
        CacheCommand::Verify(args) => {
            let args = *args;
            let reference =
                RepoRef::parse(&args.repo_id, args.repo_type, args.revision.as_deref())?;
            let target = match args.local_dir {
                Some(dir) => super::local_dir_target(&dir, paths, env)?,
                None => Target::Cache(cache_dir(args.cache.cache_dir, paths, env)?),
            };
            CacheSettings::Verify {
                repo: reference.repo,
                revision: reference.revision,
                target: Box::new(target),
                hub: Box::new(hub_config(args.hub.endpoint, args.hub.token, paths, env)?),
                format: format::resolve(&args.output, env, &paths.hf_home),
                fail_on: FailOn {
                    missing: args.fail_on_missing_files,
                    extra: args.fail_on_extra_files,
                },
            }
        }
    })
}
