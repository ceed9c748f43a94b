//! One PostgreSQL connection on a thread of its own (the replay and dashboard stores), for any store of the workspace that keeps
//! shared state in PostgreSQL (replay records, the dashboard's users and config versions).
//!
//! The synchronous `postgres` client runs a small runtime of its own, which must not be entered
//! from inside another async runtime. The connection therefore lives on a dedicated thread and
//! calls are shipped to it, so a store can be used from any thread, async or not. A dropped
//! connection is made again on the next call, so a process keeps working (and failing fast)
//! while its database is away and recovers by itself when it returns.

use std::sync::Mutex;
use std::sync::mpsc;
use std::thread;

/// Why a call did not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkerError {
    /// No connection, and making one failed just now (the message says why).
    #[error("not connected: {0}")]
    NotConnected(String),
    /// The worker was closed.
    #[error("the connection thread is closed")]
    Closed,
}

type Job<T> = Box<dyn FnOnce(&mut Result<T, String>) + Send>;

/// A connection of type `T` (a `postgres::Client` or a wrapper) owned by one thread.
pub struct Worker<T> {
    tx: Mutex<Option<mpsc::Sender<Job<T>>>>,
    handle: Mutex<Option<thread::JoinHandle<()>>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts the thread `name`. `first` is a connection made already (else one is made on the
    /// first call); `connect` makes one, `is_closed` tells a connection the server dropped.
    /// `what` names the store in the log line of a failed reconnect.
    pub fn spawn(
        name: &str,
        what: &'static str,
        first: Option<T>,
        mut connect: impl FnMut() -> Result<T, String> + Send + 'static,
        is_closed: fn(&T) -> bool,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job<T>>();
        let handle = thread::Builder::new().name(name.into()).spawn(move || {
            let mut conn = first.ok_or_else(|| "not connected yet".to_string());
            for job in rx {
                if conn.as_ref().is_ok_and(is_closed) || conn.is_err() {
                    conn = connect();
                    if let Err(e) = &conn {
                        tracing::warn!(error = %e, "{what}: PostgreSQL reconnect failed");
                    }
                }
                job(&mut conn);
            }
        })?;
        Ok(Worker {
            tx: Mutex::new(Some(tx)),
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Runs `f` on the connection and waits for its answer.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T) -> R + Send + 'static,
    ) -> Result<R, WorkerError> {
        let (rtx, rrx) = mpsc::channel();
        let job: Job<T> = Box::new(move |conn: &mut Result<T, String>| {
            let r = match conn.as_mut() {
                Ok(c) => Ok(f(c)),
                Err(e) => Err(WorkerError::NotConnected(e.clone())),
            };
            let _ = rtx.send(r);
        });
        {
            let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            tx.as_ref()
                .ok_or(WorkerError::Closed)?
                .send(job)
                .map_err(|_| WorkerError::Closed)?;
        }
        rrx.recv().map_err(|_| WorkerError::Closed)?
    }
}

impl<T> Worker<T> {
    /// Stops the thread after the calls already queued.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.close();
    }
}
