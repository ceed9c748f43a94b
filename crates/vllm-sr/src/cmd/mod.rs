//! One module per subcommand family; each exposes `Args` and `run`.
pub mod bench;
pub mod chat;
pub mod config;
pub mod container;
pub mod daemon;
pub mod dsl;
pub mod eval;
pub mod eval_suite;
pub mod models;
pub mod probes;
pub mod remote;
pub mod replay;
pub mod serve;
pub mod sim_backend;
pub mod validate;
