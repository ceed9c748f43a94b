//! `POST /v1/chat/completions`: validate, route, rewrite, forward to the alias's pool with
//! retries, and pass the answer through (SSE unbuffered) while observing usage and timing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tracing::{Instrument, Span};

use crate::body::{BoxError, RespBody, full};
use vsr_engine::RoutingResult;
use vsr_signals::{ChatMessage, ContextEnvelope, Family, RequestView};

use crate::headers as hdr;

use crate::classify::ClassifyError;
use crate::error::ApiError;
use crate::metrics::Phase;
use crate::pool::InFlight;
use crate::record::{RecordFinish, RecordStart, Usage};
use crate::rewrite::{self, RawObject};
use crate::settings::Pricing;
use crate::state::{Runtime, Shared};
use crate::upstream::forward::{Candidate, Forwarded, Upstream, forward};
use crate::util::{hex_id, unix_now};

/// Which client API the request came in on (the answer is translated back for Responses and
/// Messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Chat,
    Responses,
    Messages,
}

/// A validated chat request ready for routing: the client's top-level fields kept raw (so an
/// unchanged request is forwarded byte for byte), `model` and streaming read once.
pub struct ChatRequest {
    pub fields: RawObject,
    pub model: String,
    pub streaming: bool,
    /// The client's original bytes (forwarded as-is when nothing changes; recorded).
    pub original: Bytes,
    /// The view of a request already decoded into the internal model (Responses, Messages),
    /// so `messages` is not decoded a second time.
    pub view: Option<RequestView>,
    /// The client's Anthropic body, forwarded untranslated to an `api_format: anthropic` alias.
    pub native: Option<crate::messages::NativeBody>,
}

impl ChatRequest {
    /// The conversation as the router reads it. `messages` is parsed into typed messages here,
    /// once, and only on the routed path (an explicit alias never needs it). `envelope`: also
    /// measure the request envelope (only August configs with `context` rules read it).
    pub fn view(&self, envelope: bool) -> Result<RequestView, ApiError> {
        let view = self.conversation_view()?;
        Ok(if envelope {
            view.with_envelope(self.envelope())
        } else {
            view
        })
    }

    fn conversation_view(&self) -> Result<RequestView, ApiError> {
        if let Some(v) = &self.view {
            return Ok(v.clone());
        }
        let raw = self
            .fields
            .get("messages")
            .ok_or(ApiError::MissingMessages)?;
        let messages: Vec<ChatMessage> = serde_json::from_str(raw.get())
            .map_err(|e| ApiError::InvalidBody(format!("messages: {e}")))?;
        let field = |k: &str| {
            self.fields
                .get(k)
                .and_then(|r| serde_json::from_str::<serde_json::Value>(r.get()).ok())
        };
        let metadata = vsr_signals::parse_metadata(field("metadata").as_ref())
            .map_err(ApiError::InvalidBody)?;
        let tools = vsr_signals::count_tool_definitions(
            field("tools").as_ref(),
            field("functions").as_ref(),
        );
        Ok(RequestView::from_messages(&messages)
            .with_tools(tools)
            .with_metadata(metadata))
    }

    /// The envelope of the fields the context floor reads (the rest of the body is not
    /// decoded). For Responses and Messages requests these are the fields of their chat
    /// translation, so the envelope is measured the same way for every API.
    fn envelope(&self) -> ContextEnvelope {
        let body: serde_json::Map<String, serde_json::Value> = ContextEnvelope::BODY_FIELDS
            .iter()
            .filter_map(|k| {
                let v = serde_json::from_str(self.fields.get(*k)?.get()).ok()?;
                Some((k.to_string(), v))
            })
            .collect();
        ContextEnvelope::of_chat(&serde_json::Value::Object(body))
    }
}

/// Validation of surface spec §2.2 step 2, in that order.
pub fn parse_chat(body: Bytes, headers: &HeaderMap) -> Result<ChatRequest, ApiError> {
    let fields: RawObject = serde_json::from_slice(&body).map_err(|_| ApiError::MalformedJson)?;
    // Validated without building a tree: only the routed path needs the parsed messages.
    match fields.get("messages") {
        None => return Err(ApiError::MissingMessages),
        Some(raw) if !raw.get().starts_with('[') => return Err(ApiError::MessagesNotArray),
        Some(_) => {}
    }
    let model = match fields.get("model") {
        None => return Err(ApiError::MissingModel),
        Some(raw) => match serde_json::from_str::<serde_json::Value>(raw.get()) {
            Ok(serde_json::Value::String(s)) => s,
            _ => return Err(ApiError::ModelNotString),
        },
    };
    let sse_accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let streaming = fields.get("stream").is_some_and(|r| r.get() == "true") || sse_accept;
    Ok(ChatRequest {
        fields,
        model,
        streaming,
        original: body,
        view: None,
        native: None,
    })
}

