//! The small commands around downloads: `auth login|logout|whoami`, `env`, `completions`, and
//! dispatch to `cache`. Each prints its result on stdout in the `--format` asked for.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::cache_cmd;
use crate::hub::HubClient;
use crate::layout::write_private;
use crate::output::{self, Format, Mode};
use crate::settings::{EnvReport, Other};

/// Runs a command other than `download`.
pub(crate) async fn run(command: Other) -> Result<()> {
    match command {
        Other::Cache(settings) => cache_cmd::run(settings).await,
        Other::Login { token, token_path } => login(token, &token_path),
        Other::Logout { token_path } => logout(&token_path),
        Other::Whoami { hub, format } => whoami(HubClient::new(hub)?, format).await,
        Other::Env { report, format } => {
            print_env(&report, format);
            Ok(())
        }
        Other::Completions(shell) => {
            let mut cli = crate::cli::Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli, "hfdl", &mut script);
            output::bytes(&script);
            Ok(())
        }
    }
}

/// Saves the token (from the flag or stdin) with mode 0600, where huggingface_hub reads it.
#[expect(
    clippy::print_stderr,
    reason = "the prompt and confirmation go to stderr"
)]
fn login(token: Option<String>, path: &Path) -> Result<()> {
    let token = match token {
        Some(token) => token,
        None => {
            if std::io::stdin().is_terminal() {
                eprint!("Token: ");
                let _ = std::io::stderr().flush();
            }
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("failed to read the token from stdin")?;
            input
        }
    };
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        bail!("no valid token given (pass --token or pipe it on stdin)");
    }
    write_private(path, token.as_bytes())
        .with_context(|| format!("failed to write the token to `{}`", path.display()))?;
    eprintln!("token saved to {}", path.display());
    Ok(())
}

#[expect(clippy::print_stderr, reason = "the confirmation goes to stderr")]
fn logout(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => eprintln!("token removed from {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => eprintln!("not logged in"),
        Err(e) => return Err(e).with_context(|| format!("failed to remove `{}`", path.display())),
    }
    Ok(())
}

async fn whoami(hub: HubClient, format: Format) -> Result<()> {
    if hub.config().token.is_none() {
        bail!("not logged in: pass --token, set HF_TOKEN, or run `hfdl auth login`");
    }
    let me = hub.whoami().await.with_context(|| {
        format!(
            "failed to ask {} who the token belongs to",
            hub.config().endpoint
        )
    })?;
    if format.is(Mode::Json) {
        output::line(&me.to_string());
        return Ok(());
    }
    // As `hf auth whoami`: the user, the organizations, and the endpoint unless the default.
    let name = me.get("name").and_then(|n| n.as_str()).unwrap_or("?");
    let orgs: Vec<&str> = (me
        .get("orgs")
        .and_then(|o| o.as_array())
        .into_iter()
        .flatten())
    .filter_map(|org| org.get("name")?.as_str())
    .collect();
    let mut fields = vec![("user", name.to_owned())];
    if !orgs.is_empty() {
        fields.push(("orgs", orgs.join(",")));
    }
    let endpoint = &hub.config().endpoint;
    if endpoint != "https://huggingface.co" {
        fields.push(("endpoint", endpoint.clone()));
    }
    output::result(format, "Logged in", &fields);
    Ok(())
}

fn print_env(report: &EnvReport, format: Format) {
    let proxy = |v: &Option<String>| v.as_deref().map_or_else(|| "-".into(), mask_password);
    let rows = [
        ("version", report.version.to_owned()),
        ("endpoint", report.endpoint.clone()),
        ("hf_home", report.hf_home.display().to_string()),
        ("hub_cache", report.hub_cache.display().to_string()),
        ("token", report.token_source.to_string()),
        ("offline", report.offline.to_string()),
        ("http_proxy", proxy(&report.proxy.http)),
        ("https_proxy", proxy(&report.proxy.https)),
        ("all_proxy", proxy(&report.proxy.all)),
        ("no_proxy", proxy(&report.proxy.no_proxy)),
        (
            "ca_bundle",
            report.ca.as_ref().map_or("system roots".into(), |ca| {
                format!("{} (from {})", ca.path.display(), ca.var)
            }),
        ),
        ("s3_endpoint", report.s3.endpoint_label()),
        ("s3_region", report.s3.region.clone()),
        ("s3_credentials", s3_credentials(&report.s3)),
    ];
    if format.is(Mode::Agent) {
        for (key, value) in rows {
            output::line(&format!("{key}={value}"));
        }
    } else if format.is(Mode::Json) {
        let map: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(v.as_str())))
            .collect();
        output::line(&serde_json::Value::Object(map).to_string());
    } else {
        for (key, value) in rows {
            output::line(&format!("{key:<14} {value}"));
        }
    }
}

/// Which S3 credentials are set, never their values.
fn s3_credentials(s3: &crate::bucket::S3Config) -> String {
    let set: Vec<&str> = [
        ("AWS_ACCESS_KEY_ID", s3.access_key_id.is_some()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_access_key.is_some()),
        ("AWS_SESSION_TOKEN", s3.session_token.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    match set.as_slice() {
        [] => "none (anonymous requests)".to_owned(),
        names => format!("{} set", names.join(", ")),
    }
}

/// A proxy URL with its password replaced by `***`.
fn mask_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_passwords_are_masked() {
        assert_eq!(
            mask_password("http://u:secret@p:8080"),
            "http://u:***@p:8080/"
        );
        assert_eq!(mask_password("http://p:8080"), "http://p:8080");
    }
}
