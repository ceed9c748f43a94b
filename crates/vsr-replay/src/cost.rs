//! Cost and savings of a routed request versus always using the most expensive model.
use serde::{Deserialize, Serialize};
use vsr_config::{Pricing, Usage};

/// The pricing of one alias (`providers.models[].pricing`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPricing {
    /// The alias, e.g. `qwen/qwen3.5-rocm`.
    pub name: String,
    #[serde(flatten)]
    pub pricing: Pricing,
}

impl ModelPricing {
    pub fn new(name: &str, currency: &str, prompt_per_1m: f64, completion_per_1m: f64) -> Self {
        ModelPricing {
            name: name.to_string(),
            pricing: Pricing::new(currency, prompt_per_1m, completion_per_1m),
        }
    }

    /// The pricing of a configured alias, if its config has a `pricing` block.
    pub fn from_config(model: &vsr_config::ProviderModel) -> Option<Self> {
        Some(ModelPricing {
            name: model.name.clone(),
            pricing: model.pricing.clone()?,
        })
    }
}

/// Cost of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostBreakdown {
    pub actual: f64,
    pub baseline: f64,
    /// `baseline − actual`; negative when a cheaper-on-paper model cost more for this usage.
    pub savings: f64,
    pub currency: String,
    pub baseline_model: String,
}

/// Prices in declaration order, with the baseline chosen once.
#[derive(Debug, Clone, Default)]
pub struct CostModel {
    models: Vec<ModelPricing>,
    baseline: Option<usize>,
}

impl CostModel {
    /// Keeps the priced models; the baseline is the one with the largest
    /// `prompt_per_1m + completion_per_1m`, the first declared on a tie.
    pub fn new(pricing: Vec<ModelPricing>) -> Self {
        let models: Vec<ModelPricing> = pricing
            .into_iter()
            .filter(|m| m.pricing.is_priced())
            .collect();
        let mut baseline: Option<usize> = None;
        for (i, m) in models.iter().enumerate() {
            // Strictly greater: an equal sum declared later does not displace the earlier one.
            if baseline.is_none_or(|b| m.pricing.rate_sum() > models[b].pricing.rate_sum()) {
                baseline = Some(i);
            }
        }
        CostModel { models, baseline }
    }

    /// From `providers.models[]` of a loaded config, in declaration order.
    pub fn from_config(providers: &vsr_config::Providers) -> Self {
        CostModel::new(
            providers
                .models
                .iter()
                .filter_map(ModelPricing::from_config)
                .collect(),
        )
    }

    pub fn models(&self) -> &[ModelPricing] {
        &self.models
    }

    pub fn pricing(&self, alias: &str) -> Option<&ModelPricing> {
        self.models.iter().find(|m| m.name == alias)
    }

    pub fn baseline(&self) -> Option<&ModelPricing> {
        self.baseline.map(|i| &self.models[i])
    }

    /// Cost of `alias` for this usage (cached prompt tokens at each model's cached rate), or
    /// `None` when the alias is unpriced or no tokens were used.
    pub fn cost(&self, alias: &str, usage: &Usage) -> Option<CostBreakdown> {
        if usage.total() == 0 {
            return None;
        }
        let selected = self.pricing(alias)?;
        let base = self.baseline()?;
        let actual = selected.pricing.cost(usage);
        let baseline = base.pricing.cost(usage);
        let currency = selected
            .pricing
            .currency()
            .or(base.pricing.currency())
            .unwrap_or("USD")
            .to_string();
        Some(CostBreakdown {
            actual,
            baseline,
            savings: baseline - actual,
            currency,
            baseline_model: base.name.clone(),
        })
    }
}

/// Money as integer nano-units (1e-9), used for exact sums in the stores.
pub fn to_nanos(amount: f64) -> i64 {
    (amount * 1e9).round() as i64
}

