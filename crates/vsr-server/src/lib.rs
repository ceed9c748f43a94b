//! vsr-server