/// Everything decided about one request before it goes upstream.
pub(crate) struct Routed {
    pub(crate) alias: String,
    /// The router's result on the auto path; `None` for an explicit alias.
    pub(crate) result: Option<RoutingResult>,
    /// What session-stable routing did (auto path with protection on).
    pub(crate) session: Option<vsr_session::Outcome>,
    /// What router-learning adaptation did (auto path with adaptation on).
    pub(crate) adaptation: Option<vsr_session::Adaptation>,
}

async fn classify(
    shared: &Arc<Shared>,
    rt: &Arc<Runtime>,
    req: &ChatRequest,
    recipe: Option<String>,
    request_id: &str,
) -> Result<(RoutingResult, Option<usize>), ApiError> {
    let permit = Arc::clone(&shared.classify_queue)
        .try_acquire_owned()
        .map_err(|_| ApiError::RateLimited)?;
    let parsed = Instant::now();
    let envelope = rt.settings.context_envelope;
    let mut view = tracing::debug_span!("parse").in_scope(|| req.view(envelope))?;
    // August context counts divide the prose by the ratio learned from providers' usage, and
    // a text-only request's answer teaches it.
    let mut prose_bytes = None;
    if envelope {
        view = view.with_bytes_per_token(shared.tokens.ratio());
        prose_bytes = (!view.has_non_text()).then(|| view.context_text_bytes());
    }
    shared.metrics.phase(Phase::Parse, parsed.elapsed());
    let classifier = Arc::clone(&rt.classifier);
    let recipe_name = recipe.clone();
    // The engine's `signals`, `projections` and `decision` spans open on the blocking thread;
    // entering the request span there makes them its children.
    let parent = Span::current();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let r = parent.in_scope(|| classifier.route(recipe.as_deref(), &view));
        drop(permit);
        r
    })
    .await
    .map_err(|_| ApiError::RoutingFailed)?;
    shared
        .metrics
        .routing_latency(started.elapsed().as_secs_f64());
    match result {
        Ok(r) => {
            shared.metrics.routing_phases(&r.timing);
            Ok((r, prose_bytes))
        }
        Err(ClassifyError::InvalidInput(m)) => Err(ApiError::InvalidInput(m)),
        Err(ClassifyError::Overloaded(m)) => {
            tracing::debug!(error = %m, "classifier queue full");
            Err(ApiError::RateLimited)
        }
        Err(ClassifyError::Failed(m)) => {
            tracing::warn!(request_id, error = %m, "classification failed; using the default model");
            let model = rt
                .settings
                .default_model
                .clone()
                .ok_or(ApiError::RoutingFailed)?;
            let mut r = RoutingResult::fallback(model, format!("classification failed: {m}"));
            r.recipe = recipe_name;
            Ok((r, prose_bytes))
        }
    }
}

/// The whole chat pipeline. `flavor` only changes how a fast response is rendered; the caller
/// translates upstream answers for the Responses API.
pub async fn handle_chat(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    req: ChatRequest,
    flavor: Flavor,
) -> Result<Response<RespBody>, ApiError> {
    if let Some(raw) = req.fields.get("messages") {
        crate::limits::check_messages(raw.get(), shared.limits.max_messages)?;
    }
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .unwrap_or_else(hex_id);
    // A debug span: exported when tracing is on, otherwise disabled and free. The answer's
    // body holds a clone, so the span ends when the response has been streamed.
    let span = tracing::debug_span!(
        "request",
        request_id = %request_id,
        model = tracing::field::Empty,
        decision = tracing::field::Empty,
    );
    pipeline(shared, headers, req, flavor, request_id, span.clone())
        .instrument(span)
        .await
}