pub fn from_nanos(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, cur: &str, prompt: f64, completion: f64) -> ModelPricing {
        ModelPricing::new(name, cur, prompt, completion)
    }

    #[test]
    fn pricing_cost_is_per_million_tokens() {
        let p = Pricing::new("EUR", 2.0, 8.0);
        assert!((p.cost(&Usage::new(500_000, 250_000)) - 3.0).abs() < 1e-12);
        assert_eq!(p.cost(&Usage::new(0, 0)), 0.0);
        assert_eq!(p.currency(), Some("EUR"));
        // Only a rate given: the other one is free, and it still counts as priced.
        let half = Pricing {
            completion_per_1m: Some(4.0),
            ..Pricing::default()
        };
        assert!(half.is_priced());
        assert!((half.cost(&Usage::new(1_000_000, 1_000_000)) - 4.0).abs() < 1e-12);
        assert!(!Pricing::new("", 0.0, 0.0).is_priced());
    }

    #[test]
    fn ties_go_to_the_first_declared_model() {
        let m = CostModel::new(vec![
            p("a", "USD", 1.0, 2.0),
            p("b", "USD", 2.0, 1.0),
            p("c", "USD", 0.5, 0.5),
        ]);
        assert_eq!(m.baseline().unwrap().name, "a");
        let m = CostModel::new(vec![
            p("c", "USD", 0.5, 0.5),
            p("b", "USD", 2.0, 1.0),
            p("a", "USD", 1.0, 2.0),
        ]);
        assert_eq!(m.baseline().unwrap().name, "b");
    }

    #[test]
    fn savings_can_be_negative_for_lopsided_usage() {
        // "cheap" has a smaller rate sum but a larger prompt rate than the baseline.
        let m = CostModel::new(vec![
            p("base", "USD", 1.0, 10.0),
            p("cheap", "USD", 5.0, 0.0),
        ]);
        let c = m.cost("cheap", &Usage::new(1_000_000, 0)).unwrap();
        assert_eq!(c.baseline_model, "base");
        assert!((c.actual - 5.0).abs() < 1e-12);
        assert!((c.baseline - 1.0).abs() < 1e-12);
        assert!((c.savings + 4.0).abs() < 1e-12);
    }

    #[test]
    fn unpriced_models_and_empty_usage_have_no_cost() {
        let m = CostModel::new(vec![
            p("free", "USD", 0.0, 0.0),
            p("nothing", "", 0.0, 0.0),
            p("x", "", 1.0, 1.0),
        ]);
        assert!(m.cost("nothing", &Usage::new(10, 10)).is_none());
        assert!(m.cost("unknown", &Usage::new(10, 10)).is_none());
        assert!(m.cost("x", &Usage::new(0, 0)).is_none());
        let free = m.cost("free", &Usage::new(1_000_000, 1_000_000)).unwrap();
        assert_eq!(free.actual, 0.0);
        assert!((free.savings - 2.0).abs() < 1e-12);
        assert_eq!(free.currency, "USD");
        // Neither selected nor baseline has a currency: USD.
        assert_eq!(m.cost("x", &Usage::new(1, 1)).unwrap().currency, "USD");
        assert_eq!(m.cost("x", &Usage::new(1, 1)).unwrap().savings, 0.0);
    }

    #[test]
    fn cached_prompt_tokens_are_priced_at_the_cached_rate() {
        let cheap = p_cached();
        let u = Usage::new(1_000_000, 100_000).with_cached(400_000);
        // 600k × 2.0 + 400k × 0.5 + 100k × 4.0 = 1.2 + 0.2 + 0.4
        assert!((cheap.cost(&u) - 1.8).abs() < 1e-12);
        // More cached than prompt tokens: all prompt tokens are cached.
        let over = Usage::new(1_000_000, 0).with_cached(5_000_000);
        assert!((cheap.cost(&over) - 0.5).abs() < 1e-12);
        // No cached rate: cached tokens cost the prompt rate (as without a cache report).
        let plain = Pricing::new("USD", 2.0, 4.0);
        assert!((plain.cost(&u) - plain.cost(&Usage::new(1_000_000, 100_000))).abs() < 1e-12);
        // A cached rate alone makes a model priced.
        let only = Pricing {
            cached_input_per_1m: Some(0.1),
            ..Pricing::default()
        };
        assert!(only.is_priced());
        // Savings: each model prices the cached tokens at its own cached rate.
        let m = CostModel::new(vec![
            ModelPricing {
                pricing: Pricing {
                    cached_input_per_1m: Some(1.0),
                    ..Pricing::new("USD", 10.0, 30.0)
                },
                ..p("premium", "USD", 10.0, 30.0)
            },
            ModelPricing {
                pricing: p_cached(),
                ..p("cheap", "USD", 2.0, 4.0)
            },
        ]);
        let c = m.cost("cheap", &u).unwrap();
        assert_eq!(c.baseline_model, "premium");
        assert!((c.actual - 1.8).abs() < 1e-12);
        // 600k × 10 + 400k × 1 + 100k × 30 = 6 + 0.4 + 3
        assert!((c.baseline - 9.4).abs() < 1e-12);
        assert!((c.savings - 7.6).abs() < 1e-12);
    }

    fn p_cached() -> Pricing {
        Pricing {
            cached_input_per_1m: Some(0.5),
            ..Pricing::new("USD", 2.0, 4.0)
        }
    }

    #[test]
    fn nanos_round_trip() {
        assert_eq!(to_nanos(0.00162), 1_620_000);
        assert_eq!(from_nanos(1_620_000), 0.00162);
        assert_eq!(to_nanos(-0.5), -500_000_000);
    }
}
