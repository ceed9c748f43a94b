use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use vsr_replay::{PostgresStore, ReplayRecord, ReplayStore, SqliteStore, Timestamp};

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}_{}_{}_{n}",
        std::process::id(),
        Timestamp::now().0 % 1_000_000
    )
}

pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A store plus what to clean up after the test.
pub struct TestStore {
    pub store: Arc<dyn ReplayStore>,
    pub cleanup: Cleanup,
}

pub enum Cleanup {
    Dir(PathBuf),
    Schema { url: String, schema: String },
}

impl Drop for TestStore {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(d) => {
                let _ = std::fs::remove_dir_all(d);
            }
            Cleanup::Schema { url, schema } => {
                let _ = PostgresStore::drop_schema(url, schema);
            }
        }
    }
}

pub fn sqlite() -> TestStore {
    let dir = temp_dir("vsr_replay_sqlite");
    let store = SqliteStore::open(dir.join("data/replay.db")).unwrap();
    TestStore {
        store: Arc::new(store),
        cleanup: Cleanup::Dir(dir),
    }
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("VSR_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            vsr_testkit::missing(
                "VSR_TEST_POSTGRES_URL is not set (the PostgreSQL run of this test)",
            );
            None
        }
    }
}

pub fn postgres() -> Option<TestStore> {
    let url = postgres_url()?;
    let schema = unique("vsr_t");
    let store = PostgresStore::connect(&url, Some(&schema)).unwrap();
    Some(TestStore {
        store: Arc::new(store),
        cleanup: Cleanup::Schema { url, schema },
    })
}

/// Runs `$f(&dyn ReplayStore)` once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn sqlite() {
                    let s = $crate::common::sqlite();
                    super::$name(&*s.store);
                }
                #[test]
                fn postgres() {
                    if let Some(s) = $crate::common::postgres() {
                        super::$name(&*s.store);
                    }
                }
            }
        )*
    };
}

/// A small deterministic generator (tests must not depend on luck).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub const DECISIONS: [&str; 4] = ["simple", "medium", "complex_agentic", "reasoning_math"];
pub const MODELS: [&str; 4] = [
    "qwen/qwen3.5-rocm",
    "google/gemini-2.5-flash-lite",
    "openai/gpt5.4",
    "anthropic/claude-opus-4.6",
];

/// A base time on an hour boundary.
pub const T0: i64 = 1_774_310_400_000; // 2026-03-24T00:00:00Z

/// `n` varied records over ~3 days, some sharing timestamps, some without usage or cost,
/// one in another currency.
pub fn sample_records(n: usize, seed: u64) -> Vec<ReplayRecord> {
    let mut g = Lcg(seed);
    let costs = vsr_replay::CostModel::new(
        MODELS
            .iter()
            .zip([(0.0, 0.0), (0.01, 0.04), (1.2, 4.8), (1.8, 7.2)])
            .map(|(m, (p, c))| vsr_replay::ModelPricing::new(m, "USD", p, c))
            .collect(),
    );
    (0..n)
        .map(|i| {
            let ts = T0
                + (g.below(72 * 60) as i64) * 60_000
                + if i % 7 == 0 {
                    0
                } else {
                    g.below(59_000) as i64
                };
            let mut r = ReplayRecord::new();
            r.timestamp = Timestamp(ts);
            r.id = vsr_replay::record::new_record_id(r.timestamp);
            r.request_id = format!("Req-{i:05}-{}", ["alpha", "beta", "gamma"][i % 3]);
            let d = g.below(4) as usize;
            r.decision = DECISIONS[d].into();
            r.original_model = if i % 5 == 0 {
                "auto".into()
            } else {
                "MoM".into()
            };
            r.selected_model = if i % 13 == 0 {
                "unpriced/model".into()
            } else {
                MODELS[d].into()
            };
            r.streaming = g.below(3) == 0;
            r.from_cache = g.below(10) == 0;
            r.response_status = Some([200, 200, 200, 200, 429, 500, 503][g.below(7) as usize]);
            r.reasoning_mode = if d >= 2 { "on".into() } else { "off".into() };
            r.signals.keyword = (0..g.below(3)).map(|k| format!("kw{k}")).collect();
            r.signals.domain = (0..g.below(2)).map(|k| format!("dom{k}")).collect();
            r.signals.structure = vec!["s".into()];
            r.signals.projection = vec!["balance_complex".into()];
            r.request_body = Some(format!(
                "{{\"messages\":[{{\"content\":\"prompt number {i} Ünïcode\"}}]}}"
            ));
            if i % 11 != 0 {
                r.set_usage(&costs, g.below(2000) + 1, g.below(1000), None);
            }
            if i == 3 {
                r.currency = "EUR".into();
            }
            r
        })
        .collect()
}
