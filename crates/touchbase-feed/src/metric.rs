//! Metric rules (R18): every `every` (5 min by default), a scorecard figure of a point or the
//! whole organization over the sliding window that ends now, judged by
//! [`touchbase_core::rules::metric_step`]; the new state and what it fires (a breach, a
//! resolution) are written together, and only from the state the evaluation started from, so
//! two servers evaluating at once fire once.

use std::collections::BTreeMap;

use touchbase_core::rules::{self, MetricState, RuleKind};
use touchbase_store::Store;

use crate::FeedError;

/// Evaluates the enabled metric rules that are due at `now`; returns how many deliveries
/// their changes fired.
pub async fn evaluate_due(store: &dyn Store, now: i64) -> Result<u64, FeedError> {
    let state = touchbase_store::load(store).await?.value;
    let Some(inventory) = state.inventory.as_ref() else {
        return Ok(0);
    };
    let rules: Vec<_> = inventory
        .rules
        .iter()
        .filter(|r| !r.disabled && r.kind() == Some(RuleKind::Metric))
        .collect();
    if rules.is_empty() {
        return Ok(0);
    }
    let states: BTreeMap<String, String> = store.rule_states().await?.into_iter().collect();
    let mut fired = 0;
    for rule in rules {
        let doc = states.get(&rule.key);
        let prev: Option<MetricState> = doc.and_then(|d| serde_json::from_str(d).ok());
        if !rules::metric_due(rule, prev.as_ref(), now) {
            continue;
        }
        let m = rule.when.metric.as_ref().expect("a metric rule");
        let (value, volume) = touchbase_store::feed::metric_figure(store, inventory, m, now).await;
        let step = rules::metric_step(rule, prev.as_ref(), value, volume, now);
        let next = serde_json::to_string(&step.state).expect("a state serializes");
        // Due at once, whatever instant the evaluation stood at.
        let due = touchbase_store::ingest::now_us();
        if store
            .put_rule_state(
                &rule.key,
                doc.map(String::as_str),
                &next,
                &step.firings,
                due,
            )
            .await?
        {
            fired += step.firings.len() as u64;
        }
    }
    Ok(fired)
}
