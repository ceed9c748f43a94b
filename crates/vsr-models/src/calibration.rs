//! Per-model similarity calibration: a monotone piecewise-linear map from the model's raw
//! cosine to the scale the reference profile's thresholds were tuned on (the original
//! router's 768-d mmBERT embedder).
//!
//! The map is fitted once per model by `examples/calibrate.rs` on labelled sentence pairs
//! (`calibration/pairs.tsv`) and shipped as `calibration/<model>.json`; see docs/models.md.
//! It is never tuned per rule or per probe.
use serde::{Deserialize, Serialize};

/// A monotone map raw cosine → calibrated similarity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The model this map belongs to.
    pub model: String,
    /// Knots `[raw, calibrated]`, strictly increasing in both coordinates, spanning
    /// raw −1..1. Between knots the map is linear.
    pub points: Vec<[f32; 2]>,
    /// How the knots were obtained (free text, for humans).
    #[serde(default)]
    pub method: String,
}

const SHIPPED: &[(&str, &str)] = &[
    ("usem3", include_str!("../calibration/usem3.json")),
    ("e5-small", include_str!("../calibration/e5-small.json")),
];

impl Calibration {
    /// The identity map (for models whose scale needs no change).
    pub fn identity(model: &str) -> Self {
        Calibration {
            model: model.to_string(),
            points: vec![[-1.0, -1.0], [1.0, 1.0]],
            method: "identity".into(),
        }
    }

    /// The calibration shipped for `model`, if any.
    pub fn shipped(model: &str) -> Option<Self> {
        let (_, text) = SHIPPED.iter().find(|(m, _)| *m == model)?;
        let c: Calibration = serde_json::from_str(text).ok()?;
        c.validate().ok()?;
        Some(c)
    }

    /// Parses and validates a calibration JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let c: Calibration = serde_json::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    /// Checks that the knots make a strictly increasing map over [−1, 1].
    pub fn validate(&self) -> Result<(), String> {
        if self.points.len() < 2 {
            return Err("a calibration needs at least two points".into());
        }
        for w in self.points.windows(2) {
            if !(w[1][0] > w[0][0] && w[1][1] > w[0][1]) {
                return Err(format!(
                    "points must increase strictly: {:?} then {:?}",
                    w[0], w[1]
                ));
            }
        }
        let (first, last) = (self.points[0], self.points[self.points.len() - 1]);
        if first[0] > -1.0 || last[0] < 1.0 {
            return Err("points must span raw cosines −1..1".into());
        }
        Ok(())
    }

    /// Raw cosine → calibrated similarity (clamped to the knots' range).
    pub fn apply(&self, raw: f32) -> f32 {
        interpolate(&self.points, raw, 0, 1)
    }

    /// Calibrated similarity → raw cosine (the inverse map).
    pub fn invert(&self, calibrated: f32) -> f32 {
        interpolate(&self.points, calibrated, 1, 0)
    }
}

fn interpolate(points: &[[f32; 2]], x: f32, from: usize, to: usize) -> f32 {
    if x.is_nan() {
        return x;
    }
    let first = points[0];
    if x <= first[from] {
        return first[to];
    }
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if x <= b[from] {
            let t = (x - a[from]) / (b[from] - a[from]);
            return a[to] + t * (b[to] - a[to]);
        }
    }
    points[points.len() - 1][to]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_maps_are_valid_and_monotone() {
        for (model, _) in SHIPPED {
            shipped_map_is_valid_and_monotone(model);
        }
    }

    fn shipped_map_is_valid_and_monotone(model: &str) {
        let c = Calibration::shipped(model).expect("calibration ships");
        assert_eq!(c.model, model);
        let mut prev = f32::NEG_INFINITY;
        for i in 0..=200 {
            let raw = -1.0 + i as f32 / 100.0;
            let y = c.apply(raw);
            assert!(y > prev, "strictly increasing at {raw}");
            prev = y;
            assert!((c.invert(y) - raw).abs() < 1e-4, "inverse at {raw}");
        }
    }

    #[test]
    fn apply_interpolates_and_clamps() {
        let c = Calibration {
            model: "t".into(),
            points: vec![[-1.0, 0.0], [0.0, 0.5], [1.0, 1.0]],
            method: String::new(),
        };
        assert!((c.apply(-0.5) - 0.25).abs() < 1e-6);
        assert_eq!(c.apply(2.0), 1.0);
        assert_eq!(c.apply(-3.0), 0.0);
        assert!((Calibration::identity("x").apply(0.3) - 0.3).abs() < 1e-6);
    }

    #[test]
    fn invalid_maps_are_rejected() {
        assert!(
            Calibration::from_json(r#"{"model":"m","points":[[-1,0],[0.5,0.9],[0.4,1.0]]}"#)
                .is_err()
        );
        assert!(Calibration::from_json(r#"{"model":"m","points":[[-1,0],[0.5,0.9]]}"#).is_err());
        assert!(Calibration::from_json(r#"{"model":"m","points":[[-1,0],[1,1]]}"#).is_ok());
    }
}
