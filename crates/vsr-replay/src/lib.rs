//! vsr-replay
