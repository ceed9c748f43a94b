//! One module per family of formats. Each recogniser appends candidates; overlaps are resolved
//! afterwards by [`crate::detect`].

pub mod contact;
pub mod cued;
pub mod financial;
pub mod government;
pub mod identity;
pub mod network;
pub mod secret;

use crate::PiiType;

/// A raw finding before overlap resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub kind: PiiType,
    pub start: usize,
    pub end: usize,
    pub confidence: f32,
}

impl Candidate {
    pub fn new(kind: PiiType, start: usize, end: usize, confidence: f32) -> Self {
        Candidate {
            kind,
            start,
            end,
            confidence,
        }
    }
}

/// Facts about the whole input computed once, so recognisers can skip texts that cannot contain
/// their format without running a regex.
#[derive(Debug, Clone, Copy)]
pub struct Prefilter {
    pub digits: usize,
    pub has_at: bool,
}

impl Prefilter {
    pub fn of(text: &str) -> Self {
        let mut p = Prefilter {
            digits: 0,
            has_at: false,
        };
        for b in text.bytes() {
            match b {
                b'0'..=b'9' => p.digits += 1,
                b'@' => p.has_at = true,
                _ => {}
            }
        }
        p
    }
}
