//! The encoder behind a bounded queue, on its own worker thread(s).
//!
//! Request handlers never run the model themselves: they enqueue a job and wait for the
//! answer. When the queue is full, [`EncoderHandle::embed`] fails at once with
//! [`ModelError::Overloaded`] so the server can shed load instead of piling up latency.
//! The handle works from async code (`embed`) and from plain threads (`embed_blocking`).
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use crate::encoder::Encoder;
use crate::error::ModelError;

type Reply = Result<Vec<Vec<f32>>, ModelError>;

enum ReplyTo {
    Async(tokio::sync::oneshot::Sender<Reply>),
    Sync(mpsc::Sender<Reply>),
}

struct Job {
    texts: Vec<String>,
    reply: ReplyTo,
}

/// Sizing of the inference queue.
#[derive(Debug, Clone, Copy)]
pub struct HandleOptions {
    /// Jobs that may wait; one more is refused with `Overloaded`.
    pub queue_capacity: usize,
    /// Worker threads running the encoder.
    pub workers: usize,
}

impl Default for HandleOptions {
    fn default() -> Self {
        HandleOptions {
            queue_capacity: 64,
            workers: 1,
        }
    }
}

/// A cloneable handle to an encoder running on worker threads. Workers stop when the last
/// handle is dropped.
#[derive(Clone)]
pub struct EncoderHandle {
    tx: SyncSender<Job>,
    capacity: usize,
    encoder: Arc<dyn Encoder>,
}

impl EncoderHandle {
    /// Starts the workers.
    pub fn spawn(encoder: Arc<dyn Encoder>, opts: HandleOptions) -> Result<Self, ModelError> {
        let capacity = opts.queue_capacity.max(1);
        let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..opts.workers.max(1) {
            let rx = Arc::clone(&rx);
            let enc = Arc::clone(&encoder);
            std::thread::Builder::new()
                .name(format!("vsr-encoder-{i}"))
                .spawn(move || worker(&*enc, &rx))
                .map_err(|e| ModelError::io("<encoder worker thread>", e))?;
        }
        Ok(EncoderHandle {
            tx,
            capacity,
            encoder,
        })
    }

    /// The encoder this handle runs (for its id, width and checksum).
    pub fn encoder(&self) -> &Arc<dyn Encoder> {
        &self.encoder
    }

    /// Embeds `texts` on the worker; fails fast with `Overloaded` when the queue is full.
    pub async fn embed(&self, texts: Vec<String>) -> Reply {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.submit(Job {
            texts,
            reply: ReplyTo::Async(reply),
        })?;
        rx.await.map_err(|_| ModelError::WorkerStopped)?
    }

    /// Blocking form of [`EncoderHandle::embed`] for threads outside an async runtime
    /// (CLI, tests, start-up). Also fails fast when the queue is full.
    pub fn embed_blocking(&self, texts: &[&str]) -> Reply {
        let (reply, rx) = mpsc::channel();
        self.submit(Job {
            texts: texts.iter().map(|t| t.to_string()).collect(),
            reply: ReplyTo::Sync(reply),
        })?;
        rx.recv().map_err(|_| ModelError::WorkerStopped)?
    }

    /// Start-up batch encode: waits for queue space instead of failing, and sends the
    /// texts in chunks so request traffic can interleave.
    pub fn embed_batch_blocking(&self, texts: &[&str]) -> Reply {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(256) {
            let (reply, rx) = mpsc::channel();
            let job = Job {
                texts: chunk.iter().map(|t| t.to_string()).collect(),
                reply: ReplyTo::Sync(reply),
            };
            self.tx.send(job).map_err(|_| ModelError::WorkerStopped)?;
            out.extend(rx.recv().map_err(|_| ModelError::WorkerStopped)??);
        }
        Ok(out)
    }

    fn submit(&self, job: Job) -> Result<(), ModelError> {
        self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => ModelError::Overloaded {
                capacity: self.capacity,
            },
            TrySendError::Disconnected(_) => ModelError::WorkerStopped,
        })
    }
}

fn worker(encoder: &dyn Encoder, rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Hold the lock only while taking a job, not while running the model.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let refs: Vec<&str> = job.texts.iter().map(String::as_str).collect();
        let result = encoder.embed(&refs);
        // A caller that gave up (dropped its receiver) is not an error.
        match job.reply {
            ReplyTo::Async(tx) => {
                let _ = tx.send(result);
            }
            ReplyTo::Sync(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A toy encoder (character histogram) that can be made slow, to test the queue.
    struct Toy {
        delay: Duration,
        calls: AtomicUsize,
    }

    impl Encoder for Toy {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
        fn dim(&self) -> usize {
            2
        }
        fn model_id(&self) -> &str {
            "toy"
        }
        fn checksum(&self) -> &str {
            "0"
        }
    }

    fn toy(ms: u64) -> Arc<Toy> {
        Arc::new(Toy {
            delay: Duration::from_millis(ms),
            calls: AtomicUsize::new(0),
        })
    }

    #[test]
    fn blocking_round_trip() {
        let h = EncoderHandle::spawn(toy(0), HandleOptions::default()).unwrap();
        let v = h.embed_blocking(&["abc", "de"]).unwrap();
        assert_eq!(v, vec![vec![3.0, 1.0], vec![2.0, 1.0]]);
        let many: Vec<String> = (0..600).map(|i| "x".repeat(i % 7)).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(h.embed_batch_blocking(&refs).unwrap().len(), 600);
    }

    #[test]
    fn full_queue_answers_overloaded_immediately() {
        let enc = toy(300);
        let h = EncoderHandle::spawn(
            enc.clone(),
            HandleOptions {
                queue_capacity: 1,
                workers: 1,
            },
        )
        .unwrap();
        // One job running, one waiting: the next is refused.
        let h1 = h.clone();
        let busy = std::thread::spawn(move || h1.embed_blocking(&["a"]));
        while enc.calls.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let h2 = h.clone();
        let waiting = std::thread::spawn(move || h2.embed_blocking(&["b"]));
        std::thread::sleep(Duration::from_millis(50));
        let t = std::time::Instant::now();
        let err = h.embed_blocking(&["c"]).unwrap_err();
        assert!(
            matches!(err, ModelError::Overloaded { capacity: 1 }),
            "{err}"
        );
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "refusal is immediate"
        );
        assert!(busy.join().unwrap().is_ok());
        assert!(waiting.join().unwrap().is_ok());
    }

    #[test]
    fn async_embed_from_tokio() {
        let h = EncoderHandle::spawn(toy(0), HandleOptions::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let v = rt.block_on(h.embed(vec!["hello".to_string()])).unwrap();
        assert_eq!(v, vec![vec![5.0, 1.0]]);
    }
}