async fn pipeline(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    mut req: ChatRequest,
    flavor: Flavor,
    request_id: String,
    span: Span,
) -> Result<Response<RespBody>, ApiError> {
    let rt = shared.runtime.load_full();
    // A looper slug (`vllm-sr/fusion`, `vllm-sr/flow`) is routed by the default profile and
    // answered by one of its loopers of that kind.
    let slug = rt.settings.looper_slug(&req.model);
    let profile = match slug {
        Some(_) => Some(None),
        None => rt
            .settings
            .routing_profile(&req.model)
            .map(|r| r.map(str::to_string)),
    };
    let auto = profile.is_some();
    let mut direct = None;
    // The prose bytes of a text-only request on an August profile (token calibration).
    let mut prose_bytes = None;
    let routed = if let Some(recipe) = profile {
        let (mut result, bytes) = classify(shared, &rt, &req, recipe, &request_id).await?;
        prose_bytes = bytes;
        if let Some(kind) = slug {
            direct = Some(crate::looper::direct::resolve(
                &rt,
                &req,
                kind,
                &mut result,
            )?);
        }
        crate::live::reselect(&rt, &shared.latency, &mut result);
        let adaptation = crate::session::adapt(shared, &rt, &req, &mut result);
        let session = crate::session::protect(shared, &rt, headers, &req, &mut result).await;
        if let Some(d) = &result.decision {
            span.record("decision", d.as_str());
        }
        if let Some(d) = &result.decision {
            shared.metrics.decision(d);
        }
        for (family, s) in result.signals.matched() {
            if family != Family::Projection {
                shared.metrics.signal(family.header_suffix(), &s.name);
            }
        }
        shared.metrics.routed(&req.model, &result.model);
        Routed {
            alias: result.model.clone(),
            result: Some(result),
            session,
            adaptation,
        }
    } else {
        let alias = if rt.settings.models.contains_key(&req.model) {
            req.model.clone()
        } else if let Some(m) = rt
            .settings
            .models
            .values()
            .find(|m| m.upstream_id() == req.model)
        {
            m.name.clone()
        } else {
            return Err(ApiError::UnknownModel(req.model.clone()));
        };
        Routed {
            alias,
            result: None,
            session: None,
            adaptation: None,
        }
    };
    let model_metrics = shared.metrics.model(&routed.alias);
    model_metrics.request();
    span.record("model", routed.alias.as_str());

    if let Some(message) = routed.result.as_ref().and_then(|r| r.fast_response.clone()) {
        return Ok(fast_response(
            shared,
            &req,
            &routed,
            &request_id,
            &message,
            flavor,
        ));
    }

    // A fusion or workflows decision is answered from several model calls by the router.
    if let Some(looper) = direct.or_else(|| {
        let r = routed.result.as_ref()?;
        let d = r.decision.as_deref()?;
        rt.settings.loopers.get(r.recipe.as_deref(), d).cloned()
    }) {
        return crate::looper::answer(shared, &rt, headers, &req, &routed, &looper, &request_id)
            .await;
    }

    let mut cached = crate::cache::consult(shared, &rt, headers, &req, &routed);
    if let Some(resp) = crate::cache::hit_response(shared, &req, &routed, &request_id, &cached) {
        return Ok(resp);
    }

    let model = rt.settings.models.get(&routed.alias).ok_or_else(|| {
        tracing::error!(alias = %routed.alias, "classifier chose an alias that is not configured");
        ApiError::RoutingFailed
    })?;
    let pool = rt
        .pools
        .get(&routed.alias)
        .cloned()
        .ok_or_else(|| ApiError::NoBackend(routed.alias.clone()))?;
    // The client's body as sent (recorded), whatever shape the alias needs upstream.
    let client_body = req.original.clone();
    // The decision's `tools` plugin: what the model sees of the client's tools.
    if let Some(r) = routed.result.as_ref()
        && let Some(d) = r.decision.as_deref()
        && let Some(policy) = rt.settings.tools.get(r.recipe.as_deref(), d)
        && policy
            .apply(&mut req.fields)
            .map_err(ApiError::RewriteFailed)?
    {
        req.original = Bytes::from(
            rewrite::to_bytes(&req.fields).map_err(|e| ApiError::RewriteFailed(e.to_string()))?,
        );
    }
    let api = crate::messages::use_native(&mut req, model)?;
    let native = api.is_anthropic();

    // Rewrite: model id always; reasoning only on the routed path with a decision.
    let decided = routed.result.as_ref().filter(|r| r.decision.is_some());
    let (upstream_body, reasoning_on) = rewrite::body_for(
        &rt.settings,
        &mut req.fields,
        &req.original,
        &req.model,
        req.streaming && !native,
        &rewrite::Target {
            model,
            reasoning: decided
                .filter(|_| !native)
                .map(|r| (r.reasoning.use_reasoning, r.reasoning.effort.as_deref())),
        },
    )?;

    let replay_id = shared.sink.as_ref().and_then(|s| {
        record_start(
            shared,
            s.as_ref(),
            &RecordStart {
                request_id: &request_id,
                original_model: &req.model,
                selected_model: &routed.alias,
                routed: auto,
                result: routed.result.as_ref(),
                request_body: &client_body,
                streaming: req.streaming,
                fast_response: false,
                session: routed.session.as_ref(),
                adaptation: routed.adaptation.as_ref(),
            },
        )
    });

    let timeout = rt.settings.request_timeout();
    let started = Instant::now();
    let first = Candidate {
        alias: routed.alias.clone(),
        pool,
        body: upstream_body,
        reasoning_on,
    };
    let mut fallbacks = crate::upstream::forward::fallback_refs(&rt, decided, &routed.alias);
    let fallback = || {
        loop {
            let r = fallbacks.next()?;
            // The body is in one API's shape: a ref speaking the other protocol is skipped.
            let anthropic = rt
                .settings
                .models
                .get(r.target())
                .is_some_and(|m| m.api_format == Some(vsr_config::ApiFormat::Anthropic));
            if anthropic != native {
                tracing::debug!(model = r.target(), "fallback skipped: other api_format");
                continue;
            }
            return Some(fallback_candidate(&rt, &req, r, native));
        }
    };
    let forwarded = forward(
        shared,
        first,
        fallback,
        headers,
        &request_id,
        tokio::time::Instant::now() + timeout,
    )
    .instrument(tracing::debug_span!("forward", model = %routed.alias))
    .await;
    shared.metrics.phase(Phase::Forward, started.elapsed());
    let Forwarded {
        result,
        served,
        reasoning_on,
        attempts,
    } = forwarded;
    let (upstream, guard) = match result {
        Ok(ok) => ok,
        Err(e) => {
            let status = e.status().as_u16();
            if (status == 429 || status >= 500)
                && let Some((experience, key)) = learning_key(shared, &rt, &routed)
            {
                let failed = vsr_session::Observation {
                    failed: true,
                    ..Default::default()
                };
                experience.record_response(&key, &served, &failed);
            }
            if let (Some(sink), Some(id)) = (&shared.sink, &replay_id) {
                sink.finish(
                    id,
                    RecordFinish::failed(
                        e.status().as_u16(),
                        req.streaming,
                        Some(served),
                        attempts.clone(),
                    ),
                );
            }
            let mut resp = e.into_response();
            crate::upstream::add_path_headers(resp.headers_mut(), &attempts);
            set(resp.headers_mut(), &hdr::REQUEST_ID, &request_id);
            return Ok(resp);
        }
    };
    // A fallback answered: metrics, pricing and headers are the serving alias's.
    let (model, model_metrics) = if served == routed.alias {
        (model, model_metrics)
    } else {
        let m = rt.settings.models.get(&served).unwrap_or(model);
        (m, shared.metrics.model(&served))
    };
    let Upstream { parts, body, first } = upstream;
    let status = parts.status;
    let mut resp = Response::new(());
    *resp.status_mut() = status;
    for (name, value) in parts.headers.iter() {
        if !is_hop_by_hop(name) {
            resp.headers_mut().append(name.clone(), value.clone());
        }
    }
    let sse = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    // Non-streaming answers: time to first token is time to response headers.
    let header_ttft = (!sse).then(|| started.elapsed());
    if let Some(t) = header_ttft {
        model_metrics.ttft(t.as_secs_f64());
    }
    if status.is_success() {
        add_route_headers(
            resp.headers_mut(),
            &routed,
            &served,
            &req.model,
            reasoning_on,
            replay_id.as_deref(),
        );
        // Cache headers describe routed answers; an explicit alias never consults the cache.
        if routed.result.is_some() {
            cached.headers(resp.headers_mut());
        }
    } else {
        let reason = if status.is_server_error() {
            "upstream_5xx"
        } else {
            "upstream_4xx"
        };
        shared.metrics.error(&served, reason);
    }
    crate::upstream::add_path_headers(resp.headers_mut(), &attempts);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(hdr::REQUEST_ID.clone(), v);
    }
    if api == crate::messages::UpstreamApi::Native {
        resp.extensions_mut().insert(crate::messages::NativeAnswer);
    }
    let observed = Observed {
        first,
        inner: body,
        idle: Box::pin(tokio::time::sleep(timeout)),
        timeout,
        ended: false,
        st: ObserveState {
            shared: Arc::clone(shared),
            alias: served.clone(),
            model_metrics,
            pricing: model.pricing.clone(),
            started,
            first_byte: false,
            ttft: header_ttft,
            sse,
            status: status.as_u16(),
            line: Vec::new(),
            text: String::new(),
            raw: Vec::new(),
            usage: None,
            replay_id,
            // Only chat answers are stored: an Anthropic answer is not in the cache's shape.
            cache: if native {
                None
            } else {
                cached.capture(shared, sse)
            },
            learning: learning_key(shared, &rt, &routed),
            prose_bytes,
            timed: !rt.settings.live_selectors.is_empty(),
            served,
            attempts,
            done: false,
            _guard: guard,
            _span: span,
        },
    };
    let resp = resp.map(|()| observed.boxed_unsync());
    if api == crate::messages::UpstreamApi::Translated {
        return crate::anthropic_upstream::answer(resp).await;
    }
    Ok(resp)
}

