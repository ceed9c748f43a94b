//! Integration tests of the loader: the shipped reference configs, broken configs, round trip.

mod broken;
mod head;
mod reference;
mod roundtrip;
