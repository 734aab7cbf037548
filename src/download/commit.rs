//! Group commit for small files: one `syncfs` makes a whole batch of finished files durable
//! before they are renamed into place, instead of one `fdatasync` (and journal commit) each.
//!
//! Files that finish while a batch is being synced form the next batch, so batches grow with
//! the rate of finished files and nothing waits on a timer.

use std::fs::File;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use tokio::sync::{mpsc, oneshot};

/// What to do once the data is durable: rename into place and record it.
pub(crate) type Finalize = Box<dyn FnOnce() -> Result<()> + Send>;

struct Entry {
    file: Arc<File>,
    finalize: Finalize,
    reply: oneshot::Sender<Result<()>>,
}

/// The handle files are committed through; the batching task ends when it is dropped.
#[derive(Clone)]
pub(crate) struct Committer {
    tx: mpsc::UnboundedSender<Entry>,
}

impl Committer {
    pub(crate) fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(batches(rx));
        Self { tx }
    }

    /// Makes `file`'s data durable, then runs `finalize`.
    pub(crate) async fn commit(&self, file: Arc<File>, finalize: Finalize) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Entry {
                file,
                finalize,
                reply,
            })
            .map_err(|_| anyhow!("internal error: the commit queue is closed"))?;
        answer
            .await
            .map_err(|_| anyhow!("internal error: a commit was dropped"))?
    }
}

async fn batches(mut rx: mpsc::UnboundedReceiver<Entry>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(entry) = rx.try_recv() {
            batch.push(entry);
        }
        let _ = tokio::task::spawn_blocking(move || commit_batch(batch)).await;
    }
}

/// Syncs the batch's data, renames every file into place, then syncs again so that the renames
/// are durable before anyone is told the files are there.
fn commit_batch(batch: Vec<Entry>) {
    let file = batch[0].file.clone();
    let synced = rustix::fs::syncfs(&*file);
    let mut placed = Vec::with_capacity(batch.len());
    for entry in batch {
        let result = match &synced {
            Ok(()) => (entry.finalize)(),
            Err(e) => Err(std::io::Error::from(*e)).context("failed to sync the downloaded files"),
        };
        placed.push((entry.reply, result));
    }
    let renamed = rustix::fs::syncfs(&*file);
    for (reply, result) in placed {
        let result = match (&renamed, result) {
            (Err(e), Ok(())) => {
                Err(std::io::Error::from(*e)).context("failed to sync the downloaded files")
            }
            (_, result) => result,
        };
        let _ = reply.send(result);
    }
}
