use std::time::Duration;

use serde_json::{Value, json};
use vsr_app::Supervisor;
use vsr_server::sim::SimOptions;
use vsr_testkit::TempDir;
use vsr_testkit::http::send;

use crate::common::{Api, Session, app_options, credentials, start_dashboard};

/// Two priced aliases; math goes to the expensive one; both decisions record with the prompt.
pub(crate) const CONFIG: &str = r#"version: v0.3
listeners:
  - {name: http, address: 127.0.0.1, port: 8899}
providers:
  defaults: {default_model: small}
  models:
    - name: small
      pricing: {currency: USD, prompt_per_1m: 0.1, completion_per_1m: 0.2}
      backend_refs: [{name: b, endpoint: "127.0.0.1:9"}]
    - name: big
      pricing: {currency: USD, prompt_per_1m: 2.0, completion_per_1m: 8.0}
      backend_refs: [{name: b, endpoint: "127.0.0.1:9"}]
routing:
  modelCards: [{name: small}, {name: big}]
  signals:
    keywords:
      - {name: math_kw, operator: OR, keywords: [math, algebra]}
      - {name: poem_kw, operator: OR, keywords: [poem, haiku]}
  decisions:
    - name: math_route
      priority: 100
      rules: {operator: AND, conditions: [{type: keyword, name: math_kw}]}
      modelRefs: [{model: big}]
      plugins:
        - type: router_replay
          configuration: {enabled: true, capture_request_body: true, capture_response_body: true}
    - name: poem_route
      priority: 50
      rules: {operator: AND, conditions: [{type: keyword, name: poem_kw}]}
      modelRefs: [{model: small}]
      plugins:
        - type: router_replay
          configuration: {enabled: true, capture_request_body: true}
"#;

