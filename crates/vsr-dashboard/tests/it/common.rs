use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use vsr_app::{AppOptions, Supervisor};
use vsr_dashboard::auth::Credentials;
use vsr_dashboard::{DashboardOptions, Running};
use vsr_testkit::http::{HttpClient, Reply, send};

pub fn app_options(dir: &Path) -> AppOptions {
    AppOptions {
        config: dir.join("config.yaml"),
        demo: false,
        listen_override: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        max_body_bytes: None,
        classifier_queue: 64,
        watch: false,
        encoder: vsr_models::HandleOptions::default(),
        data_dir: dir.join("data"),
        management_auth: None,
        shared_db: None,
        routes: Default::default(),
    }
}

pub fn credentials(dir: &Path) -> Arc<Credentials> {
    Credentials::open(&dir.join("data")).expect("credentials")
}

pub async fn start_dashboard(dir: &Path, sup: Arc<Supervisor>, creds: Arc<Credentials>) -> Running {
    vsr_dashboard::start(
        DashboardOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.join("data"),
            readonly: false,
            allow_private_import: true,
            platform: None,
        },
        sup,
        creds,
        None,
    )
    .await
    .expect("dashboard starts")
}

/// A signed-in browser: the session cookie and its CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    pub fn from_reply(r: &Reply) -> Session {
        let set = r.header("set-cookie").expect("a session cookie");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap_or_default().to_string();
        Session {
            cookie,
            csrf: r.json()["csrf"].as_str().unwrap_or_default().to_string(),
        }
    }
}

pub struct Api {
    pub base: String,
    pub client: HttpClient,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Api {
        Api {
            base: format!("http://{addr}"),
            client: vsr_testkit::http::client(),
        }
    }

    /// A request as `who` (cookie with its CSRF header, or nobody).
    pub async fn call(
        &self,
        who: Option<&Session>,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Reply {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(s) = who {
            headers.push(("cookie", s.cookie.as_str()));
            headers.push(("x-csrf-token", s.csrf.as_str()));
        }
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        send(
            &self.client,
            method,
            &format!("{}{path}", self.base),
            &body,
            &headers,
        )
        .await
    }

    /// Creates the first admin (setup mode) and returns its session.
    pub async fn bootstrap(&self, user: &str, password: &str) -> Session {
        let r = self
            .call(
                None,
                "POST",
                "/api/auth/bootstrap",
                &json!({"username": user, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "bootstrap {user}: {}", r.text());
        Session::from_reply(&r)
    }

    pub async fn login(&self, user: &str, password: &str) -> Session {
        let r = self
            .call(
                None,
                "POST",
                "/api/auth/login",
                &json!({"username": user, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "login {user}: {}", r.text());
        Session::from_reply(&r)
    }
}
