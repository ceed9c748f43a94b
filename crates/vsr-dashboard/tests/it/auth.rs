use serde_json::{Value, json};
use vsr_app::Supervisor;
use vsr_testkit::TempDir;
use vsr_testkit::http::send;

use crate::common::{Api, Session, app_options, credentials, start_dashboard};

/// Every endpoint that changes something, with a body it would accept.
fn writes() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "POST",
            "/api/users",
            json!({"username": "x1", "password": "longenough", "role": "read"}),
        ),
        ("PATCH", "/api/users/reader", json!({"role": "admin"})),
        ("DELETE", "/api/users/reader", Value::Null),
        ("GET", "/api/users", Value::Null),
        ("GET", "/api/audit", Value::Null),
        (
            "POST",
            "/api/setup/backend",
            json!({"url": "http://127.0.0.1:9"}),
        ),
        (
            "POST",
            "/api/setup/review",
            json!({"yaml": "version: v0.3\n"}),
        ),
        (
            "POST",
            "/api/setup/activate",
            json!({"yaml": "version: v0.3\n", "backend_url": "http://127.0.0.1:9"}),
        ),
        (
            "POST",
            "/api/import",
            json!({"url": "http://127.0.0.1:9/x.yaml"}),
        ),
        (
            "POST",
            "/api/config/preview",
            json!({"yaml": "version: v0.3\n"}),
        ),
        (
            "POST",
            "/api/config/deploy",
            json!({"yaml": "version: v0.3\n", "message": "m"}),
        ),
        ("POST", "/api/config/rollback", json!({"version": 1})),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_credentials_a_role_and_csrf_and_sessions_survive_a_restart() {
    let dir = TempDir::new("dash-auth");
    let sup = Supervisor::new(app_options(dir.path()), None);
    let running = start_dashboard(dir.path(), sup.clone(), credentials(dir.path())).await;
    let api = Api::new(running.addr);

    let state = api
        .call(None, "GET", "/api/auth/state", &Value::Null)
        .await
        .json();
    assert_eq!(state["setup_mode"], true);
    assert_eq!(state["has_users"], false);
    assert_eq!(state["user"], Value::Null);

    // A short password is refused; then the first admin; a second bootstrap is refused.
    let short = api
        .call(
            None,
            "POST",
            "/api/auth/bootstrap",
            &json!({"username": "root", "password": "short"}),
        )
        .await;
    assert_eq!(short.status, 400, "{}", short.text());
    let admin = api.bootstrap("root", "s3cret-pass").await;
    let again = api
        .call(
            None,
            "POST",
            "/api/auth/bootstrap",
            &json!({"username": "evil", "password": "s3cret-pass"}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text());

    // CSRF: the admin's cookie without the header, or with a wrong one, cannot write.
    let body = json!({"username": "reader", "password": "reader-pass", "role": "read"});
    let url = format!("{}/api/users", api.base);
    for csrf in [None, Some("00ff")] {
        let mut h = vec![
            ("content-type", "application/json"),
            ("cookie", admin.cookie.as_str()),
        ];
        if let Some(c) = csrf {
            h.push(("x-csrf-token", c));
        }
        let r = send(&api.client, "POST", &url, &body.to_string(), &h).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "csrf_failed");
    }
    let created = api.call(Some(&admin), "POST", "/api/users", &body).await;
    assert_eq!(created.status, 201, "{}", created.text());

    // Wrong password: 401, same answer as an unknown user.
    for (u, p) in [("reader", "wrong-pass"), ("nobody", "reader-pass")] {
        let r = api
            .call(
                None,
                "POST",
                "/api/auth/login",
                &json!({"username": u, "password": p}),
            )
            .await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["code"], "bad_credentials");
    }
    let reader = api.login("reader", "reader-pass").await;

    for (method, path, body) in writes() {
        let anon = api.call(None, method, path, &body).await;
        assert_eq!(
            anon.status,
            401,
            "{method} {path} without credentials: {}",
            anon.text()
        );
        let read = api.call(Some(&reader), method, path, &body).await;
        assert_eq!(read.status, 403, "{method} {path} as read: {}", read.text());
        assert_eq!(read.json()["error"]["code"], "forbidden", "{method} {path}");
    }

    // Bearer tokens: no CSRF needed; a revoked or made-up token is refused.
    let t = api
        .call(Some(&admin), "POST", "/api/tokens", &json!({"name": "ci"}))
        .await;
    assert_eq!(t.status, 201, "{}", t.text());
    let token = t.json()["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let users = send(
        &api.client,
        "GET",
        &format!("{}/api/users", api.base),
        "",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(users.status, 200, "{}", users.text());
    assert_eq!(users.json().as_array().map(Vec::len), Some(2));
    let fake = send(
        &api.client,
        "GET",
        &format!("{}/api/users", api.base),
        "",
        &[("authorization", "Bearer vsr_nope")],
    )
    .await;
    assert_eq!(fake.status, 401);

    // The audit log names who did what.
    let audit = api
        .call(Some(&admin), "GET", "/api/audit", &Value::Null)
        .await
        .json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"user.create") && actions.contains(&"token.create"),
        "{actions:?}"
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["user"] == "root" || e["action"] == "auth.login")
    );

    // Restart: same data dir, same cookie still signs in; a logout ends it.
    drop(running);
    let running = start_dashboard(dir.path(), sup.clone(), credentials(dir.path())).await;
    let api = Api::new(running.addr);
    let state = api
        .call(Some(&admin), "GET", "/api/auth/state", &Value::Null)
        .await
        .json();
    assert_eq!(state["user"]["username"], "root", "{state}");
    assert_eq!(state["csrf"], admin.csrf.as_str());
    let out = api
        .call(Some(&admin), "POST", "/api/auth/logout", &Value::Null)
        .await;
    assert_eq!(out.status, 204);
    let state = api
        .call(Some(&admin), "GET", "/api/auth/state", &Value::Null)
        .await
        .json();
    assert_eq!(state["user"], Value::Null);
    let gone = api
        .call(Some(&admin), "GET", "/api/users", &Value::Null)
        .await;
    assert_eq!(gone.status, 401);

    // A tampered cookie is not a session.
    let forged = Session {
        cookie: admin.cookie.replace('a', "b"),
        csrf: admin.csrf.clone(),
    };
    let r = api
        .call(Some(&forged), "GET", "/api/users", &Value::Null)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_paths_answer_json_404_and_the_app_is_served_elsewhere() {
    let dir = TempDir::new("dash-paths");
    let sup = Supervisor::new(app_options(dir.path()), None);
    let running = start_dashboard(dir.path(), sup, credentials(dir.path())).await;
    let api = Api::new(running.addr);
    let r = api.call(None, "GET", "/api/nope", &Value::Null).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    let page = api.call(None, "GET", "/insights/abc", &Value::Null).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap_or("")
            .contains("default-src 'self'")
    );
    assert!(
        page.text().contains("<div id=\"root\">") || page.text().contains("id=\"root\""),
        "{}",
        page.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_refuses_every_config_change_even_for_admins() {
    let dir = TempDir::new("dash-readonly");
    let sup = Supervisor::new(app_options(dir.path()), None);
    let running = vsr_dashboard::start(
        vsr_dashboard::DashboardOptions {
            listen: ([127, 0, 0, 1], 0).into(),
            data_dir: dir.join("data"),
            readonly: true,
            allow_private_import: false,
            platform: None,
        },
        sup,
        credentials(dir.path()),
        None,
    )
    .await
    .unwrap();
    let api = Api::new(running.addr);
    let r = api
        .call(
            None,
            "POST",
            "/api/auth/bootstrap",
            &json!({"username": "root", "password": "s3cret-pass"}),
        )
        .await;
    let admin = Session::from_reply(&r);
    let state = api
        .call(Some(&admin), "GET", "/api/auth/state", &Value::Null)
        .await
        .json();
    assert_eq!(state["readonly"], true);
    for (method, path, body) in writes().into_iter().filter(|(_, p, _)| {
        p.starts_with("/api/setup")
            || p.starts_with("/api/import")
            || p.starts_with("/api/config/deploy")
            || p.starts_with("/api/config/rollback")
    }) {
        let r = api.call(Some(&admin), method, path, &body).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "readonly", "{method} {path}");
    }
}
