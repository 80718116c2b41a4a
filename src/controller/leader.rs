//! Leader election on a coordination.k8s.io/v1 Lease (kube-lease-manager). Two replicas run; only the
//! lease holder runs the controllers and writes. The standby keeps its /readyz green so a rollout does
//! not stall, and takes over within the lease duration when the leader goes away.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct LeaderOptions {
    /// Lease name.
    pub lease_name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// Seconds a lease is valid without renewal.
    pub lease_seconds: u64,
}

/// A running election: `leading` carries `true` while this replica holds the lease.
pub struct Election {
    /// Leadership state.
    pub leading: watch::Receiver<bool>,
    task: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
}

impl Election {
    /// Give the lease up (so the standby takes over at once instead of after the lease expires).
    pub async fn resign(self) {
        drop(self.leading);
        // The manager releases the lease when its channel closes; bound the wait on a sick API server.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Start leader election in the background.
pub async fn elect(client: Client, opts: &LeaderOptions) -> Result<Election, LeaseManagerError> {
    let manager: LeaseManager = LeaseManagerBuilder::new(client, &opts.lease_name)
        .with_namespace(&opts.namespace)
        .with_identity(&opts.identity)
        .with_duration(opts.lease_seconds)
        .with_grace(opts.lease_seconds.div_ceil(3).max(1))
        .build()
        .await?;
    let (leading, task) = manager.watch().await;
    Ok(Election { leading, task })
}

/// Wait until `rx` says we lead (true) or the channel closes (false).
pub async fn wait_for(rx: &mut watch::Receiver<bool>, leading: bool) -> bool {
    loop {
        if *rx.borrow_and_update() == leading {
            return true;
        }
        if rx.changed().await.is_err() {
            return false;
        }
    }
}
