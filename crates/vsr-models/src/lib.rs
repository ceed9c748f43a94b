//! vsr-models
