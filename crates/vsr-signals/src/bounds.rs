//! Numeric bounds (`gt`, `gte`, `lt`, `lte`) used by structure predicates and mapping bands.

use serde::{Deserialize, Serialize};

/// Any combination of the four comparators; every present one must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
}

impl Bounds {
    /// True when no comparator is set.
    pub fn is_empty(&self) -> bool {
        self.gt.is_none() && self.gte.is_none() && self.lt.is_none() && self.lte.is_none()
    }

    /// Whether every present comparator holds for `v` (a NaN never holds).
    pub fn holds(&self, v: f64) -> bool {
        !v.is_nan()
            && self.gt.is_none_or(|b| v > b)
            && self.gte.is_none_or(|b| v >= b)
            && self.lt.is_none_or(|b| v < b)
            && self.lte.is_none_or(|b| v <= b)
    }

    /// The present bounds in the order gt, gte, lt, lte.
    pub fn present(&self) -> impl Iterator<Item = f64> {
        [self.gt, self.gte, self.lt, self.lte].into_iter().flatten()
    }

    /// Distance from `v` to the nearest present bound (None when empty).
    pub fn nearest_distance(&self, v: f64) -> Option<f64> {
        self.present().map(|b| (v - b).abs()).reduce(f64::min)
    }
}

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_comparator() {
        let gt = Bounds {
            gt: Some(1.0),
            ..Bounds::default()
        };
        let gte = Bounds {
            gte: Some(1.0),
            ..Bounds::default()
        };
        let lt = Bounds {
            lt: Some(1.0),
            ..Bounds::default()
        };
        let lte = Bounds {
            lte: Some(1.0),
            ..Bounds::default()
        };
        assert!(!gt.holds(1.0) && gt.holds(1.1));
        assert!(gte.holds(1.0) && !gte.holds(0.9));
        assert!(!lt.holds(1.0) && lt.holds(0.9));
        assert!(lte.holds(1.0) && !lte.holds(1.1));
        assert!(!gt.holds(f64::NAN));
        assert!(Bounds::default().holds(5.0) && Bounds::default().is_empty());
    }

    #[test]
    fn band_combines_and_measures_distance() {
        let band = Bounds {
            gte: Some(0.18),
            lt: Some(0.48),
            ..Bounds::default()
        };
        assert!(band.holds(0.18) && !band.holds(0.48));
        let d = band.nearest_distance(0.40).unwrap_or(f64::NAN);
        assert!((d - 0.08).abs() < 1e-12);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-12);
    }
}
