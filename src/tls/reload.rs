//! A value built from files and rebuilt when they change: certificates rotated by cert-manager,
//! token files edited by an operator. The files are read every interval and compared with what
//! the current value was built from; a change that fails to build keeps the current value and
//! is logged once as an error (and counted), until the files change again.

use super::material::{self, File};
use super::TlsError;
use crate::telemetry::names;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

type Build<T> = dyn Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync;

/// The current value; readers take a cheap `Arc` of it per connection or request.
pub struct Reloading<T> {
    current: RwLock<Arc<T>>,
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// Reads the files and builds the first value (an error names the key and file). Inside a
    /// tokio runtime, a task then checks the files every `interval` for as long as the value
    /// is referenced (no files: nothing to check).
    pub fn start(
        config: &str,
        files: Vec<File>,
        interval: Duration,
        build: impl Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Arc<Reloading<T>>, TlsError> {
        let contents = material::read(&files)?;
        let first = build(&contents)?;
        let me = Arc::new(Reloading {
            current: RwLock::new(Arc::new(first)),
        });
        let watch = !files.is_empty();
        if let (true, Ok(rt)) = (watch, tokio::runtime::Handle::try_current()) {
            let watcher = Watcher {
                config: config.to_string(),
                files,
                seen: contents,
                last_error: None,
                build: Box::new(build),
            };
            rt.spawn(watcher.run(Arc::downgrade(&me), interval));
        }
        Ok(me)
    }

    /// The value built from the latest good files.
    pub fn get(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, value: T) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
    }
}

struct Watcher<T> {
    config: String,
    files: Vec<File>,
    /// The contents last looked at (built or not): a change is a difference from these.
    seen: Vec<Vec<u8>>,
    last_error: Option<TlsError>,
    build: Box<Build<T>>,
}

impl<T: Send + Sync + 'static> Watcher<T> {
    async fn run(mut self, target: Weak<Reloading<T>>, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(target) = target.upgrade() else {
                return;
            };
            let files = self.files.clone();
            let read = tokio::task::spawn_blocking(move || material::read(&files)).await;
            match read {
                Ok(Ok(contents)) => self.check(&target, contents),
                Ok(Err(e)) => self.failed(e),
                Err(_) => return, // the runtime is shutting down
            }
        }
    }

    fn check(&mut self, target: &Reloading<T>, contents: Vec<Vec<u8>>) {
        if contents == self.seen {
            return;
        }
        let built = (self.build)(&contents);
        self.seen = contents;
        match built {
            Ok(value) => {
                target.set(value);
                self.last_error = None;
                metrics::counter!(names::RELOADS, "config" => self.config.clone(), "outcome" => "reloaded")
                    .increment(1);
                tracing::info!(config = %self.config, "files changed: reloaded; new connections and requests use them");
            }
            Err(e) => self.failed(e),
        }
    }

    fn failed(&mut self, e: TlsError) {
        if self.last_error.as_ref() == Some(&e) {
            return;
        }
        metrics::counter!(names::RELOADS, "config" => self.config.clone(), "outcome" => "failed")
            .increment(1);
        tracing::error!(config = %self.config, error = %e, "files changed but cannot be used: keeping the previous ones");
        self.last_error = Some(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &std::path::Path) -> File {
        File {
            key: "test.file".into(),
            path: dir.join("value"),
        }
    }

    fn parse(c: &[Vec<u8>]) -> Result<u32, TlsError> {
        String::from_utf8_lossy(&c[0])
            .trim()
            .parse()
            .map_err(|e| TlsError::new("test.file", format!("{e}")))
    }

    #[tokio::test]
    async fn a_change_is_picked_up_and_a_broken_one_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().unwrap();
        let f = file(dir.path());
        std::fs::write(&f.path, "1").unwrap();
        let r =
            Reloading::start("test", vec![f.clone()], Duration::from_millis(20), parse).unwrap();
        assert_eq!(*r.get(), 1);
        let wait_for = |want: u32| {
            let r = r.clone();
            async move {
                for _ in 0..250 {
                    if *r.get() == want {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                false
            }
        };
        std::fs::write(&f.path, "2").unwrap();
        assert!(wait_for(2).await, "the new value is picked up");
        std::fs::write(&f.path, "not a number").unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(*r.get(), 2, "a broken file keeps the previous value");
        std::fs::remove_file(&f.path).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*r.get(), 2, "a missing file keeps the previous value");
        std::fs::write(&f.path, "3").unwrap();
        assert!(wait_for(3).await, "a fixed file is picked up");
    }

    #[test]
    fn the_first_value_must_build() {
        let dir = tempfile::tempdir().unwrap();
        let f = file(dir.path());
        let e = Reloading::start("test", vec![f.clone()], Duration::from_secs(1), parse)
            .err()
            .unwrap();
        assert_eq!(e.key, "test.file");
        assert!(e.message.contains("cannot read the file"), "{e}");
        std::fs::write(&f.path, "x").unwrap();
        let e = Reloading::start("test", vec![f], Duration::from_secs(1), parse)
            .err()
            .unwrap();
        assert!(e.message.contains("invalid digit"), "{e}");
    }
}
