//! Replay glue: the proxy's [`RecordSink`] over `vsr_replay::Recorder` (the record is filled
//! from the typed [`RoutingResult`]), the replay API as an axum router ([`replay_api`]), and the store chosen
//! from the config (SQLite under the data dir, or PostgreSQL opened lazily so the router serves
//! while the database is down).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use vsr_engine::RoutingResult;
use vsr_replay::{
    CostModel, FinishInfo, PostgresStore, Recorder, ReplayRecord, ReplaySettings, ReplayStore,
    ReplayWriter, StartInfo, StoreConfig, WriterConfig, WriterStats,
};
use vsr_server::axum;
use vsr_server::{OutcomeStored, PostedOutcome, RecordFinish, RecordSink, RecordStart};

use crate::AppError;

/// `$VSR_DATA_DIR`, else `./data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("VSR_DATA_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"))
}

/// `$VSR_REPLAY_POSTGRES_URL` when set and non-empty (the same variable `vllm-sr replay` reads).
pub fn postgres_url_from_env() -> Option<String> {
    std::env::var("VSR_REPLAY_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Everything replay needs for one router process.
pub struct Replay {
    pub recorder: Arc<Recorder>,
    pub store: Arc<dyn ReplayStore>,
    writer: Arc<ReplayWriter>,
    /// Alias → provider model id, refreshed on reload.
    provider_models: RwLock<HashMap<String, String>>,
}

impl Replay {
    /// Opens the store of `config` and starts the writer. `Ok(None)` when no decision records
    /// and no PostgreSQL is configured. Replicas sharing `shared` record there (and read every
    /// replica's records) unless the config names a PostgreSQL of its own.
    pub fn open(
        config: &vsr_config::Config,
        data_dir: &std::path::Path,
        shared: Option<&crate::SharedDb>,
    ) -> Result<Option<Arc<Self>>, AppError> {
        let mut settings = ReplaySettings::from_config(config);
        // A deployment gives the database URL as a secret (Kubernetes, compose): it overrides
        // the config's `router_replay.postgres` fields and selects PostgreSQL.
        if let Some(url) = postgres_url_from_env() {
            settings.postgres_url = Some(url);
        }
        if !settings.enabled() && settings.postgres_url.is_none() && shared.is_none() {
            return Ok(None);
        }
        let store_config = match (settings.store_config(data_dir), shared) {
            (StoreConfig::Sqlite { .. }, Some(db)) => StoreConfig::Postgres {
                url: db.url.clone(),
                schema: db.schema.clone(),
            },
            (own, _) => own,
        };
        // A remote store can fall behind; its writer journals records in the data dir first
        // so a killed process loses none of them (vsr_replay::journal).
        let journal_dir = matches!(store_config, StoreConfig::Postgres { .. })
            .then(|| data_dir.join("replay-journal"));
        let store: Arc<dyn ReplayStore> = match store_config {
            StoreConfig::Postgres { url, schema } => Arc::new(
                PostgresStore::open_lazy(&url, schema.as_deref())
                    .map_err(|e| AppError::Replay(format!("PostgreSQL: {e}")))?,
            ),
            sqlite => {
                let where_ = match &sqlite {
                    StoreConfig::Sqlite { path } => path.display().to_string(),
                    _ => String::new(),
                };
                vsr_replay::open_store(&sqlite)
                    .map_err(|e| AppError::Replay(format!("SQLite {where_}: {e}")))?
            }
        };
        let writer = Arc::new(ReplayWriter::spawn(
            store.clone(),
            WriterConfig {
                retention: settings.retention.clone(),
                journal_dir,
                ..Default::default()
            },
        ));
        let costs = CostModel::from_config(&config.providers);
        let recorder = Arc::new(Recorder::new(writer.clone(), settings, costs, 10_000));
        let replay = Arc::new(Self {
            recorder,
            store,
            writer,
            provider_models: RwLock::new(HashMap::new()),
        });
        replay.reload(config);
        Ok(Some(replay))
    }

    /// Applies a (re)loaded config: capture flags, prices, provider model ids.
    pub fn reload(&self, config: &vsr_config::Config) {
        self.recorder.reload(
            ReplaySettings::from_config(config),
            CostModel::from_config(&config.providers),
        );
        let ids = config
            .providers
            .models
            .iter()
            .map(|m| {
                let id = m
                    .provider_model_id
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| m.name.clone());
                (m.name.clone(), id)
            })
            .collect();
        *self
            .provider_models
            .write()
            .unwrap_or_else(|p| p.into_inner()) = ids;
    }

    /// Waits (up to `max`) for requests in flight to finish their records. Blocks the
    /// calling thread (only used at shutdown, once listeners are closed).
    pub fn wait_in_flight(&self, max: std::time::Duration) {
        let until = std::time::Instant::now() + max;
        while self.recorder.in_flight() > 0 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Writes every queued record and stops the writer. Returns the final counters.
    pub fn drain(&self) -> WriterStats {
        self.writer.shutdown()
    }
}

impl Replay {
    fn finish_record(&self, id: &str, f: RecordFinish, from_cache: bool) {
        let provider = f.served_model.as_deref().map(|m| {
            self.provider_models
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(m)
                .cloned()
                .unwrap_or_default()
        });
        let attempts = f
            .attempts
            .iter()
            .map(|a| vsr_replay::UpstreamAttempt {
                model: a.model.clone(),
                endpoint: a.endpoint.clone().unwrap_or_default(),
                outcome: a.outcome.label().into_owned(),
            })
            .collect();
        self.recorder.finish(
            id,
            &FinishInfo {
                served_model: f.served_model.as_deref().zip(provider.as_deref()),
                attempts,
                status: f.status,
                streaming: f.streaming,
                from_cache,
                usage: f.usage,
                usage_by_model: &f.usage_by_model,
                response_body: &f.response_body,
                ttft_ms: f
                    .ttft
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            },
        );
    }
}

impl RecordSink for Replay {
    fn start(&self, s: &RecordStart<'_>) -> Option<String> {
        // Only routed requests that reached a decision can carry the plugin.
        let result = s.result?;
        let decision = result.decision.as_deref()?;
        let provider_model = self
            .provider_models
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(s.selected_model)
            .cloned()
            .unwrap_or_default();
        let info = StartInfo {
            decision,
            recipe: result.recipe.as_deref(),
            request_id: s.request_id,
            original_model: s.original_model,
            selected_model: s.selected_model,
            provider_model: &provider_model,
            request_body: s.request_body,
            streaming: s.streaming,
        };
        self.recorder.start(&info, |r| {
            fill_routing(r, result);
            r.session = s.session.map(|o| vsr_replay::SessionRecord {
                id: o.session_id.clone(),
                action: o.action.as_str().to_string(),
                own_model: o.own_model.clone(),
                reason: o.reason.unwrap_or_default().to_string(),
                turns: o.turns,
            });
            r.learning = s.adaptation.map(|a| vsr_replay::LearningRecord {
                action: a.action.to_string(),
                reason: a.reason.to_string(),
                candidate_set: vsr_config::vocab::Vocab::as_str(a.candidate_set).to_string(),
                base_model: a.base_model.clone(),
                proposal: a.proposal.clone(),
                sampled: a.sampled,
                scores: a.scores.clone(),
                scope: a.key.decision.clone(),
                tier: a.key.tier,
            });
        })
    }

    fn add_outcome(&self, id: &str, o: &PostedOutcome) -> Result<OutcomeStored, String> {
        let Some(record) = self.store.get(id).map_err(|e| e.to_string())? else {
            return Ok(OutcomeStored::Missing);
        };
        // A model outcome is about the model that answered; a client naming another is refused.
        let mut target_ref = o.target_ref.clone();
        if o.target == "model" {
            let claimed = [
                o.target_ref.as_str(),
                o.metadata.get("model").map_or("", String::as_str),
                o.metadata.get("selected_model").map_or("", String::as_str),
            ]
            .into_iter()
            .map(str::trim)
            .find(|c| !c.is_empty());
            if record.selected_model.is_empty() {
                return Ok(OutcomeStored::Mismatch(
                    "the record has no selected model".into(),
                ));
            }
            if claimed.is_some_and(|c| c != record.selected_model) {
                return Ok(OutcomeStored::Mismatch(format!(
                    "the record's answer came from {:?}, not {:?}",
                    record.selected_model,
                    claimed.unwrap_or_default()
                )));
            }
            target_ref = record.selected_model.clone();
        }
        let stored = vsr_replay::OutcomeRecord {
            target: o.target.clone(),
            target_ref,
            verdict: o.verdict.as_str().to_string(),
            score: o.score,
            reason: o.reason.clone(),
            metadata: o.metadata.clone(),
            key: o.key.clone(),
            at: vsr_replay::Timestamp::now(),
        };
        Ok(
            match self
                .store
                .add_outcome(id, &stored)
                .map_err(|e| e.to_string())?
            {
                vsr_replay::Appended::Added => OutcomeStored::Added {
                    recipe: Some(record.recipe.clone())
                        .filter(|r| !r.is_empty() && r != vsr_config::DEFAULT_RECIPE),
                    decision: record.decision.clone(),
                    tier: record
                        .decision_tier
                        .and_then(|t| u32::try_from(t).ok())
                        .unwrap_or(0),
                    model: record.selected_model.clone(),
                },
                vsr_replay::Appended::Duplicate => OutcomeStored::Duplicate,
                vsr_replay::Appended::Missing => OutcomeStored::Missing,
            },
        )
    }

    fn finish(&self, id: &str, f: RecordFinish) {
        self.finish_record(id, f, false);
    }

    fn finish_from_cache(&self, id: &str, f: RecordFinish) {
        self.finish_record(id, f, true);
    }

    fn render_metrics(&self, out: &mut String) {
        let s = self.writer.stats();
        out.push_str(
            "# HELP vsr_replay_records_dropped Replay records dropped (queue full or store down).\n\
             # TYPE vsr_replay_records_dropped counter\n",
        );
        out.push_str(&format!("vsr_replay_records_dropped_total {}\n", s.dropped));
        out.push_str(
            "# HELP vsr_replay_records_written Replay records written to the store.\n\
             # TYPE vsr_replay_records_written counter\n",
        );
        out.push_str(&format!("vsr_replay_records_written_total {}\n", s.written));
        out.push_str(
            "# HELP vsr_replay_write_failures Replay batches the store refused (kept and retried).\n\
             # TYPE vsr_replay_write_failures counter\n",
        );
        out.push_str(&format!(
            "vsr_replay_write_failures_total {}\n",
            s.failed_batches
        ));
        out.push_str(
            "# HELP vsr_replay_records_deferred Replay records left to the journal for the next start (store unavailable).\n\
             # TYPE vsr_replay_records_deferred counter\n",
        );
        out.push_str(&format!(
            "vsr_replay_records_deferred_total {}\n",
            s.deferred
        ));
        out.push_str(
            "# HELP vsr_replay_records_recovered Replay records replayed from an earlier process's journal.\n\
             # TYPE vsr_replay_records_recovered counter\n",
        );
        out.push_str(&format!(
            "vsr_replay_records_recovered_total {}\n",
            s.recovered
        ));
        out.push_str(
            "# HELP vsr_replay_journal_failures Replay journal appends that failed (record kept in memory only).\n\
             # TYPE vsr_replay_journal_failures counter\n",
        );
        out.push_str(&format!(
            "vsr_replay_journal_failures_total {}\n",
            s.journal_failures
        ));
    }
}

/// `GET /v1/router_replay[/aggregate|/{id}]`, mounted on the router's management plane. The
/// store is synchronous (SQLite, blocking PostgreSQL), so each request runs on a blocking
/// thread; `vsr_replay::http` owns the paths, methods and answers.
pub fn replay_api(store: Arc<dyn ReplayStore>) -> axum::Router {
    use axum::routing::any;
    let handler = move |req: axum::extract::Request| {
        let store = Arc::clone(&store);
        async move { replay_answer(store, req).await }
    };
    axum::Router::new()
        .route(vsr_replay::http::BASE_PATH, any(handler.clone()))
        .route(
            &format!("{}/{{*rest}}", vsr_replay::http::BASE_PATH),
            any(handler),
        )
}

async fn replay_answer(
    store: Arc<dyn ReplayStore>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let q = vsr_replay::http::parse_query(&query);
        vsr_replay::http::handle(&*store, &method, &path, &q).unwrap_or_else(|| {
            vsr_replay::http::Response {
                status: 404,
                body: vsr_replay::http::error_body(404, "endpoint not found"),
            }
        })
    })
    .await;
    match answer {
        Ok(r) => (
            axum::http::StatusCode::from_u16(r.status)
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(r.body),
        )
            .into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(vsr_replay::http::error_body(
                500,
                &format!("replay handler failed: {e}"),
            )),
        )
            .into_response(),
    }
}

/// The routing part of a record, from the router's result.
pub fn fill_routing(r: &mut ReplayRecord, result: &RoutingResult) {
    let winner = result.winner_trace();
    r.recipe = result.recipe.clone().unwrap_or_default();
    r.decision_tier = winner.map(|w| i64::from(w.tier));
    r.decision_priority = winner.map(|w| w.priority);
    r.category = result.category().unwrap_or_default().to_string();
    r.confidence_score = Some(result.confidence);
    r.selection_method = result.selection_method().to_string();
    r.reasoning_mode = if result.reasoning_on() { "on" } else { "off" }.to_string();
    for (family, s) in result.signals.matched() {
        if let Some(list) = r.signals.family_mut(family.as_str()) {
            list.push(s.name.to_string());
        }
        r.signal_confidences
            .insert(format!("{family}:{}", s.name), s.confidence);
    }
    r.projections = r.signals.projection.clone();
    r.jailbreak_detected = !r.signals.jailbreak.is_empty();
    r.pii_detected = !r.signals.pii.is_empty();
    r.pii_entities = r.signals.pii.clone();
}
