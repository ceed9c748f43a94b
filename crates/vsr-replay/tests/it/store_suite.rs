//! The store contract, run on every backend. Answers are checked against a plain in-memory
//! evaluation of the same records (the oracle), so SQL, rollups and paging are all exercised.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use vsr_replay::cost::to_nanos;
use vsr_replay::http;
use vsr_replay::{
    AggQuery, Aggregates, Bucket, Filter, ListQuery, ReplayRecord, ReplayStore, Retention,
    StatusFilter, Timestamp,
};

use crate::common::{DECISIONS, MODELS, T0, sample_records};
use crate::on_both_backends;

on_both_backends!(
    insert_get_round_trip,
    list_pages_newest_first,
    list_filters_match_the_oracle,
    aggregates_match_the_oracle,
    retention_keeps_aggregates_consistent,
    http_api_shapes_and_errors,
    reopen_keeps_schema_and_data,
    large_purge_runs_in_chunks,
);

fn all_pages(store: &dyn ReplayStore, filter: &Filter, by_cursor: bool) -> Vec<ReplayRecord> {
    let mut out = Vec::new();
    let mut q = ListQuery {
        filter: filter.clone(),
        limit: 17,
        ..Default::default()
    };
    loop {
        let page = store.list(&q).unwrap();
        assert_eq!(page.count, page.items.len());
        out.extend(page.items);
        if !page.has_more {
            assert!(page.next_cursor.is_none() && page.next_offset.is_none());
            break;
        }
        if by_cursor {
            q.cursor = Some(vsr_replay::Cursor::decode(&page.next_cursor.unwrap()).unwrap());
        } else {
            q.offset = page.next_offset.unwrap();
        }
        assert!(out.len() <= 10_000, "paging does not end");
    }
    out
}

fn newest_first(mut v: Vec<ReplayRecord>) -> Vec<String> {
    v.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then_with(|| b.id.cmp(&a.id)));
    v.into_iter().map(|r| r.id).collect()
}

fn insert_get_round_trip(store: &dyn ReplayStore) {
    let mut recs = sample_records(3, 1);
    let r = &mut recs[0];
    r.signal_confidences.insert("keyword:kw0".into(), 0.93);
    r.projection_scores.insert("balance_complex".into(), 0.41);
    r.projections = vec!["balance_complex:high".into()];
    r.decision_tier = Some(2);
    r.decision_priority = Some(180);
    r.confidence_score = Some(0.77);
    r.ttft_ms = Some(12);
    r.duration_ms = Some(340);
    r.response_body = Some("réponse".into());
    r.response_body_truncated = true;
    assert_eq!(store.insert_batch(&recs).unwrap(), 3);
    // Duplicates are skipped and do not count twice.
    assert_eq!(store.insert_batch(&recs[..2]).unwrap(), 0);
    assert_eq!(store.count().unwrap(), 3);
    for r in &recs {
        assert_eq!(store.get(&r.id).unwrap().as_ref(), Some(r));
    }
    assert_eq!(store.get("0000").unwrap(), None);
    assert_eq!(
        store.aggregate(&AggQuery::default()).unwrap().record_count,
        3
    );
    // Feedback is stored with the record and replaces an earlier verdict.
    let verdict = |rating| vsr_replay::Feedback {
        rating,
        comment: "too long".into(),
        by: "ana".into(),
        at: recs[1].timestamp,
    };
    assert!(
        store
            .set_feedback(&recs[1].id, &verdict(vsr_replay::Rating::Up))
            .unwrap()
    );
    assert!(
        store
            .set_feedback(&recs[1].id, &verdict(vsr_replay::Rating::Down))
            .unwrap()
    );
    assert!(
        !store
            .set_feedback("0000", &verdict(vsr_replay::Rating::Up))
            .unwrap()
    );
    let back = store.get(&recs[1].id).unwrap().unwrap();
    assert_eq!(back.feedback, Some(verdict(vsr_replay::Rating::Down)));
    assert_eq!(back.decision, recs[1].decision);
    // Outcomes append once per idempotency key; a missing record says so.
    let outcome = |key: &str, verdict: &str| vsr_replay::OutcomeRecord {
        target: "model".into(),
        target_ref: recs[2].selected_model.clone(),
        verdict: verdict.into(),
        score: 1.0,
        reason: String::new(),
        metadata: Default::default(),
        key: key.into(),
        at: recs[2].timestamp,
    };
    use vsr_replay::Appended;
    let add = |key: &str, verdict: &str| store.add_outcome(&recs[2].id, &outcome(key, verdict));
    assert_eq!(add("k1", "good_fit").unwrap(), Appended::Added);
    assert_eq!(add("k1", "failed").unwrap(), Appended::Duplicate);
    assert_eq!(add("k2", "underpowered").unwrap(), Appended::Added);
    assert_eq!(
        store.add_outcome("0000", &outcome("k3", "failed")).unwrap(),
        Appended::Missing
    );
    let back = store.get(&recs[2].id).unwrap().unwrap();
    assert_eq!(
        back.outcomes,
        vec![outcome("k1", "good_fit"), outcome("k2", "underpowered")]
    );
    assert_eq!(back.feedback, recs[2].feedback);
}

