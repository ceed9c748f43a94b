//! Integration tests of vsr-pii: the held-out labelled set and property tests.

mod heldout;
mod props;
