//! `vllm-sr replay list|show|stats`: read replay records and Insights aggregates straight from
//! the store the router writes (SQLite file or PostgreSQL), so they work with the router stopped.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use vsr_replay::{
    AggQuery, Aggregates, ListQuery, Page, QueryError, ReplayRecord, ReplayStore, StoreConfig,
    open_store,
};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: ReplayCommand,
}

#[derive(clap::Args)]
struct StoreArgs {
    /// SQLite replay database [default: $VSR_REPLAY_DB, else $VSR_DATA_DIR/replay.db, else ./data/replay.db]
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "postgres")]
    db: Option<PathBuf>,
    /// PostgreSQL URL instead of SQLite, e.g. postgres://router@db:5432/vsr [env: VSR_REPLAY_POSTGRES_URL]
    #[arg(long, global = true, value_name = "URL")]
    postgres: Option<String>,
    /// PostgreSQL schema holding the replay tables (default: the server's search_path)
    #[arg(long, global = true, value_name = "NAME")]
    pg_schema: Option<String>,
    /// Print JSON (the replay API's shapes) instead of text
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum ReplayCommand {
    /// List records, newest first.
    List(ListArgs),
    /// Show one record (JSON).
    Show {
        /// Record id (32 hex characters)
        id: String,
    },
    /// Insights aggregates: spend and savings, distributions, tokens, time series.
    Stats(StatsArgs),
}

#[derive(clap::Args, Default)]
struct FilterArgs {
    /// Exact decision name
    #[arg(long)]
    decision: Option<String>,
    /// Selected alias or original model
    #[arg(long)]
    model: Option<String>,
    /// From this time (RFC 3339, a date, or Unix seconds), inclusive
    #[arg(long)]
    from: Option<String>,
    /// Until this time, exclusive
    #[arg(long)]
    to: Option<String>,
    /// Only streamed (true) or non-streamed (false) requests
    #[arg(long)]
    streamed: Option<String>,
    /// Only cache hits (true) or misses (false)
    #[arg(long)]
    cached: Option<String>,
    /// Response status: 200, a class like 5xx, or `error` (400 and above)
    #[arg(long)]
    status: Option<String>,
    /// Case-insensitive text in the record (request id, id, names, bodies)
    #[arg(long)]
    search: Option<String>,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Records per page (1..100)
    #[arg(long, default_value_t = 20)]
    limit: i64,
    #[arg(long, default_value_t = 0)]
    offset: i64,
    /// Continue after this cursor (printed at the end of the previous page)
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(clap::Args)]
struct StatsArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Time-series bucket: hour or day (default: by range)
    #[arg(long)]
    bucket: Option<String>,
}

