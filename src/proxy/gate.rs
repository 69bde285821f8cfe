//! Polls rarely ready futures only when they have woken the task.
//!
//! A connection's pump waits for data and, beside it, for events that almost never come (a
//! stop, a toxic change, a control message). A `select!` polls every branch each time the
//! task goes back to sleep, and polling an already registered `Notified` or channel
//! receiver again costs a lock or an exchange: about a sixth of the proxy's instructions
//! per round trip. A [`Gate`] polls its futures with a waker of its own, and polls them again
//! only after that waker was woken, or after they last returned something.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Gates the polls of a group of futures; see the module documentation.
pub(crate) struct Gate {
    signal: Arc<Signal>,
    /// The gate's waker, given to the gated futures.
    own: Waker,
    /// The task waker last passed on to the signal.
    task: Option<Waker>,
    /// Poll the futures at the next call even without a wake-up: they have not been polled
    /// yet, or they returned something last time and may hold more.
    due: bool,
}

/// What the gated futures wake.
struct Signal {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }
}

impl Gate {
    /// A gate whose futures are polled at the first call.
    pub(crate) fn new() -> Self {
        let signal = Arc::new(Signal {
            woken: AtomicBool::new(false),
            task: Mutex::new(None),
        });
        Self {
            own: Waker::from(signal.clone()),
            signal,
            task: None,
            due: true,
        }
    }

    /// Runs `poll_all`, which polls the gated futures with the context it is given, when
    /// they may have something; pending otherwise, with the task woken when they do.
    pub(crate) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll_all: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        if !self.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            let task = cx.waker().clone();
            *self.signal.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.clone());
            self.task = Some(task);
            self.due = true;
        }
        if !self.due && !self.signal.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let polled = poll_all(&mut Context::from_waker(&self.own));
        self.due = polled.is_ready();
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::sync::atomic::AtomicUsize;

    use tokio::sync::Notify;

    use super::*;

    /// A gate over one `Notified`, counting how often the gate lets the poll through.
    async fn notified_through(gate: &mut Gate, notify: &Notify, polls: &AtomicUsize) {
        let notified = notify.notified();
        tokio::pin!(notified);
        poll_fn(|cx| {
            gate.poll(cx, |cx| {
                polls.fetch_add(1, Ordering::Relaxed);
                notified.as_mut().poll(cx)
            })
        })
        .await;
    }

    #[tokio::test]
    async fn polls_again_only_after_a_wake_up() {
        let notify = Arc::new(Notify::new());
        let polls = AtomicUsize::new(0);
        let mut gate = Gate::new();
        let waiting = async {
            notified_through(&mut gate, &notify, &polls).await;
        };
        tokio::pin!(waiting);
        // Wake-ups for something else: the task polls the gate, the gate polls nothing.
        for _ in 0..5 {
            assert!(futures_poll_once(waiting.as_mut()).await.is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        notify.notify_waiters();
        assert!(futures_poll_once(waiting.as_mut()).await.is_ready());
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_notification_wakes_the_waiting_task() {
        let notify = Arc::new(Notify::new());
        let polls = AtomicUsize::new(0);
        let notifier = notify.clone();
        let waiter = tokio::spawn(async move {
            let mut gate = Gate::new();
            notified_through(&mut gate, &notify, &polls).await;
        });
        // The waiter registers through the gate, then sleeps until a notification finds it
        // registered; only the gate's waker can wake it then.
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while !waiter.is_finished() {
                notifier.notify_waiters();
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the gate passes the wake-up on");
        waiter.await.unwrap();
    }

    #[tokio::test]
    async fn after_a_result_the_next_call_polls_again() {
        let mut gate = Gate::new();
        let polls = AtomicUsize::new(0);
        for _ in 0..3 {
            let got = poll_fn(|cx| {
                gate.poll(cx, |_| {
                    polls.fetch_add(1, Ordering::Relaxed);
                    Poll::Ready(())
                })
            })
            .await;
            assert_eq!(got, ());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 3);
    }

    /// Polls `fut` once with the current task's context.
    async fn futures_poll_once<F: Future + Unpin>(mut fut: F) -> Poll<F::Output> {
        poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut fut).poll(cx))).await
    }
}
