//! A router in the background: `serve --detach`, and `status`, `logs`, `stop`, `dashboard`,
//! which read the data dir's run file (`vsr_app::run_file`).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vsr_app::run_file::{LOG_FILE, RunInfo};

/// `status` and `stop` exit with this when no router runs (as `systemctl status` does).
const NOT_RUNNING: u8 = 3;

fn data_dir() -> PathBuf {
    vsr_app::data_dir()
}

/// Starts this same command line again without `--detach`, in its own process group, with its
/// output in the log file; returns once it listens (or fails with the log's tail).
pub fn detach() -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let dir = data_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(r) = RunInfo::read(&dir).filter(RunInfo::is_alive) {
        bail!(
            "a router already runs from {} (pid {}); `vllm-sr stop` first",
            dir.display(),
            r.pid
        );
    }
    let log_path = dir.join(LOG_FILE);
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let start_at = log.seek(SeekFrom::End(0))?;
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--detach" && a != "-d")
        .collect();
    let exe = std::env::current_exe().context("locating this binary")?;
    let mut child = Command::new(exe)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .process_group(0)
        .spawn()
        .context("starting the background router")?;
    let _ = writeln!(log);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(r) = RunInfo::read(&dir).filter(|r| r.pid == child.id()) {
            println!("vllm-sr: running in the background (pid {})", r.pid);
            print_info(&r);
            println!(
                "vllm-sr: logs in {} (`vllm-sr logs -f`); stop with `vllm-sr stop`",
                log_path.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(status) = child.try_wait()? {
            let mut tail = String::new();
            let mut f = std::fs::File::open(&log_path)?;
            f.seek(SeekFrom::Start(start_at))?;
            f.read_to_string(&mut tail)?;
            bail!(
                "the background router exited ({status}):\n{}",
                tail.trim_end()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the background router did not start within 300 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn print_info(r: &RunInfo) {
    for a in &r.router {
        println!("  router     {}", RunInfo::url(*a));
    }
    if let Some(d) = r.dashboard {
        println!("  dashboard  {}", RunInfo::url(d));
    }
    println!("  config     {}", r.config.display());
}

fn running() -> Option<RunInfo> {
    RunInfo::read(&data_dir()).filter(RunInfo::is_alive)
}

#[derive(clap::Args)]
pub struct StatusArgs {}

pub fn status(_: StatusArgs) -> anyhow::Result<ExitCode> {
    let Some(r) = running() else {
        println!(
            "vllm-sr: not running (no live router in {})",
            data_dir().display()
        );
        return Ok(ExitCode::from(NOT_RUNNING));
    };
    println!("vllm-sr: running (pid {})", r.pid);
    print_info(&r);
    if let Some(a) = r.router.first() {
        let health = vsr_app::run_file::health(&format!("{}/health", RunInfo::url(*a)));
        println!("  health     {health}");
    } else {
        println!("  health     setup mode: finish the setup in the dashboard");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Keep printing new lines as they arrive (Ctrl-C ends).
    #[arg(long, short)]
    follow: bool,
}

pub fn logs(a: LogsArgs) -> anyhow::Result<ExitCode> {
    let path = data_dir().join(LOG_FILE);
    let mut f = std::fs::File::open(&path).with_context(|| {
        format!(
            "{} (a router started with --detach writes it)",
            path.display()
        )
    })?;
    let mut out = std::io::stdout();
    std::io::copy(&mut f, &mut out)?;
    if !a.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        std::io::copy(&mut f, &mut out)?;
        out.flush()?;
    }
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// How long to wait for in-flight requests and the replay queue, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub fn stop(a: StopArgs) -> anyhow::Result<ExitCode> {
    let Some(r) = running() else {
        println!("vllm-sr: not running");
        return Ok(ExitCode::from(NOT_RUNNING));
    };
    let ok = Command::new("kill")
        .args(["-TERM", &r.pid.to_string()])
        .status()
        .context("running kill")?
        .success();
    if !ok {
        bail!("cannot signal pid {}", r.pid);
    }
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    while r.is_alive() {
        if Instant::now() > deadline {
            bail!("pid {} still runs after {} s", r.pid, a.timeout);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("vllm-sr: stopped (pid {})", r.pid);
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct DashboardArgs {
    /// Only print the URL (do not try to open a browser).
    #[arg(long)]
    no_open: bool,
}

pub fn dashboard(a: DashboardArgs) -> anyhow::Result<ExitCode> {
    let Some(r) = running() else {
        println!("vllm-sr: not running; start it with `vllm-sr serve`");
        return Ok(ExitCode::from(NOT_RUNNING));
    };
    let Some(d) = r.dashboard else {
        println!(
            "vllm-sr: the running router has no dashboard (started with --minimal or --no-dashboard)"
        );
        return Ok(ExitCode::from(NOT_RUNNING));
    };
    let url = RunInfo::url(d);
    println!("{url}");
    if !a.no_open {
        // Best effort: a desktop session opens it; a server just has the URL printed.
        let _ = Command::new("xdg-open")
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
    Ok(ExitCode::SUCCESS)
}
