//! Integration tests: router and sim backend in-process on port 0, driven over raw HTTP.
