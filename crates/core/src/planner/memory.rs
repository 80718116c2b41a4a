//! Conversions between the planner's [`Memory`] (Unix seconds as `f64`, fast for the simulator) and the
//! [`PlannerState`] persisted in the InferencePool's status (RFC 3339 strings, readable with kubectl).

use jiff::Timestamp;

use crate::status::{
    PlannerState, PricedMixState, ProviderHealthState, RequestMix, SafePlan, TimedLoad, TimedRate, TimedReplicas,
};

use super::Memory;
use super::priced_mix::PricedMix;
use super::providers::Health;

/// A time in status that is not RFC 3339.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("status.plannerState.{field}: {value:?} is not an RFC 3339 time: {message}")]
pub struct MemoryError {
    /// Which field.
    pub field: &'static str,
    /// The offending text.
    pub value: String,
    /// What the parser said.
    pub message: String,
}

/// Unix seconds to RFC 3339 (UTC, millisecond precision). Times out of jiff's range are clamped to it.
pub fn to_rfc3339(t: f64) -> String {
    let ms = if t.is_finite() { (t * 1000.0).round() as i64 } else { 0 };
    let ts = Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 { Timestamp::MIN } else { Timestamp::MAX });
    // Whole seconds print without a fraction, which keeps status diffs small.
    if ms % 1000 == 0 { format!("{ts:.0}") } else { format!("{ts:.3}") }
}

/// RFC 3339 to Unix seconds.
pub fn from_rfc3339(field: &'static str, s: &str) -> Result<f64, MemoryError> {
    let ts: Timestamp =
        s.parse().map_err(|e: jiff::Error| MemoryError { field, value: s.to_string(), message: e.to_string() })?;
    Ok(ts.as_millisecond() as f64 / 1000.0)
}

fn timed(points: &[(f64, f64)]) -> Vec<TimedRate> {
    points.iter().map(|(t, r)| TimedRate { time: to_rfc3339(*t), requests_per_second: *r }).collect()
}

fn untimed(field: &'static str, points: &[TimedRate]) -> Result<Vec<(f64, f64)>, MemoryError> {
    points.iter().map(|r| Ok((from_rfc3339(field, &r.time)?, r.requests_per_second))).collect()
}

impl From<&Memory> for PlannerState {
    fn from(m: &Memory) -> Self {
        PlannerState {
            recommendations: m
                .recommendations
                .iter()
                .map(|(t, r)| TimedReplicas { time: to_rfc3339(*t), replicas: *r })
                .collect(),
            idle_since: m.idle_since.map(to_rfc3339),
            spot_interruptions: m.spot_interruptions.iter().map(|t| to_rfc3339(*t)).collect(),
            last_safe: m.last_safe.map(|(t, replicas, traffic)| SafePlan { time: to_rfc3339(t), replicas, traffic }),
            learned_capacity_factor: m.capacity_factor,
            capacity_evidence: m.capacity_evidence.clone(),
            capacity_fell_at: m.capacity_fell_at.map(to_rfc3339),
            learned_capacity_ceiling: m.capacity_ceiling,
            capacity_fell_mix: m
                .capacity_fell_mix
                .map(|x| RequestMix { prompt_tokens: x.prompt_tokens, output_tokens: x.output_tokens }),
            recent_load_per_replica: m
                .recent_load_per_replica
                .iter()
                .map(|(t, r, b)| TimedLoad {
                    time: to_rfc3339(*t),
                    requests_per_second: *r,
                    believed_requests_per_second: *b,
                })
                .collect(),
            recent_mix_capacity: timed(&m.recent_mix_rps),
            priced_mix: m.priced_mix.map(|p| PricedMixState {
                time: to_rfc3339(p.at),
                prompt_tokens: p.prompt_tokens,
                output_tokens: p.output_tokens,
                requests: p.requests,
            }),
            interrupted_seen: m.interrupted_seen,
            spot_pending_since: m.spot_pending_since.map(to_rfc3339),
            spot_scarce_until: m.spot_scarce_until.map(to_rfc3339),
            provider_health: m
                .provider_health
                .iter()
                .map(|(name, h)| ProviderHealthState {
                    name: name.clone(),
                    out_since: h.out_since.as_ref().map(|(t, _)| to_rfc3339(*t)),
                    out_reason: h.out_since.as_ref().map(|(_, why)| why.clone()),
                    well_since: h.well_since.map(to_rfc3339),
                })
                .collect(),
        }
    }
}

impl TryFrom<&PlannerState> for Memory {
    type Error = MemoryError;

