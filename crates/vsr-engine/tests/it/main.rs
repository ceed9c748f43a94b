//! Integration tests of vsr-engine.

mod engine;
