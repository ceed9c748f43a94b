//! vsr-engine
