//! Hot reload: validate, then swap atomically; invalid files are refused; no request fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn reload_under_load_drops_nothing() {
    let s1 = sim(&["a-up", "b"], |o| o.latency = Duration::from_millis(5)).await;
    let s2 = sim(&["a-up", "b"], |o| o.latency = Duration::from_millis(5)).await;
    let v1 = config_yaml(&[s1.addr.to_string()], &[s1.addr.to_string()], "", "30s");
    let v2 = config_yaml(&[s2.addr.to_string()], &[s2.addr.to_string()], "", "30s");
    let r = router_with(&v1, |_| {}).await;
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for i in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let url = format!("{}/v1/chat/completions", r.base);
        workers.push(tokio::spawn(async move {
            let c = client();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut body = chat(if i % 2 == 0 { "MoM" } else { "a" }, "hello");
                if n % 3 == 0 {
                    body["stream"] = json!(true);
                }
                n += 1;
                let rep = post(&c, &url, &body).await;
                let good = rep.status == 200
                    && (!body["stream"].as_bool().unwrap_or(false)
                        || rep.text().contains("[DONE]"));
                if good {
                    ok.fetch_add(1, Ordering::Relaxed)
                } else {
                    failed.fetch_add(1, Ordering::Relaxed)
                };
            }
        }));
    }
    let c = client();
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let next = if round % 2 == 0 { &v2 } else { &v1 };
        std::fs::write(&r.config, next).unwrap();
    }
    // An invalid file is refused and the running config kept.
    tokio::time::sleep(Duration::from_millis(250)).await;
    std::fs::write(
        &r.config,
        "providers: {models: [{name: a, reliability: {lb_policy: nope}}]}\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rep = post(&c, &format!("{}/config/reload", r.base), &json!({})).await;
    assert_eq!(rep.status, 400);
    assert!(
        rep.text().contains("unknown lb_policy") && rep.text().contains("nope"),
        "{}",
        rep.text()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during reload"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 40,
        "too little load: {}",
        ok.load(Ordering::Relaxed)
    );
    assert!(s1.stats.chat_requests.load(Ordering::Relaxed) > 0);
    assert!(s2.stats.chat_requests.load(Ordering::Relaxed) > 0);
    // The last valid config (v1 after four swaps) is still serving.
    let before = s1.stats.chat_requests.load(Ordering::Relaxed);
    assert_eq!(
        post(
            &c,
            &format!("{}/v1/chat/completions", r.base),
            &chat("a", "x")
        )
        .await
        .status,
        200
    );
    assert_eq!(s1.stats.chat_requests.load(Ordering::Relaxed), before + 1);
    let m = send(&c, "GET", &format!("{}/metrics", r.base), "", &[])
        .await
        .text();
    assert!(
        m.contains("vsr_config_reloads_total{result=\"error\"}"),
        "{m}"
    );
    assert!(m.contains("vsr_config_reloads_total{result=\"success\"}"));
}

#[tokio::test]
async fn explicit_reload_endpoint_applies_new_config() {
    let (r, _s) = simple().await;
    let c = client();
    let text = std::fs::read_to_string(&r.config)
        .unwrap()
        .replace("default_model: a", "default_model: b");
    std::fs::write(&r.config, text).unwrap();
    let rep = post(&c, &format!("{}/config/reload", r.base), &json!({})).await;
    assert_eq!(rep.status, 200, "{}", rep.text());
    assert_eq!(rep.json()["status"], "success");
    let cfg = send(&c, "GET", &format!("{}/config/router", r.base), "", &[])
        .await
        .json();
    assert_eq!(cfg["providers"]["defaults"]["default_model"], "b");
    let rep = post(
        &c,
        &format!("{}/v1/chat/completions", r.base),
        &chat("MoM", "hi"),
    )
    .await;
    assert_eq!(rep.header("x-vsr-selected-model"), Some("b"));
}