fn list_pages_newest_first(store: &dyn ReplayStore) {
    let recs = sample_records(61, 2);
    store.insert_batch(&recs[..30]).unwrap();
    store.insert_batch(&recs[30..]).unwrap();
    let expected = newest_first(recs.clone());
    let first = store.list(&ListQuery::default()).unwrap();
    assert_eq!(
        (first.count, first.total, first.limit, first.has_more),
        (20, 61, 20, true)
    );
    assert_eq!(first.next_offset, Some(20));
    let got: Vec<String> = first.items.iter().map(|r| r.id.clone()).collect();
    assert_eq!(got, expected[..20]);
    for by_cursor in [true, false] {
        let ids: Vec<String> = all_pages(store, &Filter::default(), by_cursor)
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, expected, "by_cursor={by_cursor}");
    }
    // A cursor page stays stable when newer records arrive meanwhile.
    let p1 = store
        .list(&ListQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    let mut newer = sample_records(1, 99).remove(0);
    newer.timestamp = Timestamp(T0 + 100 * 3_600_000);
    newer.id = vsr_replay::record::new_record_id(newer.timestamp);
    store.insert_batch(&[newer]).unwrap();
    let p2 = store
        .list(&ListQuery {
            limit: 10,
            cursor: Some(vsr_replay::Cursor::decode(p1.next_cursor.as_deref().unwrap()).unwrap()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        p2.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        expected[10..20]
    );
}

fn filters() -> Vec<Filter> {
    let h = 3_600_000;
    vec![
        Filter::default(),
        Filter {
            decision: Some("simple".into()),
            ..Default::default()
        },
        Filter {
            model: Some("openai/gpt5.4".into()),
            ..Default::default()
        },
        Filter {
            model: Some("auto".into()),
            ..Default::default()
        },
        Filter {
            streamed: Some(true),
            ..Default::default()
        },
        Filter {
            cached: Some(true),
            streamed: Some(false),
            ..Default::default()
        },
        Filter {
            status: Some(StatusFilter::Class(5)),
            ..Default::default()
        },
        Filter {
            status: Some(StatusFilter::Exact(429)),
            ..Default::default()
        },
        Filter {
            status: Some(StatusFilter::Error),
            decision: Some("medium".into()),
            ..Default::default()
        },
        Filter {
            search: Some("BETA".into()),
            ..Default::default()
        },
        Filter {
            search: Some("PROMPT number 12 Ü".into()),
            ..Default::default()
        },
        Filter {
            search: Some("100%_".into()),
            ..Default::default()
        },
        // Whole hours (rollup only).
        Filter {
            from: Some(Timestamp(T0 + 5 * h)),
            to: Some(Timestamp(T0 + 30 * h)),
            ..Default::default()
        },
        // Partial hours at both ends (rollup + edges), with other filters.
        Filter {
            from: Some(Timestamp(T0 + 5 * h + 1_234_567)),
            to: Some(Timestamp(T0 + 40 * h + 999)),
            decision: Some("complex_agentic".into()),
            ..Default::default()
        },
        // Whole days inside, whole hours around them, partial hours at the ends.
        Filter {
            from: Some(Timestamp(T0 + 2 * h - 5)),
            to: Some(Timestamp(T0 + 70 * h + 300_000)),
            streamed: Some(false),
            ..Default::default()
        },
        // Inside one hour (edges only).
        Filter {
            from: Some(Timestamp(T0 + 10 * h + 60_000)),
            to: Some(Timestamp(T0 + 10 * h + 1_800_000)),
            ..Default::default()
        },
        Filter {
            from: Some(Timestamp(T0 + 50 * h + 7)),
            ..Default::default()
        },
        Filter {
            to: Some(Timestamp(T0 + 20 * h - 7)),
            search: Some("req-".into()),
            ..Default::default()
        },
    ]
}

fn list_filters_match_the_oracle(store: &dyn ReplayStore) {
    let recs = sample_records(400, 3);
    store.insert_batch(&recs).unwrap();
    for f in filters() {
        let expected = newest_first(recs.iter().filter(|r| f.matches(r)).cloned().collect());
        let got: Vec<String> = all_pages(store, &f, true)
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(got, expected, "filter {f:?}");
        let page = store
            .list(&ListQuery {
                filter: f.clone(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.total, expected.len() as u64, "total for {f:?}");
    }
}

/// The aggregates computed the obvious way, record by record.
fn oracle(recs: &[ReplayRecord], q: &AggQuery) -> Aggregates {
    let rs: Vec<&ReplayRecord> = recs.iter().filter(|r| q.filter.matches(r)).collect();
    let unknown = |s: &str| {
        if s.is_empty() {
            "Unknown".to_string()
        } else {
            s.to_string()
        }
    };
    let mut by_cur: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    let mut models: HashMap<String, i64> = HashMap::new();
    let mut decisions: HashMap<String, i64> = HashMap::new();
    let mut sig: BTreeMap<String, i64> = BTreeMap::new();
    let (mut tin, mut tout, mut with_usage) = (0, 0, 0);
    let mut tok_d: HashMap<String, (i64, i64)> = HashMap::new();
    let mut tok_m: HashMap<String, (i64, i64)> = HashMap::new();
    let bh = q.bucket.unwrap().hours() * 3_600_000;
    let mut points: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for r in &rs {
        *models.entry(unknown(&r.selected_model)).or_default() += 1;
        *decisions.entry(unknown(&r.decision)).or_default() += 1;
        for f in vsr_replay::record::DISTRIBUTION_FAMILIES {
            let n = r.signals.family(f).len() as i64;
            if n > 0 {
                *sig.entry(f.to_string()).or_default() += n;
            }
        }
        let (p, c) = (
            r.prompt_tokens.unwrap_or(0) as i64,
            r.completion_tokens.unwrap_or(0) as i64,
        );
        let pt = points.entry(r.timestamp.0.div_euclid(bh)).or_default();
        pt.0 += 1;
        pt.1 += p;
        pt.2 += c;
        if r.has_usage() {
            with_usage += 1;
            tin += p;
            tout += c;
            let e = tok_d.entry(unknown(&r.decision)).or_default();
            e.0 += p;
            e.1 += c;
            let e = tok_m.entry(unknown(&r.selected_model)).or_default();
            e.0 += p;
            e.1 += c;
        }
        if r.has_cost() {
            let e = by_cur.entry(r.currency.clone()).or_default();
            e.0 += 1;
            e.1 += to_nanos(r.actual_cost.unwrap());
            e.2 += to_nanos(r.baseline_cost.unwrap());
            e.3 += to_nanos(r.cost_savings.unwrap());
        }
    }
    let (cur, c) = by_cur
        .iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.0.cmp(a.0)))
        .map(|(k, v)| (k.clone(), *v))
        .unwrap_or(("USD".into(), (0, 0, 0, 0)));
    let nv = |m: HashMap<String, i64>, top: usize| {
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(name, value)| vsr_replay::query::NameValue { name, value })
            .collect();
        v.sort_by(|a, b| b.value.cmp(&a.value).then(a.name.cmp(&b.name)));
        v.truncate(top);
        v
    };
    let te = |m: HashMap<String, (i64, i64)>| {
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(name, (i, o))| vsr_replay::query::TokenEntry {
                name,
                input_tokens: i,
                output_tokens: o,
                total_tokens: i + o,
            })
            .collect();
        v.sort_by(|a, b| {
            b.total_tokens
                .cmp(&a.total_tokens)
                .then(a.name.cmp(&b.name))
        });
        v.truncate(8);
        v
    };
    let n = rs.len() as i64;
    let all_models: BTreeSet<String> = recs
        .iter()
        .flat_map(|r| [r.selected_model.clone(), r.original_model.clone()])
        .filter(|m| !m.is_empty())
        .collect();
    let all_decisions: BTreeSet<String> = recs
        .iter()
        .map(|r| r.decision.clone())
        .filter(|d| !d.is_empty())
        .collect();
    Aggregates {
        object: "router_replay.aggregate".into(),
        record_count: n,
        summary: vsr_replay::query::CostSummary {
            total_saved: c.3 as f64 / 1e9,
            baseline_spend: c.2 as f64 / 1e9,
            actual_spend: c.1 as f64 / 1e9,
            currency: cur,
            saved_percent: (c.2 != 0).then(|| c.3 as f64 / c.2 as f64 * 100.0),
            cost_record_count: c.0,
            excluded_record_count: n - c.0,
        },
        model_selection: nv(models, 10),
        decision_distribution: nv(decisions, usize::MAX),
        signal_distribution: nv(sig.into_iter().collect(), usize::MAX),
        token_volume: vsr_replay::query::TokenVolume {
            input_tokens: tin,
            output_tokens: tout,
            total_tokens: tin + tout,
            excluded_record_count: n - with_usage,
        },
        token_breakdown: vsr_replay::query::TokenBreakdown {
            by_decision: te(tok_d),
            by_selected_model: te(tok_m),
        },
        time_series: vsr_replay::query::TimeSeries {
            bucket: q.bucket.unwrap(),
            points: vec![],
        },
        available_decisions: all_decisions.into_iter().collect(),
        available_models: all_models.into_iter().collect(),
    }
    .with_points(points, bh)
}

