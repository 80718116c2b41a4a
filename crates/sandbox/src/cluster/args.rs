//! Command-line flags for running the simulated cluster with `hybridscale sandbox apiserver`.

use super::{ClusterHandle, ClusterOptions, spawn_cluster};
use crate::{Sandbox, SandboxError};

/// Flags of the simulated cluster (flattened into `hybridscale sandbox apiserver`).
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Also run the simulated cluster against the server: Deployment and StatefulSet controllers, a
    /// scheduler, kubelets, Karpenter NodePools, Cluster API MachineDeployments and spot interruptions.
    #[arg(long)]
    pub simulate_cluster: bool,
    /// Multiply every simulated delay (model load 120 s, node provisioning 90 s, consolidation 30 s,
    /// spot notice 120 s) by this factor, e.g. 0.05 for a quick demo.
    #[arg(long, default_value_t = 1.0, value_parser = positive_factor)]
    pub time_scale: f64,
    /// GPUs per simulated node for pools that do not say.
    #[arg(long, default_value_t = 1)]
    pub gpus_per_node: u64,
    /// Random spot interruptions per spot node per hour (of unscaled time; 0 disables them).
    #[arg(long, default_value_t = 0.0)]
    pub spot_interruptions_per_hour: f64,
}

fn positive_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

impl ClusterArgs {
    /// The simulation options these flags describe.
    pub fn options(&self, seed: u64) -> ClusterOptions {
        ClusterOptions {
            seed,
            default_gpus_per_node: self.gpus_per_node,
            spot_interruptions_per_node_hour: self.spot_interruptions_per_hour.max(0.0),
            ..ClusterOptions::default()
        }
        .time_scaled(self.time_scale)
    }

    /// Starts the simulation against `sandbox` when `--simulate-cluster` is set. Dropping the handle
    /// stops it.
    pub fn start(&self, sandbox: &Sandbox, seed: u64) -> Result<Option<ClusterHandle>, SandboxError> {
        if !self.simulate_cluster {
            return Ok(None);
        }
        Ok(Some(spawn_cluster(sandbox.client()?, self.options(seed))))
    }
}
