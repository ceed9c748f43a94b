//! Integration tests of vsr-replay. The store suite runs against SQLite and, when
//! `VSR_TEST_POSTGRES_URL` is set, against that PostgreSQL server (each test in its own schema).
mod common;
mod cost;
mod durability;
mod recorder;
mod store_suite;
mod writer;