/// Where router learning learns from a routed request's answer: adaptation on and the decision
/// not bypassing it.
fn learning_key(
    shared: &Arc<Shared>,
    rt: &Runtime,
    routed: &Routed,
) -> Option<(Arc<vsr_session::Experience>, vsr_session::ExperienceKey)> {
    let adapter = rt.settings.adapter.as_ref()?;
    let r = routed.result.as_ref()?;
    let key = adapter.key(r.recipe.as_deref(), r.decision.as_deref()?)?;
    Some((Arc::clone(&shared.experience), key.clone()))
}

/// The request rewritten for a fallback model ref (from the client's original body: the first
/// alias's rewrite may have set fields another reasoning family does not use).
fn fallback_candidate(
    rt: &Runtime,
    req: &ChatRequest,
    r: &vsr_engine::ModelRef,
    native: bool,
) -> Result<Candidate, ApiError> {
    let alias = r.target();
    let (model, pool) = match (rt.settings.models.get(alias), rt.pools.get(alias)) {
        (Some(m), Some(p)) => (m, Arc::clone(p)),
        _ => return Err(ApiError::NoBackend(alias.to_string())),
    };
    let mut fields: RawObject =
        serde_json::from_slice(&req.original).map_err(|_| ApiError::MalformedJson)?;
    let (body, reasoning_on) = rewrite::body_for(
        &rt.settings,
        &mut fields,
        &req.original,
        &req.model,
        req.streaming && !native,
        &rewrite::Target {
            model,
            reasoning: (!native).then_some((r.use_reasoning, r.reasoning_effort.as_deref())),
        },
    )?;
    Ok(Candidate {
        alias: alias.to_string(),
        pool,
        body,
        reasoning_on,
    })
}

