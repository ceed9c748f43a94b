//! Recipes through the running binary: an entrypoint model name is routed by its recipe
//! (header, decision, `/v1/models`, eval, replay record) while the auto names keep the
//! top-level profile; the same on the upstream mom-v1 recipe when its fixtures are present.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{Proc, http, serve_in, sim_backend, tempdir};

const CONFIG: &str = r#"version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899, timeout: 30s}
providers:
  defaults:
    default_model: cheap
  models:
    - name: cheap
      provider_model_id: cheap-up
      backend_refs:
        - {name: sim, endpoint: "SIM", protocol: http, weight: 1}
    - name: premium
      backend_refs:
        - {name: sim, endpoint: "SIM", protocol: http, weight: 1}
routing:
  modelCards: [{name: cheap}, {name: premium}]
  signals:
    keywords:
      - {name: code, operator: OR, keywords: [code]}
  decisions:
    - name: code_route
      priority: 100
      rules: {operator: AND, conditions: [{type: keyword, name: code}]}
      modelRefs: [{model: cheap}]
entrypoints:
  - model_names: [team/premium]
    recipe: premium_lane
recipes:
  - name: premium_lane
    description: Everything about code goes to the premium model.
    routing:
      signals:
        keywords:
          - {name: code, operator: OR, keywords: [code, review]}
      decisions:
        - name: premium_code
          priority: 10
          rules: {operator: AND, conditions: [{type: keyword, name: code}]}
          modelRefs: [{model: premium}]
          plugins:
            - type: router_replay
              configuration: {enabled: true}
"#;

fn chat(port: u16, model: &str, text: &str) -> crate::harness::Resp {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
    })
    .to_string();
    http(port, "POST", "/v1/chat/completions", Some(&body)).unwrap()
}

fn wait_for_record(port: u16, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http(port, "GET", &format!("/v1/router_replay/{id}"), None).unwrap();
        if r.status == 200 {
            return r.json();
        }
        assert!(Instant::now() < deadline, "record {id}: {}", r.body);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_entrypoint_name_is_routed_by_its_recipe() {
    let dir = tempdir("recipes");
    let sim = sim_backend(&dir);
    std::fs::write(
        dir.join("config.yaml"),
        CONFIG.replace("SIM", &format!("127.0.0.1:{}", sim.port)),
    )
    .unwrap();
    let router = serve_in(&dir, &[]);
    let port = router.port;

    let r = chat(port, "team/premium", "please review this code");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-vsr-selected-recipe"), Some("premium_lane"));
    assert_eq!(r.header("x-vsr-selected-decision"), Some("premium_code"));
    assert_eq!(r.header("x-vsr-selected-model"), Some("premium"));
    let id = r.header("x-vsr-replay-id").expect("replay id").to_string();
    let rec = wait_for_record(port, &id);
    assert_eq!(rec["recipe"], "premium_lane", "{rec}");
    assert_eq!(rec["decision"], "premium_code", "{rec}");
    assert_eq!(rec["original_model"], "team/premium", "{rec}");

    for auto in ["MoM", "auto"] {
        let r = chat(port, auto, "please review this code");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-vsr-selected-recipe"), None, "{auto}");
        assert_eq!(r.header("x-vsr-selected-decision"), Some("code_route"));
        assert_eq!(r.header("x-vsr-selected-model"), Some("cheap"));
    }
    // An explicit model is not routed.
    let r = chat(port, "premium", "please review this code");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-vsr-selected-recipe"), None);
    assert_eq!(r.header("x-vsr-selected-decision"), None);

    let models = http(port, "GET", "/v1/models", None).unwrap().json();
    let entry = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "team/premium")
        .unwrap_or_else(|| panic!("no entrypoint in {models}"))
        .clone();
    assert_eq!(entry["routing"]["recipe"], "premium_lane");

    let eval = |body: serde_json::Value| {
        http(port, "POST", "/api/v1/eval", Some(&body.to_string())).unwrap()
    };
    let e = eval(serde_json::json!({"text": "review this", "model": "team/premium"}));
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.json()["recipe"], "premium_lane");
    assert_eq!(e.json()["routing_decision"], "premium_code");
    let e = eval(serde_json::json!({"text": "review this"}));
    assert_eq!(e.json()["recipe"], "default");
    assert!(e.json().get("routing_decision").is_none(), "{}", e.body);
    let _ = std::fs::remove_dir_all(&dir);
}

/// mom-v1: `vllm-sr/mom-v1-flash` selects the `speed` recipe; `MoM` keeps the top-level
/// profile, which has no decisions (the default model). Needs the encoder and the fixtures.
#[test]
fn mom_v1_entrypoints_select_their_recipes() {
    let Some(models) = vsr_testkit::require_model(vsr_models::catalog::DEFAULT_MODEL)
        .and_then(|d| d.parent().map(Path::to_path_buf))
    else {
        return;
    };
    let Some(reference) =
        vsr_testkit::shared_file("reference/upstream-head-2026-08/mom-v1/config.yaml")
    else {
        vsr_testkit::missing("reference/upstream-head-2026-08/mom-v1/config.yaml not found");
        return;
    };
    let dir = tempdir("mom-v1");
    let ids = [
        "local/qwen3.5-9b",
        "local/qwen3.6-35b",
        "local/step-3.7-flash",
        "local/qwen3.5-122b",
        "local/mistral-small-4",
        "local/gpt-oss-120b",
        "local/glm-5.2",
    ];
    let sim = Proc::spawn(
        &dir,
        &["sim-backend", "--port", "0", "--models", &ids.join(",")],
        &[],
    );
    // Every backend on the sim; no Redis for replay.
    let text = std::fs::read_to_string(&reference).unwrap();
    let mut yaml = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("endpoint: ")
            && !rest.contains("://")
        {
            let indent = &line[..line.len() - t.len()];
            yaml.push_str(&format!("{indent}endpoint: 127.0.0.1:{}\n", sim.port));
        } else {
            yaml.push_str(line);
            yaml.push('\n');
        }
    }
    let yaml = yaml.replacen("store_backend: redis", "store_backend: memory", 1);
    std::fs::write(dir.join("config.yaml"), yaml).unwrap();
    let data = dir.join("data");
    let router = Proc::spawn(
        &dir,
        &[
            "serve",
            "--config",
            dir.join("config.yaml").to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-watch",
            "--no-dashboard",
        ],
        &[
            ("VSR_MODELS_DIR", models.to_str().unwrap()),
            ("VSR_DATA_DIR", data.to_str().unwrap()),
        ],
    );
    let query = "Produce a detailed architecture and comprehensive review for a multi-region \
                 cache that serves an e-commerce checkout API.";
    let r = chat(router.port, "vllm-sr/mom-v1-flash", query);
    assert_eq!(r.status, 200, "{}\n{}", r.body, router.log_text());
    assert_eq!(r.header("x-vsr-selected-recipe"), Some("speed"));
    assert_eq!(
        r.header("x-vsr-selected-decision"),
        Some("speed_heavy_workload")
    );
    let r = chat(router.port, "MoM", query);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-vsr-selected-recipe"), None);
    assert!(
        matches!(r.header("x-vsr-selected-decision"), None | Some("")),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("x-vsr-selected-model"), Some("local/qwen3.5-9b"));
    let _ = std::fs::remove_dir_all(&dir);
}