    fn try_from(s: &PlannerState) -> Result<Self, MemoryError> {
        let recommendations = s
            .recommendations
            .iter()
            .map(|r| Ok((from_rfc3339("recommendations.time", &r.time)?, r.replicas)))
            .collect::<Result<Vec<_>, MemoryError>>()?;
        let idle_since = s.idle_since.as_deref().map(|t| from_rfc3339("idleSince", t)).transpose()?;
        let spot_interruptions =
            s.spot_interruptions.iter().map(|t| from_rfc3339("spotInterruptions", t)).collect::<Result<Vec<_>, _>>()?;
        let last_safe = s
            .last_safe
            .as_ref()
            .map(|p| Ok::<_, MemoryError>((from_rfc3339("lastSafe.time", &p.time)?, p.replicas, p.traffic)))
            .transpose()?;
        Ok(Memory {
            recommendations,
            idle_since,
            spot_interruptions,
            last_safe,
            capacity_factor: s.learned_capacity_factor,
            capacity_evidence: s.capacity_evidence.clone(),
            capacity_fell_at: s.capacity_fell_at.as_deref().map(|t| from_rfc3339("capacityFellAt", t)).transpose()?,
            capacity_ceiling: s.learned_capacity_ceiling,
            capacity_fell_mix: s
                .capacity_fell_mix
                .map(|x| super::providers::Mix { prompt_tokens: x.prompt_tokens, output_tokens: x.output_tokens }),
            recent_mix_rps: untimed("recentMixCapacity.time", &s.recent_mix_capacity)?,
            priced_mix: s
                .priced_mix
                .as_ref()
                .map(|p| {
                    Ok::<_, MemoryError>(PricedMix {
                        prompt_tokens: p.prompt_tokens,
                        output_tokens: p.output_tokens,
                        requests: p.requests,
                        at: from_rfc3339("pricedMix.time", &p.time)?,
                    })
                })
                .transpose()?,
            recent_load_per_replica: s
                .recent_load_per_replica
                .iter()
                .map(|l| {
                    Ok((
                        from_rfc3339("recentLoadPerReplica.time", &l.time)?,
                        l.requests_per_second,
                        l.believed_requests_per_second,
                    ))
                })
                .collect::<Result<Vec<_>, MemoryError>>()?,
            interrupted_seen: s.interrupted_seen,
            spot_pending_since: s
                .spot_pending_since
                .as_deref()
                .map(|t| from_rfc3339("spotPendingSince", t))
                .transpose()?,
            spot_scarce_until: s
                .spot_scarce_until
                .as_deref()
                .map(|t| from_rfc3339("spotScarceUntil", t))
                .transpose()?,
            provider_health: s
                .provider_health
                .iter()
                .map(|p| {
                    let out_since =
                        p.out_since.as_deref().map(|t| from_rfc3339("providerHealth.outSince", t)).transpose()?;
                    let health = Health {
                        out_since: out_since.map(|t| (t, p.out_reason.clone().unwrap_or_default())),
                        well_since: p
                            .well_since
                            .as_deref()
                            .map(|t| from_rfc3339("providerHealth.wellSince", t))
                            .transpose()?,
                    };
                    Ok((p.name.clone(), health))
                })
                .collect::<Result<Vec<_>, MemoryError>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{PerClass, TrafficWeights};

    #[test]
    fn round_trips_through_status() {
        let r = PerClass { reserved: 1, spot: 2, on_demand: 3 };
        let m = Memory {
            recommendations: vec![(1_700_000_000.0, r), (1_700_000_015.5, r)],
            idle_since: Some(1_700_000_100.0),
            spot_interruptions: vec![1_700_000_200.25],
            last_safe: Some((1_700_000_300.0, r, TrafficWeights { self_hosted_weight: 80, external_weight: 20 })),
            capacity_factor: Some(0.4),
            capacity_evidence: Some("latency 31 s > SLO 20 s at 1.80 rps per replica".into()),
            capacity_fell_at: Some(1_700_000_500.0),
            capacity_ceiling: Some(0.36),
            capacity_fell_mix: Some(super::super::providers::Mix { prompt_tokens: 15300.0, output_tokens: 149.0 }),
            recent_mix_rps: vec![(1_700_000_600.0, 1.25)],
            priced_mix: Some(PricedMix {
                prompt_tokens: 1200.5,
                output_tokens: 250.0,
                requests: 42.0,
                at: 1_700_000_600.0,
            }),
            recent_load_per_replica: vec![(1_700_000_600.0, 2.5, 3.0)],
            interrupted_seen: 2,
            spot_pending_since: Some(1_700_000_400.0),
            spot_scarce_until: Some(1_700_001_000.0),
            provider_health: vec![
                (
                    "gemini".into(),
                    Health {
                        out_since: Some((1_700_000_700.0, "error ratio 20.0% > 5.0%".into())),
                        well_since: Some(1_700_000_800.0),
                    },
                ),
                ("claude".into(), Health::default()),
            ],
        };
        let s = PlannerState::from(&m);
        assert_eq!(s.idle_since.as_deref(), Some("2023-11-14T22:15:00Z"));
        assert_eq!(s.recommendations[1].time, "2023-11-14T22:13:35.500Z");
        assert_eq!(Memory::try_from(&s), Ok(m));
    }

    #[test]
    fn bad_time_names_the_field() {
        let s = PlannerState { idle_since: Some("yesterday".into()), ..Default::default() };
        let e = Memory::try_from(&s).unwrap_err();
        assert_eq!(e.field, "idleSince");
        assert!(e.to_string().starts_with("status.plannerState.idleSince: \"yesterday\""), "{e}");
    }
}
