//! Integration tests: router and sim backends in-process on port 0, driven over raw HTTP.
mod harness;

mod cache;
mod campaign;
mod errors;
mod fallback;
mod faults;
mod learning;
mod limits;
mod live;
mod logs;
mod looper;
mod messages_api;
mod proxy;
mod reload;
mod responses_api;
mod sessions;
mod tls;
mod tools_plugin;
