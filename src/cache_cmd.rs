//! `hfdl cache ls|rm|prune|verify` (being written).

use anyhow::Result;

use crate::settings::CacheSettings;

pub(crate) async fn run(settings: CacheSettings) -> Result<()> {
    anyhow::bail!("not yet implemented: {settings:?}")
}
