//! A timeout armed only when the operation has to wait, as nginx arms
//! `ngx_add_timer` after a read or write returned EAGAIN. Most reads and
//! writes of a busy proxy complete at once; for those no timer entry is
//! made, no clock is read and the timer wheel is not touched.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::time::error::Elapsed;

/// `fut`, polled once as it is; only if that poll pends does `limit` start
/// to run (from then: the time waited, which is what nginx's timers
/// measure).
pub async fn timeout<F: Future>(limit: Duration, fut: F) -> Result<F::Output, Elapsed> {
    Deadline::new(limit).run(fut).await
}

/// One limit over several waits, started by the first of them: a timer
/// set on the first EAGAIN and left running (`if (!rev->timer_set)
/// ngx_add_timer(rev, timeout)`), as client_header_timeout and
/// keepalive_timeout are.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    limit: Duration,
    at: Option<Instant>,
}

impl Deadline {
    pub fn new(limit: Duration) -> Deadline {
        Deadline { limit, at: None }
    }

    /// Runs `fut` within what is left of the limit.
    pub async fn run<F: Future>(&mut self, fut: F) -> Result<F::Output, Elapsed> {
        let mut fut = pin!(fut);
        let first = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
        if let Poll::Ready(out) = first {
            return Ok(out);
        }
        let limit = self.limit;
        let at = *self.at.get_or_insert_with(|| Instant::now() + limit);
        tokio::time::timeout_at(at.into(), fut).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_at_once_needs_no_timer() {
        assert_eq!(timeout(Duration::ZERO, async { 7 }).await.ok(), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_is_bounded() {
        let never = std::future::pending::<()>();
        assert!(timeout(Duration::from_secs(5), never).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_counts_every_wait_from_the_first() {
        let mut limit = Deadline::new(Duration::from_secs(5));
        let three = || tokio::time::sleep(Duration::from_secs(3));
        assert!(limit.run(three()).await.is_ok());
        assert!(limit.run(three()).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_shorter_than_the_limit_completes() {
        let soon = tokio::time::sleep(Duration::from_secs(1));
        assert!(timeout(Duration::from_secs(5), soon).await.is_ok());
    }
}
