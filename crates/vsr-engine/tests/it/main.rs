//! Integration tests of vsr-engine.

mod balance;
mod engine;
mod algorithms;
