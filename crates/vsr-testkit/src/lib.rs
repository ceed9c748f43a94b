//! vsr-testkit
