//! Integration tests of vsr-engine.

mod algorithms;
mod balance;
mod engine;
