//! vsr-config
