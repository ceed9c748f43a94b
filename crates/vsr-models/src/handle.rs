//! The encoder behind a bounded queue, on its own worker thread(s).
//!
//! Request handlers never run the model themselves: they enqueue a job and wait for the
//! answer. When the queue is full, [`EncoderHandle::embed`] fails at once with
//! [`ModelError::Overloaded`] so the server can shed load instead of piling up latency.
//! The handle works from async code (`embed`) and from plain threads (`embed_blocking`).
//!
//! Micro-batching: a worker that takes a job also takes every job already waiting (up to
//! [`MAX_BATCH_TEXTS`] texts) and embeds them in one encoder call, then answers each job with
//! its own vectors. Under load the encoder then runs on taller matrices (weights read once
//! for several prompts) instead of one prompt at a time; an idle queue adds no wait.
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use crate::encoder::Encoder;
use crate::error::ModelError;

type Reply = Result<Vec<Vec<f32>>, ModelError>;

/// Most texts one micro-batch gathers from waiting jobs (a single larger job still runs
/// whole).
pub const MAX_BATCH_TEXTS: usize = 32;

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
        // Hold the lock only while taking jobs, not while running the model.
        let jobs = match rx.lock() {
            Ok(guard) => take_batch(&guard),
            Err(_) => return,
        };
        let Some(jobs) = jobs else { return };
        run_batch(encoder, jobs);
    }
}

/// Waits for one job, then takes the jobs already queued behind it while the batch has room.
/// `None` when every handle is gone.
fn take_batch(rx: &mpsc::Receiver<Job>) -> Option<Vec<Job>> {
    let first = rx.recv().ok()?;
    let mut texts = first.texts.len();
    let mut jobs = vec![first];
    while texts < MAX_BATCH_TEXTS {
        match rx.try_recv() {
            Ok(job) => {
                texts += job.texts.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    Some(jobs)
}

/// Embeds the jobs' texts in one encoder call and answers each job with its slice. If that
/// call fails, each job is run alone so that an error reaches only the job that caused it.
fn run_batch(encoder: &dyn Encoder, jobs: Vec<Job>) {
    if jobs.len() > 1 {
        let refs: Vec<&str> = jobs
            .iter()
            .flat_map(|j| j.texts.iter().map(String::as_str))
            .collect();
        if let Ok(vectors) = encoder.embed(&refs)
            && vectors.len() == refs.len()
        {
            let mut vectors = vectors.into_iter();
            for job in jobs {
                let mine = vectors.by_ref().take(job.texts.len()).collect();
                job.reply.send(Ok(mine));
            }
            return;
        }
    }
    for job in jobs {
        let refs: Vec<&str> = job.texts.iter().map(String::as_str).collect();
        let result = encoder.embed(&refs);
        job.reply.send(result);
    }
}

impl ReplyTo {
    /// A caller that gave up (dropped its receiver) is not an error.
    fn send(self, reply: Reply) {
        match self {
            ReplyTo::Async(tx) => {
                let _ = tx.send(reply);
            }
            ReplyTo::Sync(tx) => {
                let _ = tx.send(reply);
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
            if texts.contains(&"bad") {
                return Err(ModelError::format("toy", "cannot embed `bad`"));
            }
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

    #[test]
    fn waiting_jobs_are_embedded_together_and_answered_separately() {
        let enc = toy(150);
        let h = EncoderHandle::spawn(enc.clone(), HandleOptions::default()).unwrap();
        // Keep the worker busy, then queue three jobs behind it.
        let h0 = h.clone();
        let busy = std::thread::spawn(move || h0.embed_blocking(&["first"]));
        while enc.calls.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let texts: [&[&str]; 3] = [&["a", "bb"], &["ccc"], &["dddd", "e", "ff"]];
        let waiting: Vec<_> = texts
            .iter()
            .map(|t| {
                let h = h.clone();
                let t: Vec<String> = t.iter().map(|s| s.to_string()).collect();
                std::thread::spawn(move || {
                    let refs: Vec<&str> = t.iter().map(String::as_str).collect();
                    h.embed_blocking(&refs)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        assert!(busy.join().unwrap().is_ok());
        for (t, w) in texts.iter().zip(waiting) {
            let got = w.join().unwrap().unwrap();
            let want: Vec<Vec<f32>> = t.iter().map(|s| vec![s.len() as f32, 1.0]).collect();
            assert_eq!(got, want, "each job gets its own vectors, in order");
        }
        assert_eq!(
            enc.calls.load(Ordering::SeqCst),
            2,
            "the three waiting jobs ran as one encoder call"
        );
    }

    #[test]
    fn a_failing_job_in_a_batch_fails_alone() {
        let enc = toy(150);
        let h = EncoderHandle::spawn(enc.clone(), HandleOptions::default()).unwrap();
        let h0 = h.clone();
        let busy = std::thread::spawn(move || h0.embed_blocking(&["first"]));
        while enc.calls.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let spawn = |text: &'static str| {
            let h = h.clone();
            std::thread::spawn(move || h.embed_blocking(&[text]))
        };
        let good = spawn("good");
        std::thread::sleep(Duration::from_millis(10));
        let bad = spawn("bad");
        assert!(busy.join().unwrap().is_ok());
        assert_eq!(good.join().unwrap().unwrap(), vec![vec![4.0, 1.0]]);
        assert!(bad.join().unwrap().is_err());
    }
}