impl FilterArgs {
    fn pairs(&self) -> Vec<(String, String)> {
        [
            ("decision", &self.decision),
            ("model", &self.model),
            ("from", &self.from),
            ("to", &self.to),
            ("streamed", &self.streamed),
            ("cached", &self.cached),
            ("status", &self.status),
            ("search", &self.search),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
        .collect()
    }
}

impl StoreArgs {
    fn open(&self) -> anyhow::Result<Arc<dyn ReplayStore>> {
        let pg = self.postgres.clone().or_else(|| {
            std::env::var("VSR_REPLAY_POSTGRES_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .filter(|_| self.db.is_none())
        });
        let config = match pg {
            Some(url) => StoreConfig::Postgres {
                url,
                schema: self.pg_schema.clone(),
            },
            None => {
                let path = self.db.clone().unwrap_or_else(default_db);
                if !path.exists() {
                    bail!(
                        "no replay database at {} (pass --db PATH or --postgres URL)",
                        path.display()
                    );
                }
                StoreConfig::Sqlite { path }
            }
        };
        open_store(&config).context("opening the replay store")
    }
}

fn default_db() -> PathBuf {
    if let Some(p) = std::env::var_os("VSR_REPLAY_DB") {
        return p.into();
    }
    std::env::var_os("VSR_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("data"))
        .join("replay.db")
}

fn invalid(e: QueryError) -> anyhow::Result<ExitCode> {
    eprintln!("error: {e}");
    Ok(ExitCode::from(2))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        ReplayCommand::List(l) => {
            let mut pairs = l.filter.pairs();
            pairs.push(("limit".into(), l.limit.to_string()));
            pairs.push(("offset".into(), l.offset.to_string()));
            if let Some(c) = &l.cursor {
                pairs.push(("cursor".into(), c.clone()));
            }
            let q = match ListQuery::from_query_pairs(&pairs) {
                Ok(q) => q,
                Err(e) => return invalid(e),
            };
            let page = args.store.open()?.list(&q)?;
            if args.store.json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print_page(&page);
            }
        }
        ReplayCommand::Show { id } => {
            let Some(r) = args.store.open()?.get(id)? else {
                eprintln!("error: replay record not found: {id}");
                return Ok(ExitCode::from(1));
            };
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
        ReplayCommand::Stats(s) => {
            let mut pairs = s.filter.pairs();
            if let Some(b) = &s.bucket {
                pairs.push(("bucket".into(), b.clone()));
            }
            let q = match AggQuery::from_query_pairs(&pairs) {
                Ok(q) => q,
                Err(e) => return invalid(e),
            };
            let agg = args.store.open()?.aggregate(&q)?;
            if args.store.json {
                println!("{}", serde_json::to_string_pretty(&agg)?);
            } else {
                print_stats(&agg);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn money(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.6}"))
}

fn flags(r: &ReplayRecord) -> String {
    let mut f = vec![];
    if r.streaming {
        f.push("stream");
    }
    if r.from_cache {
        f.push("cache");
    }
    if r.reasoning_mode == "on" {
        f.push("reasoning");
    }
    if r.jailbreak_detected {
        f.push("jailbreak");
    }
    if r.pii_detected {
        f.push("pii");
    }
    f.join(",")
}

fn print_page(page: &Page) {
    println!(
        "{:<24}  {:<32}  {:<20}  {:<22}  {:<36}  {:>7}  {:>10}  {:>10}  {:>6}  FLAGS",
        "CREATED",
        "ID",
        "REQUEST ID",
        "DECISION",
        "MODEL (original -> selected)",
        "TOKENS",
        "COST",
        "SAVED",
        "STATUS"
    );
    for r in &page.items {
        println!(
            "{:<24}  {:<32}  {:<20}  {:<22}  {:<36}  {:>7}  {:>10}  {:>10}  {:>6}  {}",
            r.timestamp.to_string(),
            r.id,
            r.request_id,
            r.decision,
            format!("{} -> {}", r.original_model, r.selected_model),
            r.total_tokens.map_or_else(|| "-".into(), |t| t.to_string()),
            money(r.actual_cost),
            money(r.cost_savings),
            r.response_status
                .map_or_else(|| "-".into(), |s| s.to_string()),
            flags(r)
        );
    }
    println!(
        "-- {} of {} (offset {})",
        page.count, page.total, page.offset
    );
    if let Some(c) = &page.next_cursor {
        println!("-- next page: --cursor {c}");
    }
}

fn print_stats(a: &Aggregates) {
    let s = &a.summary;
    println!("records            {}", a.record_count);
    println!("total saved        {:.6} {}", s.total_saved, s.currency);
    println!(
        "saved %            {}",
        s.saved_percent
            .map_or_else(|| "N/A".into(), |p| format!("{p:.1}%"))
    );
    println!("baseline spend     {:.6} {}", s.baseline_spend, s.currency);
    println!("actual spend       {:.6} {}", s.actual_spend, s.currency);
    println!(
        "priced records     {} ({} excluded)",
        s.cost_record_count, s.excluded_record_count
    );
    let t = &a.token_volume;
    println!(
        "tokens             {} in, {} out, {} total ({} records without usage)",
        t.input_tokens, t.output_tokens, t.total_tokens, t.excluded_record_count
    );
    let section = |title: &str, items: &[vsr_replay::query::NameValue]| {
        println!("\n{title}");
        for nv in items {
            println!("  {:<40} {:>10}", nv.name, nv.value);
        }
    };
    section("model selection (top 10)", &a.model_selection);
    section("decisions", &a.decision_distribution);
    section("signals (matched names per family)", &a.signal_distribution);
    println!("\ntokens by decision (top 8)");
    for e in &a.token_breakdown.by_decision {
        println!(
            "  {:<40} {:>10} in {:>10} out",
            e.name, e.input_tokens, e.output_tokens
        );
    }
    println!("\nper {:?}", a.time_series.bucket);
    for p in &a.time_series.points {
        println!(
            "  {}  {:>8} records  {:>12.6} saved  {:>10} tokens",
            p.start,
            p.record_count,
            p.total_saved,
            p.input_tokens + p.output_tokens
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn parses_subcommands_and_global_store_flags() {
        let cli = Cli::try_parse_from([
            "replay",
            "list",
            "--db",
            "x.db",
            "--decision",
            "simple",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.args.store.db, Some(PathBuf::from("x.db")));
        assert!(cli.args.store.json);
        let ReplayCommand::List(l) = &cli.args.command else {
            panic!("not list")
        };
        assert_eq!(
            l.filter.pairs(),
            vec![("decision".to_string(), "simple".to_string())]
        );
        assert!(Cli::try_parse_from(["replay", "--db", "a", "--postgres", "b", "stats"]).is_err());
    }
}
