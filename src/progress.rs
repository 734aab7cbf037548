//! Progress on stderr: indicatif bars when stderr is a terminal (one for the total with bytes,
//! rate, ETA and files done, plus one per large file in flight), occasional plain lines
//! otherwise, nothing when quiet. The only user of indicatif; implements `download::Reporter`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::download::Reporter;

/// Files at least this large get a bar of their own.
const OWN_BAR: u64 = 8 << 20;
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Picks the reporter for this run.
pub(crate) fn reporter(enabled: bool) -> Box<dyn Reporter> {
    if !enabled {
        Box::new(Quiet)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines::new())
    }
}

/// Prints only warnings.
pub(crate) struct Quiet;

#[expect(clippy::print_stderr, reason = "warnings go to stderr")]
impl Reporter for Quiet {
    fn plan(&self, _: usize, _: u64) {}
    fn file_started(&self, _: &str, _: Option<u64>) -> usize {
        0
    }
    fn resumed(&self, _: usize, _: u64) {}
    fn bytes(&self, _: usize, _: u64) {}
    fn retrying(&self, _: usize, _: &str, _: Duration) {}
    fn file_done(&self, _: usize, _: u64) {}
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

/// Counters shared by both visible reporters.
#[derive(Default)]
struct Totals {
    files: AtomicUsize,
    files_done: AtomicUsize,
    bytes: AtomicU64,
    bytes_done: AtomicU64,
    next_id: AtomicUsize,
}

/// indicatif bars for a terminal.
struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    files: Mutex<HashMap<usize, ProgressBar>>,
    totals: Totals,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} files {msg}",
            )
            .expect("valid template"),
        );
        total.enable_steady_tick(Duration::from_millis(250));
        Self {
            multi,
            total,
            files: Mutex::new(HashMap::new()),
            totals: Totals::default(),
        }
    }

    fn update_message(&self) {
        let t = &self.totals;
        self.total.set_message(format!(
            "{}/{}",
            t.files_done.load(Ordering::Relaxed),
            t.files.load(Ordering::Relaxed)
        ));
    }
}

impl Reporter for Bars {
    fn plan(&self, files: usize, bytes: u64) {
        self.totals.files.store(files, Ordering::Relaxed);
        self.total.set_length(bytes);
        self.update_message();
    }

    fn file_started(&self, path: &str, size: Option<u64>) -> usize {
        let id = self.totals.next_id.fetch_add(1, Ordering::Relaxed);
        if let Some(size) = size.filter(|s| *s >= OWN_BAR) {
            let bar = self.multi.add(ProgressBar::new(size));
            bar.set_style(
                ProgressStyle::with_template(
                    "  {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                )
                .expect("valid template"),
            );
            bar.set_message(path.to_owned());
            self.files.lock().expect("bars").insert(id, bar);
        }
        id
    }

    fn resumed(&self, id: usize, bytes: u64) {
        self.bytes(id, bytes);
    }

    fn bytes(&self, id: usize, bytes: u64) {
        self.total.inc(bytes);
        if let Some(bar) = self.files.lock().expect("bars").get(&id) {
            bar.inc(bytes);
        }
    }

    fn retrying(&self, _: usize, error: &str, delay: Duration) {
        let _ = self
            .multi
            .println(format!("retrying in {:.1} s: {error}", delay.as_secs_f64()));
    }

    fn file_done(&self, id: usize, skipped: u64) {
        if let Some(bar) = self.files.lock().expect("bars").remove(&id) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.total.inc(skipped);
        self.totals.files_done.fetch_add(1, Ordering::Relaxed);
        self.update_message();
        if self.totals.files_done.load(Ordering::Relaxed)
            == self.totals.files.load(Ordering::Relaxed)
        {
            self.total.finish_and_clear();
        }
    }

    fn warn(&self, message: &str) {
        let _ = self.multi.println(format!("warning: {message}"));
    }
}

/// Plain progress lines every few seconds, for logs.
struct Lines {
    totals: Totals,
    start: Instant,
    last: Mutex<Instant>,
}

impl Lines {
    fn new() -> Self {
        Self {
            totals: Totals::default(),
            start: Instant::now(),
            last: Mutex::new(Instant::now()),
        }
    }

    #[expect(clippy::print_stderr, reason = "progress lines go to stderr")]
    fn maybe_print(&self, force: bool) {
        let mut last = self.last.lock().expect("last line");
        if !force && last.elapsed() < LINE_EVERY {
            return;
        }
        *last = Instant::now();
        let t = &self.totals;
        let done = t.bytes_done.load(Ordering::Relaxed);
        let rate = done as f64 / self.start.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "hfdl: {}/{} files, {}/{}, {}/s",
            t.files_done.load(Ordering::Relaxed),
            t.files.load(Ordering::Relaxed),
            HumanBytes(done),
            HumanBytes(t.bytes.load(Ordering::Relaxed)),
            HumanBytes(rate as u64)
        );
    }
}

#[expect(clippy::print_stderr, reason = "progress lines go to stderr")]
impl Reporter for Lines {
    fn plan(&self, files: usize, bytes: u64) {
        self.totals.files.store(files, Ordering::Relaxed);
        self.totals.bytes.store(bytes, Ordering::Relaxed);
        eprintln!("hfdl: {files} files, {}", HumanBytes(bytes));
    }

    fn file_started(&self, _: &str, _: Option<u64>) -> usize {
        self.totals.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn resumed(&self, id: usize, bytes: u64) {
        self.bytes(id, bytes);
    }

    fn bytes(&self, _: usize, bytes: u64) {
        self.totals.bytes_done.fetch_add(bytes, Ordering::Relaxed);
        self.maybe_print(false);
    }

    fn retrying(&self, _: usize, error: &str, delay: Duration) {
        eprintln!("hfdl: retrying in {:.1} s: {error}", delay.as_secs_f64());
    }

    fn file_done(&self, _: usize, skipped: u64) {
        self.totals.bytes_done.fetch_add(skipped, Ordering::Relaxed);
        let done = self.totals.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        if done == self.totals.files.load(Ordering::Relaxed) {
            self.maybe_print(true);
        }
    }

    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}
