//! PII recognisers (work in progress).