async fn eval(api: &Api, who: &Session, text: &str, yaml: Option<&str>) -> Value {
    let mut body = json!({"text": text});
    if let Some(y) = yaml {
        body["yaml"] = json!(y);
    }
    let r = api.call(Some(who), "POST", "/api/eval", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn record_of(api: &Api, who: &Session, id: &str) -> Value {
    for _ in 0..100 {
        let r = api
            .call(
                Some(who),
                "GET",
                &format!("/api/records/{id}"),
                &Value::Null,
            )
            .await;
        if r.status == 200 {
            return r.json();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("record {id} never appeared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_playground_insights_deploy_and_rollback() {
    let dir = TempDir::new("dash-flow");
    let sim = vsr_server::sim::start(
        ([127, 0, 0, 1], 0).into(),
        SimOptions {
            models: vec!["small".into(), "big".into()],
            ..Default::default()
        },
    )
    .await
    .expect("sim starts");
    let backend = format!("http://{}", sim.addr);
    // The dashboard's users also guard the router's reload and replay endpoints.
    let creds = credentials(dir.path());
    let mut opts = app_options(dir.path());
    opts.management_auth = Some(creds.clone());
    let sup = Supervisor::new(opts, None);
    let running = start_dashboard(dir.path(), sup.clone(), creds).await;
    let api = Api::new(running.addr);
    let admin = api.bootstrap("ana", "ana-password").await;

    // Setup: the backend lists its models; review finds nothing missing; bad YAML is placed.
    let models = api
        .call(
            Some(&admin),
            "POST",
            "/api/setup/backend",
            &json!({"url": backend}),
        )
        .await;
    assert_eq!(models.status, 200, "{}", models.text());
    assert_eq!(models.json()["models"], json!(["small", "big"]));
    let review = api
        .call(
            Some(&admin),
            "POST",
            "/api/setup/review",
            &json!({"yaml": CONFIG, "backend_url": backend}),
        )
        .await
        .json();
    assert_eq!(review["valid"], true, "{review}");
    assert_eq!(review["can_activate"], true);
    assert_eq!(review["missing_aliases"], json!([]));
    let broken = CONFIG.replace("priority: 50", "priority: fifty");
    let review = api
        .call(
            Some(&admin),
            "POST",
            "/api/setup/review",
            &json!({"yaml": broken}),
        )
        .await
        .json();
    assert_eq!(review["valid"], false);
    let d = &review["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["severity"].as_str()),
        (Some(28), Some("error")),
        "{review}"
    );
    let act = api
        .call(
            Some(&admin),
            "POST",
            "/api/setup/activate",
            &json!({"yaml": CONFIG, "backend_url": backend, "api_key": "sk-test-secret"}),
        )
        .await;
    assert_eq!(act.status, 200, "{}", act.text());
    assert!(dir.join("config.yaml").is_file());
    let state = api
        .call(Some(&admin), "GET", "/api/auth/state", &Value::Null)
        .await
        .json();
    assert_eq!(state["setup_mode"], false);

    // Eval and why-not.
    let e = eval(&api, &admin, "a math question", None).await;
    assert_eq!(e["result"]["decision"], "math_route");
    assert_eq!(e["result"]["model"], "big");
    assert_eq!(e["why_not"]["decision"], "poem_route");
    assert_eq!(e["why_not"]["failed"][0]["signal"], "keyword:poem_kw");

    // Playground: streamed through the router, recorded with cost and savings.
    let chat = json!({"model": "MoM", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "help with my algebra homework"}]});
    let r = api
        .call(Some(&admin), "POST", "/api/playground/chat", &chat)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-vsr-selected-decision"), Some("math_route"));
    assert!(r.text().contains("data: [DONE]"), "{}", r.text());
    let math_id = r.header("x-vsr-replay-id").expect("replay id").to_string();
    let chat2 = json!({"model": "MoM", "messages": [{"role": "user", "content": "write a haiku"}]});
    let r2 = api
        .call(Some(&admin), "POST", "/api/playground/chat", &chat2)
        .await;
    assert_eq!(r2.status, 200, "{}", r2.text());
    let poem_id = r2.header("x-vsr-replay-id").expect("replay id").to_string();
    let rec = record_of(&api, &admin, &poem_id).await;
    assert_eq!(rec["decision"], "poem_route");
    assert!(rec["cost_savings"].as_f64().unwrap_or(0.0) > 0.0, "{rec}");
    let rec = record_of(&api, &admin, &math_id).await;
    assert!(
        rec["request_body"]
            .as_str()
            .unwrap_or("")
            .contains("algebra"),
        "{rec}"
    );

    // Feedback is stored with the record.
    let fb = api
        .call(
            Some(&admin),
            "POST",
            &format!("/api/records/{math_id}/feedback"),
            &json!({"rating": "down"}),
        )
        .await;
    assert_eq!(fb.status, 204, "{}", fb.text());
    let rec = record_of(&api, &admin, &math_id).await;
    assert_eq!(rec["feedback"]["rating"], "down");
    assert_eq!(rec["feedback"]["by"], "ana");

    // Insights: both records, the savings.
    let ins = api
        .call(Some(&admin), "GET", "/api/insights", &Value::Null)
        .await
        .json();
    assert_eq!(ins["aggregates"]["record_count"], 2, "{ins}");
    assert!(
        ins["aggregates"]["summary"]["total_saved"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    let page = api
        .call(
            Some(&admin),
            "GET",
            "/api/records?decision=math_route",
            &Value::Null,
        )
        .await
        .json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");

    // A read user sees the records without bodies.
    let u = json!({"username": "viewer", "password": "viewer-pass", "role": "read"});
    assert_eq!(
        api.call(Some(&admin), "POST", "/api/users", &u)
            .await
            .status,
        201
    );
    let viewer = api.login("viewer", "viewer-pass").await;
    let seen = record_of(&api, &viewer, &math_id).await;
    assert!(seen.get("request_body").is_none(), "{seen}");
    assert_eq!(seen["decision"], "math_route");
    let deploy_as_viewer = api
        .call(
            Some(&viewer),
            "POST",
            "/api/config/deploy",
            &json!({"yaml": CONFIG}),
        )
        .await;
    assert_eq!(deploy_as_viewer.status, 403);

    // Builder: the live config as DSL; a DSL error is placed; the draft's impact and probes.
    let cur = api
        .call(Some(&admin), "GET", "/api/config", &Value::Null)
        .await
        .json();
    let dsl = cur["dsl"].as_str().expect("dsl").to_string();
    // The backend key is write-only: never sent to the browser, kept on deploy.
    let shown = cur["yaml"].as_str().unwrap();
    assert!(
        !shown.contains("sk-test-secret") && shown.contains("<redacted api key #1>"),
        "{shown}"
    );
    assert!(
        std::fs::read_to_string(dir.join("config.yaml"))
            .unwrap()
            .contains("sk-test-secret")
    );
    assert!(dsl.contains("math_route"), "{dsl}");
    // A typo in the rule's reference (the signal's declaration keeps its name).
    let at = dsl.rfind("math_kw").expect("a reference");
    let typo = format!("{}maht_kw{}", &dsl[..at], &dsl[at + "math_kw".len()..]);
    let bad = api
        .call(
            Some(&admin),
            "POST",
            "/api/dsl/compile",
            &json!({"dsl": typo}),
        )
        .await
        .json();
    let diags = bad["diagnostics"].as_array().expect("diagnostics");
    assert!(
        diags
            .iter()
            .any(|d| d["message"].as_str().unwrap_or("").contains("maht_kw")
                && d["line"].as_u64() > Some(0)),
        "{bad}"
    );
    let draft = cur["yaml"]
        .as_str()
        .unwrap()
        .replace("    - model: big\n", "    - model: small\n");
    assert_ne!(draft, cur["yaml"].as_str().unwrap(), "the draft differs");
    let manifest = "name: t\ndecisions:\n  - id: m\n    expected_decision: math_route\n    expected_alias: big\n    variants: [{id: a, query: 'math please'}]\n";
    let live_probes = api
        .call(
            Some(&admin),
            "POST",
            "/api/probes/run",
            &json!({"manifest": manifest}),
        )
        .await
        .json();
    assert_eq!(
        (
            live_probes["passed"].as_u64(),
            live_probes["total"].as_u64()
        ),
        (Some(1), Some(1)),
        "{live_probes}"
    );
    let draft_probes = api
        .call(
            Some(&admin),
            "POST",
            "/api/probes/run",
            &json!({"manifest": manifest, "yaml": draft}),
        )
        .await
        .json();
    assert_eq!(draft_probes["passed"], 0, "{draft_probes}");
    let pv = api
        .call(
            Some(&admin),
            "POST",
            "/api/config/preview",
            &json!({"yaml": draft}),
        )
        .await;
    assert_eq!(pv.status, 200, "{}", pv.text());
    let pv = pv.json();
    // The diff is of meaning: one model changed, one line each way.
    let diff_text = pv["diff"].as_str().unwrap();
    let added: Vec<&str> = diff_text
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    let removed: Vec<&str> = diff_text
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    assert_eq!((added.len(), removed.len()), (1, 1), "{diff_text}");
    assert!(
        added[0].contains("small") && removed[0].contains("big"),
        "{diff_text}"
    );
    let impact = &pv["impact"];
    assert_eq!(
        (impact["covered"].as_u64(), impact["changed"].as_u64()),
        (Some(2), Some(1)),
        "{impact}"
    );
    assert!(
        impact["cost_after"].as_f64() < impact["cost_before"].as_f64(),
        "{impact}"
    );

    // Deploy, then the live router follows; roll back to the activated version.
    let versions = api
        .call(Some(&admin), "GET", "/api/config/versions", &Value::Null)
        .await
        .json();
    let first = versions[0]["id"].as_i64().expect("the activated version");
    let dep = api
        .call(
            Some(&admin),
            "POST",
            "/api/config/deploy",
            &json!({"yaml": draft, "message": "math to small"}),
        )
        .await;
    assert_eq!(dep.status, 200, "{}", dep.text());
    assert_eq!(
        eval(&api, &admin, "a math question", None).await["result"]["model"],
        "small"
    );
    let bad_deploy = api
        .call(
            Some(&admin),
            "POST",
            "/api/config/deploy",
            &json!({"yaml": broken}),
        )
        .await;
    assert_eq!(bad_deploy.status, 422);
    assert!(
        bad_deploy.json()["diagnostics"][0]["line"]
            .as_u64()
            .is_some()
    );
    let rb = api
        .call(
            Some(&admin),
            "POST",
            "/api/config/rollback",
            &json!({"version": first}),
        )
        .await;
    assert_eq!(rb.status, 200, "{}", rb.text());
    assert_eq!(
        eval(&api, &admin, "a math question", None).await["result"]["model"],
        "big"
    );
    let versions = api
        .call(Some(&admin), "GET", "/api/config/versions", &Value::Null)
        .await
        .json();
    assert_eq!(versions.as_array().map(Vec::len), Some(3), "{versions}");
    assert_eq!(
        versions[0]["message"],
        format!("rollback to version {first}")
    );
    let diff = api
        .call(
            Some(&admin),
            "GET",
            &format!("/api/config/diff?from={first}&to={}", versions[1]["id"]),
            &Value::Null,
        )
        .await
        .json();
    assert!(
        diff["diff"]
            .as_str()
            .unwrap()
            .contains("\n-    - model: big\n"),
        "{diff}"
    );
    assert!(dir.join("config.yaml.bak").is_file());
    assert!(
        std::fs::read_to_string(dir.join("config.yaml"))
            .unwrap()
            .contains("sk-test-secret")
    );
    let v = api
        .call(
            Some(&admin),
            "GET",
            &format!("/api/config/versions/{first}"),
            &Value::Null,
        )
        .await
        .json();
    assert!(
        !v["yaml"].as_str().unwrap().contains("sk-test-secret"),
        "{v}"
    );

    // The router's own reload and replay API take the same credentials.
    let data_plane = format!("http://{}", sup.live().expect("live").data_plane);
    let c = vsr_testkit::http::client();
    let reload = format!("{data_plane}/config/reload");
    let replay = format!("{data_plane}/v1/router_replay");
    assert_eq!(send(&c, "POST", &reload, "", &[]).await.status, 401);
    assert_eq!(send(&c, "GET", &replay, "", &[]).await.status, 401);
    let viewer_cookie = [("cookie", viewer.cookie.as_str())];
    assert_eq!(
        send(&c, "GET", &replay, "", &viewer_cookie).await.status,
        403
    );
    let admin_cookie = [("cookie", admin.cookie.as_str())];
    assert_eq!(
        send(&c, "POST", &reload, "", &admin_cookie).await.status,
        403,
        "cookie without CSRF"
    );
    let t = api
        .call(Some(&admin), "POST", "/api/tokens", &json!({"name": "ops"}))
        .await
        .json();
    let bearer = format!("Bearer {}", t["token"].as_str().unwrap());
    let auth = [("authorization", bearer.as_str())];
    assert_eq!(send(&c, "POST", &reload, "", &auth).await.status, 200);
    assert_eq!(send(&c, "GET", &replay, "", &auth).await.status, 200);
    assert_eq!(
        send(&c, "GET", &format!("{data_plane}/health"), "", &[])
            .await
            .status,
        200
    );

    // Topology, status, logs, calibration answer for the live config.
    let topo = api
        .call(Some(&viewer), "GET", "/api/topology", &Value::Null)
        .await
        .json();
    assert_eq!(topo["decisions"][0]["signals"], json!(["keyword:math_kw"]));
    let st = api
        .call(Some(&viewer), "GET", "/api/status", &Value::Null)
        .await
        .json();
    assert_eq!(st["backends"].as_array().map(Vec::len), Some(2), "{st}");
    assert_eq!(st["replay"]["records"], 2);
    let cal = api
        .call(Some(&viewer), "GET", "/api/calibration", &Value::Null)
        .await
        .json();
    assert_eq!(cal["records"], 2, "{cal}");
    let logs = api
        .call(Some(&viewer), "GET", "/api/logs?level=loud", &Value::Null)
        .await;
    assert_eq!(logs.status, 400);

    drop(running);
    sup.shutdown().await;
}
