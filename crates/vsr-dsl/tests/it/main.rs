//! Integration tests of vsr-dsl: the reference pairs, round trips, formatting, diagnostics.

mod check;
mod common;
mod diagnostics;
mod docs;
mod fuzz;
mod head;
mod reference;
mod roundtrip;
