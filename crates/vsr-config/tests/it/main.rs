//! Integration tests of the loader: the shipped reference configs, broken configs, round trip.

mod broken;
mod head;
mod migrate;
mod reference;
mod roundtrip;
