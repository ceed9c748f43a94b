//! `vllm-sr serve --target docker`: the same router, run as the project's container image by
//! the local container engine (docker, else podman) instead of in this process. The playbook's
//! `--image` and `--image-pull-policy` choose and fetch that image.
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

/// The image `--target docker` runs when `--image` is not given (build it with the
/// repository's `Dockerfile`, see docs/deploy.md).
pub const DEFAULT_IMAGE: &str = "localhost/vllm-sr:latest";

/// Environment passed into the container when set here (names only: the engine reads the
/// values, so secrets never appear on its command line).
const PASSED_ENV: &[&str] = &[
    "VSR_SHARED_DB",
    "VSR_SHARED_DB_SCHEMA",
    "VSR_REPLAY_POSTGRES_URL",
    "VSR_ADMIN_PASSWORD",
    "RUST_LOG",
];

/// What the container run needs from `serve`'s arguments.
pub struct ContainerRun<'a> {
    pub config: &'a Path,
    pub image: Option<&'a str>,
    /// `--pull` value of docker/podman: `always`, `missing` or `never`.
    pub pull: Option<&'static str>,
    pub router_port: u16,
    /// `None`: no dashboard (`--minimal` / `--no-dashboard`).
    pub dashboard_port: Option<u16>,
    pub detach: bool,
    /// Arguments of `vllm-sr serve` inside the container (besides `--config`).
    pub serve_args: Vec<String>,
}

/// The container engine: `$VSR_CONTAINER_ENGINE`, else the first of docker and podman on the
/// PATH.
fn engine() -> anyhow::Result<OsString> {
    if let Some(e) = std::env::var_os("VSR_CONTAINER_ENGINE").filter(|e| !e.is_empty()) {
        return Ok(e);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["docker", "podman"] {
        if std::env::split_paths(&path).any(|d| d.join(name).is_file()) {
            return Ok(name.into());
        }
    }
    bail!(
        "--target docker needs a container engine: neither docker nor podman is on the PATH \
         (or set VSR_CONTAINER_ENGINE); use --target native to run the router in this process"
    )
}

impl ContainerRun<'_> {
    /// The engine's arguments: `run` with the ports, the config's directory mounted at
    /// `/config` (writable: dashboard deploys write the file), a named volume for `/data`, the
    /// image and `serve --config /config/<file> …`.
    pub fn engine_args(&self) -> anyhow::Result<Vec<String>> {
        let config = std::path::absolute(self.config)
            .with_context(|| format!("config path `{}`", self.config.display()))?;
        let file = config
            .file_name()
            .and_then(|f| f.to_str())
            .context("--config must name a file")?
            .to_string();
        let dir = config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let mut a: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "--name".into(),
            "vllm-sr".into(),
        ];
        if self.detach {
            a.push("--detach".into());
        }
        if let Some(p) = self.pull {
            a.push(format!("--pull={p}"));
        }
        a.push("-p".into());
        a.push(format!("{0}:{0}", self.router_port));
        if let Some(p) = self.dashboard_port {
            a.push("-p".into());
            a.push(format!("{p}:{p}"));
        }
        a.push("-v".into());
        a.push(format!("{}:/config", dir.display()));
        a.push("-v".into());
        a.push("vllm-sr-data:/data".into());
        for name in PASSED_ENV {
            if std::env::var_os(name).is_some() {
                a.push("-e".into());
                a.push((*name).into());
            }
        }
        a.push(self.image.unwrap_or(DEFAULT_IMAGE).into());
        a.extend(["serve".into(), "--config".into(), format!("/config/{file}")]);
        a.extend(self.serve_args.iter().cloned());
        Ok(a)
    }

    /// Runs the engine in the foreground and answers its exit status.
    pub fn run(&self) -> anyhow::Result<ExitCode> {
        if !self.config.is_file() {
            bail!(
                "--target docker: config `{}` not found (the container mounts its directory)",
                self.config.display()
            );
        }
        let engine = engine()?;
        let args = self.engine_args()?;
        println!(
            "vllm-sr: running {} in a container: {} {}",
            self.image.unwrap_or(DEFAULT_IMAGE),
            engine.to_string_lossy(),
            args.join(" ")
        );
        let status = Command::new(&engine)
            .args(&args)
            .status()
            .with_context(|| format!("could not start `{}`", engine.to_string_lossy()))?;
        Ok(match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            None => ExitCode::from(1),
        })
    }
}
