//! The spot market: how much spot capacity can be had and when replicas are interrupted.
//!
//! Either a steady market, a Poisson interruption rate per replica-hour, or an availability trace
//! from SkyPilot's spot traces (`tests/data/spot_traces_skypilot` has one; `{"metadata": {"gap_seconds": G}, "data": [...]}`,
//! one value per G seconds: the number of spot instances that could be had). A trace value is read
//! as the available share of the spot class (value / the file's maximum); replicas above it get an
//! interruption notice and no new spot replica starts until capacity returns. Traces shorter than
//! the replay repeat.

use std::path::Path;

use serde::Deserialize;

use hybridscale_core::input::{self, InputError};

/// Seconds between an interruption notice and the replica's node going away (AWS gives two minutes).
pub const NOTICE_S: f64 = 120.0;

/// The spot market a replay runs against.
#[derive(Clone, Debug, PartialEq)]
pub enum SpotMarket {
    /// Spot is always available and never interrupted.
    Steady,
    /// Each spot replica is interrupted at this rate (per replica-hour); capacity is unlimited.
    Poisson {
        /// Interruptions per replica-hour.
        per_replica_hour: f64,
    },
    /// Available share of the spot class over time.
    Availability {
        /// Name of the trace file.
        name: String,
        /// Seconds per value.
        gap_s: f64,
        /// Available share (0..1) per value.
        share: Vec<f64>,
    },
}

#[derive(Deserialize)]
struct TraceFile {
    metadata: Metadata,
    data: Vec<f64>,
}

#[derive(Deserialize)]
struct Metadata {
    gap_seconds: f64,
}

impl SpotMarket {
    /// Read a SkyPilot spot availability/preemption trace.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let text = input::read_to_string(path)?;
        let file: TraceFile = serde_json::from_str(&text).map_err(|e| InputError::Parse {
            path: path.to_path_buf(),
            line: e.line() as u64,
            column: e.column() as u64,
            message: e.to_string(),
        })?;
        if file.metadata.gap_seconds.is_nan() || file.metadata.gap_seconds <= 0.0 || file.data.is_empty() {
            return Err(InputError::invalid(path, "needs metadata.gap_seconds > 0 and a non-empty data array"));
        }
        if file.data.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(InputError::invalid(path, "data values must be finite and >= 0"));
        }
        let max = file.data.iter().cloned().fold(0.0, f64::max).max(1.0);
        Ok(SpotMarket::Availability {
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            gap_s: file.metadata.gap_seconds,
            share: file.data.iter().map(|v| v / max).collect(),
        })
    }

    /// Spot replicas obtainable at time `t` (seconds from the start) out of a class maximum.
    pub fn cap(&self, t: f64, class_max: u32) -> u32 {
        match self {
            SpotMarket::Availability { gap_s, share, .. } => {
                let i = ((t / gap_s) as usize) % share.len();
                (share[i] * class_max as f64 + 1e-9).floor() as u32
            }
            _ => class_max,
        }
    }

    /// Probability that one spot replica is interrupted within `dt` seconds (Poisson market only).
    pub fn interruption_probability(&self, dt: f64) -> f64 {
        match self {
            SpotMarket::Poisson { per_replica_hour } => 1.0 - (-per_replica_hour * dt / 3600.0).exp(),
            _ => 0.0,
        }
    }

    /// Short description for reports.
    pub fn describe(&self) -> String {
        match self {
            SpotMarket::Steady => "steady (no interruptions)".into(),
            SpotMarket::Poisson { per_replica_hour } => {
                format!("Poisson, {per_replica_hour} interruptions per replica-hour")
            }
            SpotMarket::Availability { name, .. } => format!("availability trace {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_caps_and_repeats() {
        let m = SpotMarket::Availability { name: "x".into(), gap_s: 100.0, share: vec![1.0, 0.5, 0.0] };
        assert_eq!(m.cap(0.0, 8), 8);
        assert_eq!(m.cap(150.0, 8), 4);
        assert_eq!(m.cap(250.0, 8), 0);
        assert_eq!(m.cap(350.0, 8), 8);
        assert_eq!(SpotMarket::Steady.cap(5.0, 3), 3);
    }

    #[test]
    fn loads_a_real_trace() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/spot_traces_skypilot/availability/16-node/aws-08-27-2023/us-west-2a_v100_1.json");
        let m = SpotMarket::load(&p).unwrap();
        let SpotMarket::Availability { share, gap_s, .. } = m else { panic!("not an availability trace") };
        assert_eq!(gap_s, 300.0);
        assert!(share.iter().all(|s| (0.0..=1.0).contains(s)));
        let e = SpotMarket::load(Path::new("/nonexistent.json")).unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent.json:"), "{e}");
    }
}