/// Starts the replay record: the `record` phase (building it from the routing result). The
/// finish later only hands the completed record to the writer's queue.
pub(crate) fn record_start(
    shared: &Shared,
    sink: &dyn crate::record::RecordSink,
    start: &RecordStart<'_>,
) -> Option<String> {
    let _span = tracing::debug_span!("record").entered();
    let t = Instant::now();
    let id = sink.start(start);
    shared.metrics.phase(Phase::Record, t.elapsed());
    id
}

/// Starts the replay record of a routed request the router answers itself (fast response,
/// cache hit, looper); `None` without a sink.
pub(crate) fn record_routed(
    shared: &Shared,
    req: &ChatRequest,
    routed: &Routed,
    request_id: &str,
    fast_response: bool,
) -> Option<String> {
    let sink = shared.sink.as_ref()?;
    record_start(
        shared,
        sink.as_ref(),
        &RecordStart {
            request_id,
            original_model: &req.model,
            selected_model: &routed.alias,
            routed: true,
            result: routed.result.as_ref(),
            request_body: &req.original,
            streaming: req.streaming,
            fast_response,
            session: if fast_response {
                None
            } else {
                routed.session.as_ref()
            },
            adaptation: if fast_response {
                None
            } else {
                routed.adaptation.as_ref()
            },
        },
    )
}

pub(crate) fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authenticate"
            | "proxy-authorization"
    )
}

pub(crate) fn set_header(h: &mut HeaderMap, name: &HeaderName, value: &str) {
    set(h, name, value)
}

fn set(h: &mut HeaderMap, name: &HeaderName, value: &str) {
    if value.is_empty() {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name.clone(), v);
    }
}

