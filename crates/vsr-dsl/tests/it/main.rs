//! Integration tests of vsr-dsl: the reference pairs, round trips, formatting, diagnostics.

mod common;
mod reference;
mod roundtrip;
mod diagnostics;
mod fuzz;
mod check;
