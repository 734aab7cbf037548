//! `--format auto|human|agent|json|quiet` (and `--json`, `-q`) resolved as `hf` 2.4 resolves
//! them, and its detection of AI coding agents for `auto`.
//!
//! `auto` is `agent` when an agent harness is detected, else `human`. huggingface_hub detects
//! harnesses from a registry it fetches from the Hub once a day and keeps in
//! `$HF_HOME/.agent_harnesses.json`; hfdl reads that file when `hf` left one (at any age) and
//! never fetches it. A registry's harness matches when one of its variables is set (pattern
//! `*`) or equals its pattern; any of its standard variables set to a non-empty value means an
//! agent too (`AI_AGENT` and `AGENT`, the registry's standard variables, also without a
//! registry file).

use std::path::Path;

use serde::Deserialize;

use super::{Env, is_true};
use crate::cli::{FormatArg, OutputArgs};
use crate::output::{Format, Mode};

/// The registry's universal variables when there is no registry file.
const STANDARD_VARS: [&str; 2] = ["AI_AGENT", "AGENT"];

/// The output format of a command; `auto` picks agent or human.
pub(super) fn resolve(args: &OutputArgs, env: &dyn Env, hf_home: &Path) -> Format {
    let mode = match requested(args) {
        Some(FormatArg::Human) => Mode::Human,
        Some(FormatArg::Agent) => Mode::Agent,
        Some(FormatArg::Json) => Mode::Json,
        Some(FormatArg::Quiet) => Mode::Quiet,
        Some(FormatArg::Auto) | None if is_agent(env, hf_home) => Mode::Agent,
        Some(FormatArg::Auto) | None => Mode::Human,
    };
    let color = mode == Mode::Human && env.var("NO_COLOR").is_none_or(|v| v.is_empty());
    Format { mode, color }
}

/// The format named by the flags, if any (clap allows at most one of them).
pub(super) fn requested(args: &OutputArgs) -> Option<FormatArg> {
    if args.json {
        Some(FormatArg::Json)
    } else if args.quiet {
        Some(FormatArg::Quiet)
    } else {
        args.format
    }
}

/// The format of a command whose result is one value (the path of a download, the user of
/// `auth whoami`): `auto` in human mode prints that value alone when stdout is not a terminal
/// (`DIR=$(hfdl download …)`, as huggingface-cli printed it and hfdl always has), where `hf`
/// 2.4 would print `✓ Downloaded` and `  path: …`; `--format human` prints those.
pub(super) fn for_result(format: Format, args: &OutputArgs, env: &dyn Env) -> Format {
    let auto = matches!(requested(args), None | Some(FormatArg::Auto));
    if auto && format.is(Mode::Human) && !env.stdout_is_terminal() {
        Format::QUIET
    } else {
        format
    }
}

/// Progress bars, as `hf` 2.4 decides: `HF_HUB_DISABLE_PROGRESS_BARS` when it is set (to
/// anything), else on in human mode only.
pub(super) fn progress(mode: Mode, env: &dyn Env) -> bool {
    match env.var("HF_HUB_DISABLE_PROGRESS_BARS") {
        Some(value) => !is_true(Some(value)),
        None => mode == Mode::Human,
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Registry {
    #[serde(default)]
    standard_env_vars: Vec<String>,
    #[serde(default)]
    harnesses: serde_json::Map<String, serde_json::Value>,
}

/// Is the process run by an AI coding agent?
fn is_agent(env: &dyn Env, hf_home: &Path) -> bool {
    let registry = std::fs::read(hf_home.join(".agent_harnesses.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Registry>(&bytes).ok());
    let set = |var: &str| env.var(var).is_some_and(|v| !v.trim().is_empty());
    let Some(registry) = registry else {
        return STANDARD_VARS.iter().any(|v| set(v));
    };
    let harness_matches = |info: &serde_json::Value| {
        let vars = info.get("envVars").and_then(|v| v.as_object());
        vars.into_iter().flatten().any(|(var, pattern)| {
            let value = env.var(var).filter(|v| !v.is_empty());
            value.is_some_and(|value| pattern == "*" || pattern.as_str() == Some(&value))
        })
    };
    registry.harnesses.values().any(harness_matches)
        || registry.standard_env_vars.iter().any(|v| set(v))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use super::*;

    struct MapEnv(HashMap<String, String>);

    impl Env for MapEnv {
        fn var(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn home_dir(&self) -> Option<PathBuf> {
            None
        }
    }

    fn env(pairs: &[(&str, &str)]) -> MapEnv {
        MapEnv(
            (pairs.iter())
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn agents_are_detected_from_the_registry_or_the_standard_variables() {
        let home = tempfile::tempdir().unwrap();
        assert!(!is_agent(&env(&[]), home.path()));
        assert!(is_agent(&env(&[("AI_AGENT", "x")]), home.path()));
        assert!(!is_agent(&env(&[("AGENT", "  ")]), home.path()));
        std::fs::write(
            home.path().join(".agent_harnesses.json"),
            r#"{"standardEnvVars": ["AI_AGENT"],
                "harnesses": {"tool": {"envVars": {"TOOL_SESSION": "*", "TERM_PROGRAM": "tool"}}}}"#,
        )
        .unwrap();
        assert!(is_agent(&env(&[("TOOL_SESSION", "1")]), home.path()));
        assert!(is_agent(&env(&[("TERM_PROGRAM", "tool")]), home.path()));
        assert!(!is_agent(&env(&[("TERM_PROGRAM", "xterm")]), home.path()));
        assert!(
            !is_agent(&env(&[("AGENT", "x")]), home.path()),
            "not standard here"
        );
        assert!(is_agent(&env(&[("AI_AGENT", "other")]), home.path()));
    }

    #[test]
    fn progress_follows_the_variable_first() {
        assert!(progress(Mode::Human, &env(&[])));
        assert!(!progress(Mode::Json, &env(&[])));
        assert!(progress(
            Mode::Json,
            &env(&[("HF_HUB_DISABLE_PROGRESS_BARS", "0")])
        ));
        assert!(!progress(
            Mode::Human,
            &env(&[("HF_HUB_DISABLE_PROGRESS_BARS", "1")])
        ));
    }
}