pub(crate) fn add_route_headers(
    h: &mut HeaderMap,
    routed: &Routed,
    served: &str,
    requested: &str,
    reasoning_on: bool,
    replay_id: Option<&str>,
) {
    match &routed.result {
        Some(r) => {
            set(
                h,
                &hdr::SELECTED_DECISION,
                r.decision.as_deref().unwrap_or(""),
            );
            if let Some(recipe) = &r.recipe {
                set(h, &hdr::SELECTED_RECIPE, recipe);
            }
            set(h, &hdr::SELECTED_MODEL, served);
            set(h, &hdr::SELECTED_CATEGORY, r.category().unwrap_or(""));
            if r.confidence > 0.0 {
                set(
                    h,
                    &hdr::SELECTED_CONFIDENCE,
                    &format!("{:.4}", r.confidence),
                );
            }
            // One header per family, names in match order; projections have their own.
            let mut per_family: Vec<(Family, Vec<&str>)> = Vec::new();
            for (family, s) in r.signals.matched() {
                match per_family.iter_mut().find(|(f, _)| *f == family) {
                    Some((_, names)) => names.push(&s.name),
                    None => per_family.push((family, vec![&s.name])),
                }
            }
            for (family, names) in &per_family {
                set(h, hdr::matched(*family), &names.join(","));
            }
            let tokens = r.context_tokens();
            if tokens > 0 {
                set(h, &hdr::CONTEXT_TOKEN_COUNT, &tokens.to_string());
            }
        }
        None => set(h, &hdr::SELECTED_MODEL, requested),
    }
    h.insert(
        hdr::SELECTED_REASONING.clone(),
        HeaderValue::from_static(if reasoning_on { "on" } else { "off" }),
    );
    h.insert(
        hdr::INJECTED_SYSTEM_PROMPT.clone(),
        HeaderValue::from_static("false"),
    );
    set(h, &hdr::REPLAY_ID, replay_id.unwrap_or(""));
    crate::session::add_headers(h, routed.session.as_ref());
    crate::session::add_learning_headers(h, routed.adaptation.as_ref());
}