trait WithPoints {
    fn with_points(self, p: BTreeMap<i64, (i64, i64, i64)>, bh: i64) -> Self;
}

impl WithPoints for Aggregates {
    fn with_points(mut self, p: BTreeMap<i64, (i64, i64, i64)>, bh: i64) -> Self {
        self.time_series.points = p
            .into_iter()
            .map(|(b, (n, i, o))| vsr_replay::query::TimePoint {
                start: Timestamp(b * bh),
                record_count: n,
                input_tokens: i,
                output_tokens: o,
                actual_spend: 0.0,
                baseline_spend: 0.0,
                total_saved: 0.0,
            })
            .collect();
        self
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn assert_aggregates(got: &Aggregates, want: &Aggregates, what: &str) {
    assert_eq!(got.record_count, want.record_count, "{what}");
    let (g, w) = (&got.summary, &want.summary);
    assert!(
        close(g.total_saved, w.total_saved)
            && close(g.baseline_spend, w.baseline_spend)
            && close(g.actual_spend, w.actual_spend),
        "{what}: {g:?} vs {w:?}"
    );
    assert_eq!(
        (g.cost_record_count, g.excluded_record_count, &g.currency),
        (w.cost_record_count, w.excluded_record_count, &w.currency),
        "{what}"
    );
    assert_eq!(
        g.saved_percent.is_some(),
        w.saved_percent.is_some(),
        "{what}"
    );
    assert_eq!(got.model_selection, want.model_selection, "{what}");
    assert_eq!(
        got.decision_distribution, want.decision_distribution,
        "{what}"
    );
    assert_eq!(got.signal_distribution, want.signal_distribution, "{what}");
    assert_eq!(got.token_volume, want.token_volume, "{what}");
    assert_eq!(got.token_breakdown, want.token_breakdown, "{what}");
    assert_eq!(got.time_series.bucket, want.time_series.bucket, "{what}");
    let strip = |a: &Aggregates| {
        a.time_series
            .points
            .iter()
            .map(|p| (p.start, p.record_count, p.input_tokens, p.output_tokens))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(got), strip(want), "{what}");
    // The series adds up to the summary (same currency).
    let pts = &got.time_series.points;
    assert!(
        close(pts.iter().map(|p| p.total_saved).sum(), g.total_saved),
        "{what}"
    );
    assert!(
        close(pts.iter().map(|p| p.baseline_spend).sum(), g.baseline_spend),
        "{what}"
    );
    assert_eq!(got.available_decisions, want.available_decisions, "{what}");
    assert_eq!(got.available_models, want.available_models, "{what}");
}

fn aggregates_match_the_oracle(store: &dyn ReplayStore) {
    let recs = sample_records(500, 4);
    store.insert_batch(&recs).unwrap();
    for f in filters() {
        for bucket in [Bucket::Hour, Bucket::Day] {
            let q = AggQuery {
                filter: f.clone(),
                bucket: Some(bucket),
            };
            let got = store.aggregate(&q).unwrap();
            assert_aggregates(&got, &oracle(&recs, &q), &format!("{f:?} {bucket:?}"));
        }
    }
    // The EUR record is excluded from the USD sums rather than added to them.
    let all = store.aggregate(&AggQuery::default()).unwrap();
    assert_eq!(all.summary.currency, "USD");
    assert!(all.summary.saved_percent.unwrap() > 0.0);
    assert_eq!(all.time_series.bucket, Bucket::Day);
    assert!(all.model_selection.iter().any(|m| m.name == MODELS[0]));
    assert_eq!(all.available_decisions, {
        let mut d = DECISIONS.map(String::from).to_vec();
        d.sort();
        d
    });
}

fn retention_keeps_aggregates_consistent(store: &dyn ReplayStore) {
    let recs = sample_records(300, 5);
    store.insert_batch(&recs).unwrap();
    let newest_ts = recs.iter().map(|r| r.timestamp.0).max().unwrap();
    let mut keep: Vec<ReplayRecord> = recs.clone();
    let sort = |v: &mut Vec<ReplayRecord>| {
        v.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then_with(|| b.id.cmp(&a.id)))
    };

    // Age: nothing older than 48 h before the newest record.
    let now = Timestamp(newest_ts + 1);
    let age = Retention {
        max_age: Some(Duration::from_secs(48 * 3600)),
        ..Default::default()
    };
    let gone = store.enforce_retention(&age, now).unwrap();
    keep.retain(|r| r.timestamp.0 >= now.0 - 48 * 3_600_000);
    assert_eq!(gone as usize, recs.len() - keep.len());

    // Per decision: at most 10 "simple".
    let per = Retention {
        per_decision_max_records: [("simple".to_string(), 10)].into(),
        ..Default::default()
    };
    store.enforce_retention(&per, now).unwrap();
    sort(&mut keep);
    let mut simple = 0;
    keep.retain(|r| {
        r.decision != "simple" || {
            simple += 1;
            simple <= 10
        }
    });

    // Global: newest 100.
    let max = Retention {
        max_records: Some(100),
        ..Default::default()
    };
    store.enforce_retention(&max, now).unwrap();
    keep.truncate(100);
    assert_eq!(store.count().unwrap(), 100);
    let ids: Vec<String> = all_pages(store, &Filter::default(), true)
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, keep.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    // Rollups were decremented with the deleted rows.
    for f in filters().into_iter().take(8) {
        let q = AggQuery {
            filter: f.clone(),
            bucket: Some(Bucket::Hour),
        };
        let want = oracle(&keep, &q);
        assert_aggregates(
            &store.aggregate(&q).unwrap(),
            &want,
            &format!("after retention {f:?}"),
        );
    }
    // Idempotent.
    assert_eq!(store.enforce_retention(&max, now).unwrap(), 0);
}

fn http_api_shapes_and_errors(store: &dyn ReplayStore) {
    let recs = sample_records(30, 6);
    store.insert_batch(&recs).unwrap();
    let q = |s: &str| http::parse_query(s);
    let r = http::handle(
        store,
        "GET",
        "/v1/router_replay",
        &q("limit=5&cache_status=all"),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    for key in [
        "object",
        "count",
        "total",
        "limit",
        "offset",
        "has_more",
        "next_offset",
        "next_cursor",
        "data",
    ] {
        assert!(r.body.get(key).is_some(), "list lacks {key}: {}", r.body);
    }
    assert_eq!(r.body["object"], "router_replay.list");
    assert_eq!(r.body["data"].as_array().unwrap().len(), 5);
    let id = r.body["data"][0]["id"].as_str().unwrap().to_string();
    let one = http::handle(store, "GET", &format!("/v1/router_replay/{id}/"), &[]).unwrap();
    assert_eq!(
        (one.status, one.body["id"].as_str()),
        (200, Some(id.as_str()))
    );
    let agg = http::handle(
        store,
        "GET",
        "/v1/router_replay/aggregate",
        &q("decision=simple"),
    )
    .unwrap();
    assert_eq!(agg.status, 200);
    for key in [
        "record_count",
        "summary",
        "model_selection",
        "decision_distribution",
        "signal_distribution",
        "token_volume",
        "token_breakdown",
        "available_decisions",
        "available_models",
    ] {
        assert!(agg.body.get(key).is_some(), "aggregate lacks {key}");
    }
    let missing = http::handle(store, "GET", "/v1/router_replay/ffff", &[]).unwrap();
    assert_eq!(
        (missing.status, missing.body["error"]["message"].as_str()),
        (404, Some("replay record not found"))
    );
    assert_eq!(
        http::handle(store, "POST", "/v1/router_replay", &[])
            .unwrap()
            .status,
        405
    );
    let bad = http::handle(store, "GET", "/v1/router_replay", &q("cache_status=warm")).unwrap();
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cache_status")
    );
    assert_eq!(
        http::handle(store, "GET", "/v1/router_replay", &q("limit=0"))
            .unwrap()
            .status,
        400
    );
    assert!(http::handle(store, "GET", "/v1/models", &[]).is_none());
}

fn reopen_keeps_schema_and_data(store: &dyn ReplayStore) {
    // Opening the same database again runs no migration twice and sees the data.
    let recs = sample_records(5, 7);
    store.insert_batch(&recs).unwrap();
    match store.backend() {
        "sqlite" => {
            let page = store.list(&ListQuery::default()).unwrap();
            assert_eq!(page.total, 5);
        }
        _ => assert_eq!(store.count().unwrap(), 5),
    }
}

#[test]
fn sqlite_reopen_migrates_once() {
    let dir = crate::common::temp_dir("vsr_replay_reopen");
    let path = dir.join("replay.db");
    {
        let s = vsr_replay::SqliteStore::open(&path).unwrap();
        s.insert_batch(&sample_records(4, 8)).unwrap();
    }
    let s = vsr_replay::SqliteStore::open(&path).unwrap();
    assert_eq!(s.count().unwrap(), 4);
    assert_eq!(s.integrity_check().unwrap(), "ok");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sqlite_open_error_names_the_path() {
    let dir = crate::common::temp_dir("vsr_replay_bad");
    std::fs::write(dir.join("file"), "x").unwrap();
    let err = match vsr_replay::SqliteStore::open(dir.join("file/replay.db")) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a database under a file"),
    };
    assert!(err.contains("file/replay.db"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

fn large_purge_runs_in_chunks(store: &dyn ReplayStore) {
    // More than one delete chunk (5,000) goes in one retention pass.
    let recs = sample_records(12_000, 9);
    for chunk in recs.chunks(2_000) {
        store.insert_batch(chunk).unwrap();
    }
    let r = Retention {
        max_records: Some(700),
        ..Default::default()
    };
    assert_eq!(
        store.enforce_retention(&r, Timestamp::now()).unwrap(),
        11_300
    );
    assert_eq!(store.count().unwrap(), 700);
    let agg = store
        .aggregate(&AggQuery {
            bucket: Some(Bucket::Hour),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(agg.record_count, 700);
    assert_eq!(
        agg.time_series
            .points
            .iter()
            .map(|p| p.record_count)
            .sum::<i64>(),
        700
    );
}

#[test]
fn postgres_replicas_share_one_store_consistently() {
    // Two routers (two stores on one schema) insert and purge at the same time; the rollups
    // must still agree with the rows.
    let Some(url) = crate::common::postgres_url() else {
        return;
    };
    let schema = crate::common::unique("vsr_replicas");
    let a = std::sync::Arc::new(vsr_replay::PostgresStore::connect(&url, Some(&schema)).unwrap());
    let b = std::sync::Arc::new(vsr_replay::PostgresStore::connect(&url, Some(&schema)).unwrap());
    let recs = sample_records(3000, 21);
    let retention = Retention {
        max_records: Some(2000),
        ..Default::default()
    };
    let handles: Vec<_> = [(a.clone(), 0usize), (b.clone(), 1usize)]
        .into_iter()
        .map(|(store, half)| {
            let mine: Vec<ReplayRecord> = recs.iter().skip(half).step_by(2).cloned().collect();
            let retention = retention.clone();
            std::thread::spawn(move || {
                for chunk in mine.chunks(100) {
                    store.insert_batch(chunk).unwrap();
                    store
                        .enforce_retention(&retention, Timestamp::now())
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    a.enforce_retention(&retention, Timestamp::now()).unwrap();
    let stored = all_pages(&*a, &Filter::default(), true);
    assert_eq!(stored.len(), 2000);
    let q = AggQuery {
        filter: Filter::default(),
        bucket: Some(Bucket::Hour),
    };
    let want = oracle(&stored, &q);
    assert_aggregates(&b.aggregate(&q).unwrap(), &want, "replicas");
    drop((a, b));
    let _ = vsr_replay::PostgresStore::drop_schema(&url, &schema);
}
