//! Retry budget and backoff schedule: exponential with full jitter, capped, honouring the
//! server's `Retry-After`, and refilled whenever progress is made.

use std::future::Future;
use std::time::Duration;

use crate::hub::HubError;

/// Retries allowed in a row without progress, for transfers.
pub(crate) const MAX_ATTEMPTS: u32 = 8;
/// Retries of a metadata request: an unreachable endpoint is reported within seconds.
const API_ATTEMPTS: u32 = 4;
const CAP: Duration = Duration::from_secs(30);

/// Tracks consecutive failures of one unit of work.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    failures: u32,
    budget: u32,
}

impl Backoff {
    pub(crate) fn new(base: Duration) -> Self {
        Self::with_budget(base, MAX_ATTEMPTS)
    }

    pub(crate) fn with_budget(base: Duration, budget: u32) -> Self {
        Self {
            base,
            failures: 0,
            budget,
        }
    }

    /// Progress was made: the budget is full again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records a failure; returns how long to wait, or `None` when the budget is spent.
    pub(crate) fn next_delay(&mut self, server_hint: Option<Duration>) -> Option<Duration> {
        self.failures += 1;
        if self.failures > self.budget {
            return None;
        }
        if let Some(hint) = server_hint {
            return Some(hint.min(Duration::from_secs(300)) + self.base.mul_f64(fastrand::f64()));
        }
        let exp = self
            .base
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(CAP);
        Some(exp.mul_f64(0.5 + fastrand::f64() / 2.0))
    }

    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

/// Runs a Hub request, retrying transient failures with backoff.
pub(crate) async fn retrying<T, F, Fut>(base: Duration, mut request: F) -> Result<T, HubError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, HubError>>,
{
    let mut backoff = Backoff::with_budget(base, API_ATTEMPTS);
    loop {
        match request().await {
            Err(e) if e.is_transient() => match backoff.next_delay(e.retry_after()) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(e),
            },
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_the_budget_ends() {
        let mut b = Backoff::new(Duration::from_millis(100));
        let first = b.next_delay(None).unwrap();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let mut last = first;
        for _ in 1..MAX_ATTEMPTS {
            last = b.next_delay(None).unwrap();
        }
        assert!(last > first);
        assert!(b.next_delay(None).is_none());
        b.reset();
        assert!(b.next_delay(None).is_some());
    }

    #[test]
    fn retry_after_is_honoured() {
        let mut b = Backoff::new(Duration::from_millis(10));
        let d = b.next_delay(Some(Duration::from_secs(3))).unwrap();
        assert!(d >= Duration::from_secs(3) && d <= Duration::from_millis(3010));
    }
}
