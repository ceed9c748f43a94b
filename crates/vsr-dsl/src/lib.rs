//! vsr-dsl
