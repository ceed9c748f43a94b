//! Integration tests: router and sim backends in-process on port 0, driven over raw HTTP.
mod harness;

mod errors;
mod fallback;
mod faults;
mod logs;
mod proxy;
mod reload;
mod responses_api;
mod tls;
