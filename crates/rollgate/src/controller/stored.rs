//! A rollout as the store keeps it: the machine's state, when it started and the report it
//! left. The document is the same JSON today's and earlier releases wrote.

use rollgate_core::rollout::RolloutState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The stored form of one service's rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredRollout {
    pub(crate) state: RolloutState,
    /// Unix milliseconds.
    pub(crate) started_at_ms: u64,
    /// The incident report or A/B result, once there is one.
    #[serde(default)]
    pub(crate) report: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollgate_core::rollout::{parse_plan, Target};

    fn stored() -> StoredRollout {
        let plan = parse_plan("steps:\n  - set_weight: 10%\n").expect("plan");
        let target = Target {
            service: "iris".into(),
            stable: "v1".into(),
            candidate: "v2".into(),
            instances: 0,
        };
        StoredRollout {
            state: RolloutState::new(&plan, target, 1_000),
            started_at_ms: 1_000,
            report: None,
        }
    }

    #[test]
    fn a_document_of_an_earlier_release_reads_back() {
        // Earlier releases wrote `report: null` before a report existed.
        let s = stored();
        let doc = serde_json::json!({
            "state": s.state,
            "started_at_ms": 1_000,
            "report": null,
        });
        let back: StoredRollout = serde_json::from_value(doc).expect("readable");
        assert_eq!(back, s);
    }

    #[test]
    fn round_trips_with_a_report() {
        let mut s = stored();
        s.report = Some(serde_json::json!({"text": "rolled back"}));
        let doc = serde_json::to_value(&s).expect("json");
        assert_eq!(doc["started_at_ms"], 1_000);
        assert_eq!(
            serde_json::from_value::<StoredRollout>(doc).expect("back"),
            s
        );
    }

    #[test]
    fn a_document_without_its_start_is_refused_not_read_as_zero() {
        let doc = serde_json::json!({ "state": stored().state });
        assert!(serde_json::from_value::<StoredRollout>(doc).is_err());
    }
}
