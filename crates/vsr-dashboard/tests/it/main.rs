//! vsr-dashboard over real HTTP on loopback: auth (every write refused without credentials,
//! with too small a role, or without the CSRF header; sessions surviving a restart) and the
//! playbook's flow (setup → activate → playground → Insights → builder deploy and rollback).

mod auth;
mod common;
mod flow;
mod matrix;
mod store;
