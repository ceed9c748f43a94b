//! vsr-signals
