//! End-to-end tests of the `vllm-sr` binary: the router and the sim backend run as child
//! processes on ports chosen by the OS.

mod daemon;
mod dashboard;
mod dbfaults;
mod encoder_knob;
mod harness;
mod learned;
mod probes_http;
mod recipes;
mod remote;
mod replay;
mod replicas;
mod secrets;
mod telemetry;
mod upstream;