/// The `fast_response` answer (surface spec §2.8): 200, `model: "router"`, zero usage; SSE
/// word chunks when the request streams.
fn fast_response(
    shared: &Arc<Shared>,
    req: &ChatRequest,
    routed: &Routed,
    request_id: &str,
    message: &str,
    flavor: Flavor,
) -> Response<RespBody> {
    let decision = routed
        .result
        .as_ref()
        .and_then(|r| r.decision.clone())
        .unwrap_or_default();
    shared.metrics.fast_response(&decision);
    let replay_id = record_routed(shared, req, routed, request_id, true);
    let id = format!("chatcmpl-fast-{}", unix_now());
    let completion = crate::sim::completion_json(&id, "router", message, Usage::default());
    let (body, content_type) = if req.streaming && flavor == Flavor::Chat {
        (
            crate::sim::sse_for_text(&id, "router", message),
            "text/event-stream",
        )
    } else if flavor == Flavor::Messages {
        crate::messages::fast_answer(&completion, req.streaming)
    } else if flavor == Flavor::Responses {
        let v = crate::responses::chat_to_response(&completion);
        if req.streaming {
            (
                crate::responses::events_for_response(&v),
                "text/event-stream",
            )
        } else {
            (
                serde_json::to_vec(&v).unwrap_or_default(),
                "application/json",
            )
        }
    } else {
        (
            serde_json::to_vec(&completion).unwrap_or_default(),
            "application/json",
        )
    };
    if let (Some(sink), Some(rid)) = (&shared.sink, &replay_id) {
        sink.finish(
            rid,
            RecordFinish {
                status: 200,
                streaming: req.streaming,
                usage: None,
                response_body: Bytes::from(message.to_string()),
                completed: true,
                ttft: Some(Duration::ZERO),
                served_model: None,
                attempts: Vec::new(),
                usage_by_model: Vec::new(),
            },
        );
    }
    let mut resp = Response::new(full(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    set(h, &hdr::SELECTED_DECISION, &decision);
    if let Some(recipe) = routed.result.as_ref().and_then(|r| r.recipe.as_deref()) {
        set(h, &hdr::SELECTED_RECIPE, recipe);
    }
    set(h, &hdr::FAST_RESPONSE, "true");
    set(h, &hdr::REQUEST_ID, request_id);
    set(h, &hdr::REPLAY_ID, replay_id.as_deref().unwrap_or(""));
    resp
}

/// Per-response bookkeeping while the body streams through.
struct ObserveState {
    shared: Arc<Shared>,
    alias: String,
    /// The alias's series, looked up once per request.
    model_metrics: Arc<crate::metrics::ModelMetrics>,
    pricing: Option<Pricing>,
    started: Instant,
    first_byte: bool,
    /// Time to first token, once known (headers for JSON answers, first byte for SSE).
    ttft: Option<Duration>,
    sse: bool,
    status: u16,
    /// Partial SSE line carried between chunks.
    line: Vec<u8>,
    /// Concatenated assistant text (streams being recorded).
    text: String,
    /// Non-streaming body, capped (usage parse and record).
    raw: Vec<u8>,
    usage: Option<Usage>,
    replay_id: Option<String>,
    /// Stores a cache miss's answer once it is complete.
    cache: Option<crate::cache::Capture>,
    /// The alias that answered, and every upstream attempt on the way (for the record).
    served: String,
    attempts: Vec<crate::upstream::Attempt>,
    /// Where router learning learns from this answer (adaptation on, decision not bypassed).
    learning: Option<(Arc<vsr_session::Experience>, vsr_session::ExperienceKey)>,
    /// The request's prose bytes, when its prompt tokens teach the bytes-per-token ratio.
    prose_bytes: Option<usize>,
    /// Whether answers are timed for live selection (a decision selects by latency).
    timed: bool,
    done: bool,
    _guard: InFlight,
    /// The request span, closed with the response.
    _span: Span,
}

const RAW_CAP: usize = 4 * 1024 * 1024;

impl ObserveState {
    fn on_data(&mut self, data: &[u8]) {
        if !self.first_byte {
            self.first_byte = true;
            if self.sse {
                let t = self.started.elapsed();
                self.ttft = Some(t);
                self.model_metrics.ttft(t.as_secs_f64());
            }
        }
        if !self.sse {
            if self.raw.len() + data.len() <= RAW_CAP {
                self.raw.extend_from_slice(data);
            }
            return;
        }
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(i);
            if self.line.is_empty() {
                self.sse_line(head);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                self.sse_line(&line);
            }
            rest = &tail[1..];
        }
        if self.line.len() + rest.len() <= RAW_CAP {
            self.line.extend_from_slice(rest);
        }
    }

    fn sse_line(&mut self, line: &[u8]) {
        let Some(payload) = line.strip_prefix(b"data:") else {
            return;
        };
        let payload = payload.trim_ascii();
        if payload == b"[DONE]" {
            if let Some(c) = &mut self.cache {
                c.on_done();
            }
            return;
        }
        if payload.is_empty() {
            return;
        }
        let recording = self.replay_id.is_some();
        // Parse only the chunks that matter: usage always, content when recording or caching.
        if !recording && self.cache.is_none() && !contains(payload, b"\"usage\"") {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return;
        };
        if let Some(u) = crate::messages::event_usage(&v) {
            self.usage = Some(crate::messages::merge_usage(self.usage, u));
        }
        if let Some(c) = &mut self.cache {
            c.on_chunk(&v);
        }
        if recording
            && let Some(t) = v
                .pointer("/choices/0/delta/content")
                .or_else(|| v.pointer("/delta/text"))
                .and_then(|t| t.as_str())
        {
            self.text.push_str(t);
        }
    }

    fn finish(&mut self, completed: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let m = &self.shared.metrics;
        if !self.sse && completed {
            self.usage = usage_only(&self.raw);
        }
        if let Some(c) = self.cache.take() {
            c.finish(completed, self.status, &self.raw);
        }
        if completed {
            let total = self.started.elapsed();
            self.model_metrics.latency(total.as_secs_f64());
            if self.timed && (200..300).contains(&self.status) {
                // Time per output token: after the first token when streamed, else over the
                // whole answer (a JSON answer's first token is not seen apart).
                let tokens = self.usage.map_or(0, |u| u.completion_tokens);
                let generating = match (self.sse, self.ttft) {
                    (true, Some(t)) => total.saturating_sub(t),
                    _ => total,
                };
                let tpot = (tokens > 0).then(|| {
                    generating.as_secs_f64() * 1000.0
                        / tokens.saturating_sub(u64::from(self.sse)).max(1) as f64
                });
                self.shared.latency.record(
                    &self.served,
                    self.ttft.map(|t| t.as_secs_f64() * 1000.0),
                    tpot,
                );
            }
        } else {
            m.error(&self.alias, "cancellation");
        }
        if let Some((experience, key)) = &self.learning {
            let failed = self.status == 429 || self.status >= 500;
            let observed = completed && (200..300).contains(&self.status);
            if failed || observed {
                let usage = self.usage.filter(|u| u.prompt_tokens > 0);
                let o = vsr_session::Observation {
                    latency_s: observed.then(|| self.started.elapsed().as_secs_f64()),
                    cache_hit_ratio: usage
                        .map(|u| u.cached_tokens.unwrap_or(0) as f64 / u.prompt_tokens as f64),
                    input_cost_multiplier: usage
                        .zip(self.pricing.as_ref())
                        .and_then(|(u, p)| p.input_cost_multiplier(&u)),
                    failed,
                };
                experience.record_response(key, &self.served, &o);
            }
        }
        if let (Some(bytes), Some(u)) = (self.prose_bytes, &self.usage)
            && completed
            && (200..300).contains(&self.status)
        {
            self.shared.tokens.observe(bytes, u.prompt_tokens);
        }
        if let Some(u) = &self.usage {
            self.model_metrics
                .usage(u.prompt_tokens, u.completion_tokens);
            if let Some(p) = self.pricing.as_ref().filter(|p| p.is_priced()) {
                m.cost(&self.alias, p.currency().unwrap_or("USD"), p.cost(u));
            }
        }
        if let (Some(sink), Some(id)) = (&self.shared.sink, &self.replay_id) {
            let response_body = if self.sse {
                Bytes::from(std::mem::take(&mut self.text))
            } else {
                Bytes::from(std::mem::take(&mut self.raw))
            };
            sink.finish(
                id,
                RecordFinish {
                    status: self.status,
                    streaming: self.sse,
                    usage: self.usage,
                    response_body,
                    completed,
                    ttft: self.ttft,
                    served_model: Some(std::mem::take(&mut self.served)),
                    attempts: std::mem::take(&mut self.attempts),
                    usage_by_model: Vec::new(),
                },
            );
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Reads `usage` from a completion without building a JSON tree (other fields are skipped).
fn usage_only(body: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct WithUsage {
        usage: Option<serde_json::Value>,
    }
    Usage::from_usage(&serde_json::from_slice::<WithUsage>(body).ok()?.usage?)
}

/// Passes upstream frames through unchanged, observing them; enforces the idle timeout.
/// Dropping it early (client gone) drops the upstream body, which closes that connection.
struct Observed {
    /// The frame `forward` read to make sure the stream started.
    first: Option<Frame<Bytes>>,
    inner: Incoming,
    idle: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    st: ObserveState,
    /// A stream that failed after its first byte ended with an SSE error event.
    ended: bool,
}

impl Observed {
    /// Ends the body after an upstream failure: an SSE error event, or an error for JSON.
    fn fail(&mut self, message: String) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.st.finish(false);
        if self.st.sse {
            self.ended = true;
            tracing::warn!(model = %self.st.alias, error = %message, "upstream stream failed after its first byte");
            let event = crate::sse_translate::error_event(
                !self.st.line.is_empty(),
                "upstream_error",
                502,
                &message,
            );
            return Poll::Ready(Some(Ok(Frame::data(event))));
        }
        Poll::Ready(Some(Err(message.into())))
    }
}

impl Body for Observed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(frame) = this.first.take() {
            if let Some(d) = frame.data_ref() {
                this.st.on_data(d);
            }
            if this.inner.is_end_stream() {
                this.st.finish(true);
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.st.on_data(d);
                }
                let deadline = tokio::time::Instant::now() + this.timeout;
                this.idle.as_mut().reset(deadline);
                if this.inner.is_end_stream() {
                    this.st.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => this.fail(format!("upstream stream failed: {e}")),
            Poll::Ready(None) => {
                this.st.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.idle.as_mut().poll(cx).is_ready() {
                    this.st.shared.metrics.error(&this.st.alias, "timeout");
                    return this.fail("upstream body timed out".into());
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || (self.first.is_none() && self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let held = self
            .first
            .as_ref()
            .and_then(|f| f.data_ref())
            .map_or(0, |d| d.len() as u64);
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + held);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + held);
        }
        hint
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.st.finish(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_without_the_rest_of_the_body_and_keeps_cached_tokens() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"hi"}}],
            "usage":{"prompt_tokens":7,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":5}}}"#;
        assert_eq!(
            usage_only(body),
            Some(Usage {
                prompt_tokens: 7,
                completion_tokens: 3,
                cached_tokens: Some(5),
                cache_write_tokens: None,
            })
        );
        assert_eq!(usage_only(br#"{"id":"x"}"#), None);
        assert_eq!(usage_only(b"not json"), None);
    }
}
