//! Supervised tasks: the daemon's long-running tasks (receivers, the decision ticker) run in one
//! set, and any of them ending before shutdown, by returning or by panicking, is reported with
//! the task's name, so the daemon can turn `/readyz` to 503 and stop with an error instead of
//! running on without it.

use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::task::JoinSet;

/// How one supervised task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnd {
    pub task: &'static str,
    /// `None` when it returned normally; else why it failed (its error, or its panic message).
    pub failure: Option<String>,
}

impl TaskEnd {
    /// Why the task stopped, for logs and `/readyz`.
    pub fn reason(&self) -> String {
        match &self.failure {
            Some(f) => format!("{} failed: {f}", self.task),
            None => format!("{} stopped unexpectedly", self.task),
        }
    }
}

/// The daemon's supervised tasks.
#[derive(Default)]
pub struct Tasks {
    set: JoinSet<TaskEnd>,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

impl Tasks {
    /// Runs `fut` as task `task`; its `Err` or panic becomes the task's failure.
    pub fn spawn<F>(&mut self, task: &'static str, fut: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.set.spawn(async move {
            let failure = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(p) => Some(panic_message(&*p)),
            };
            TaskEnd { task, failure }
        });
    }

    /// The next task to end; pending for ever when there is none.
    pub async fn next_end(&mut self) -> TaskEnd {
        match self.set.join_next().await {
            Some(Ok(end)) => end,
            // Tasks catch their own panics; only an abort ends one otherwise.
            Some(Err(e)) => TaskEnd {
                task: "a task",
                failure: Some(e.to_string()),
            },
            None => std::future::pending().await,
        }
    }

    /// Waits up to `grace` for every task to end (after they were told to stop); aborts the
    /// rest. Returns the tasks that failed meanwhile, and whether all ended in time.
    pub async fn finish(&mut self, grace: Duration) -> (Vec<TaskEnd>, bool) {
        let mut failed = Vec::new();
        let all = tokio::time::timeout(grace, async {
            while let Some(end) = self.set.join_next().await {
                if let Ok(end) = end {
                    if end.failure.is_some() {
                        failed.push(end);
                    }
                }
            }
        })
        .await
        .is_ok();
        if !all {
            self.set.abort_all();
            while self.set.join_next().await.is_some() {}
        }
        (failed, all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_or_an_error_or_an_early_return_is_reported_with_the_task_name() {
        let mut tasks = Tasks::default();
        tasks.spawn("ticker", async { panic!("boom") });
        let end = tasks.next_end().await;
        assert_eq!(end.task, "ticker");
        assert_eq!(end.reason(), "ticker failed: panicked: boom");

        tasks.spawn("receiver", async { Err("address in use".to_string()) });
        assert_eq!(
            tasks.next_end().await.reason(),
            "receiver failed: address in use"
        );

        tasks.spawn("metrics", async { Ok(()) });
        assert_eq!(
            tasks.next_end().await.reason(),
            "metrics stopped unexpectedly"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn finish_waits_for_the_grace_then_aborts() {
        let mut tasks = Tasks::default();
        tasks.spawn("quick", async { Ok(()) });
        tasks.spawn("stuck", std::future::pending());
        let (failed, all) = tasks.finish(Duration::from_secs(5)).await;
        assert!(failed.is_empty());
        assert!(!all, "the stuck task was aborted after the grace");
    }
}
