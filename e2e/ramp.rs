//! Load ramps (real binary): the overflow goes to the external backend while new spot replicas start,
//! spot scales up with its NodePool limit, and the weights return to self-hosted as replicas become
//! Ready. Every applied change leaves an Event with the planner's reason. The route points at a Gateway
//! API Inference Extension InferencePool, not a Service.

use hybridscale::api::conditions::ConditionStatus;
use hybridscale::sandbox::faults::FaultConfig;

use crate::support::env::{Env, wait};
use crate::support::objects::Setup;
use crate::support::operator::Operator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_ramp_scales_spot_and_overflows_meanwhile() {
    // The route's self-hosted backend is a Gateway API Inference Extension InferencePool, as on the 2026
    // inference stack; the weights and the scale targets are the same as with a Service.
    let setup = Setup { gie_backend: true, ..Setup::default() };
    let env = Env::start("e2e-ramp", &setup, FaultConfig::default()).await;
    env.set_demand(2.0);
    let mut op = Operator::binary(&env, "ramp", None);

    // Steady state on the one reserved replica: everything self-hosted, status written.
    env.wait_for("first status with all traffic self-hosted", wait(), || async {
        let s = env.status().await?;
        (s.traffic.self_hosted_weight == 100 && s.ready.reserved == 1).then_some(())
    })
    .await;
    assert_eq!(env.replicas().await, [1, 0, 0], "{}", op.log());

    // Ramp to 14 rps: the reserved replica serves 5; the rest needs two spot replicas (5 rps each).
    env.set_demand(14.0);
    let ext = env
        .wait_for("overflow to the external backend", wait(), || async {
            let (_, ext) = env.weights().await?;
            (ext > 0).then_some(ext)
        })
        .await;
    let (ready_then, replicas_then) = (env.ready_pods().await, env.replicas().await);
    assert!(
        ready_then[1] < 2,
        "the overflow must go external while spot replicas start, not after: ext={ext} ready={ready_then:?} \
         replicas={replicas_then:?}"
    );

    env.wait_for("two spot replicas asked for", wait(), || async { (env.replicas().await == [1, 2, 0]).then_some(()) })
        .await;
    if env.has_node_pools() {
        env.wait_for("spot NodePool limit raised to 2 GPUs", wait(), || async {
            (env.nodepool_limits().await[1].as_deref() == Some("2")).then_some(())
        })
        .await;
    }
    env.wait_for("weights back to self-hosted once the replicas are Ready", wait(), || async {
        let ready = env.ready_pods().await;
        (env.weights().await == Some((100, 0)) && ready == [1, 2, 0]).then_some(())
    })
    .await;
    let status = env
        .wait_for("status shows 3 ready replicas and Ready=True", wait(), || async {
            let s = env.status().await?;
            let ready = s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True);
            (s.ready_replicas == 3 && ready).then_some(s)
        })
        .await;
    assert_eq!(status.replicas.spot, 2);
    // The Inference Extension pool selects every class's pods: nothing to report.
    let degraded = status.conditions.iter().find(|c| c.type_ == "Degraded");
    assert!(degraded.is_none_or(|c| c.status != ConditionStatus::True), "{degraded:?}");

    let events = env.events().await;
    assert!(
        events.iter().any(|(r, n)| r == "Scaled" && n.contains("llm-spot")),
        "a Scaled event for the spot Deployment: {events:?}"
    );
    assert!(events.iter().any(|(r, _)| r == "TrafficShifted"), "a TrafficShifted event: {events:?}");
    if env.has_node_pools() {
        assert!(events.iter().any(|(r, _)| r == "NodePoolResized"), "a NodePoolResized event: {events:?}");
    }
    assert!(events.iter().all(|(_, n)| !n.is_empty()), "every event carries a note: {events:?}");

    // The binary's telemetry: health, readiness and the per-pool and reconcile metrics.
    let addr = op.metrics_addr().expect("metrics address in the operator's log");
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let req = http.get(format!("http://{addr}{path}"));
        async move {
            let r = req.send().await.expect("GET");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    assert_eq!(get("/readyz").await.0, 200);
    let (code, metrics) = get("/metrics").await;
    assert_eq!(code, 200);
    for needle in [
        "hybridscale_reconciles_total{kind=\"InferencePool\"}".to_string(),
        format!("hybridscale_pool_replicas{{namespace=\"{}\",pool=\"llm\",class=\"spot\"}} 2", env.ns),
        "hybridscale_leader 1".to_string(),
        format!("hybridscale_pool_ready_replicas{{namespace=\"{}\",pool=\"llm\",class=\"spot\"}} 2", env.ns),
        format!("hybridscale_pool_info{{namespace=\"{}\",pool=\"llm\",policy=", env.ns),
        format!(
            "hybridscale_pool_counterfactual_month_to_date_usd{{namespace=\"{}\",pool=\"llm\",scenario=\"on_demand_only\"}}",
            env.ns
        ),
        format!("hybridscale_policy_month_to_date_usd{{namespace=\"{}\",", env.ns),
        "hybridscale_build_info{version=".to_string(),
    ] {
        assert!(metrics.contains(&needle), "{needle} in /metrics:\n{metrics}");
    }
    // The ledger's counters integrate what ran: spot spend and self-hosted tokens, and the month-to-date
    // gauges by class add up to the status's total.
    let value = |series: String| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(&series)).unwrap_or_default();
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(-1.0)
    };
    let p = format!("namespace=\"{}\",pool=\"llm\"", env.ns);
    assert!(value(format!("hybridscale_pool_cost_usd_total{{{p},class=\"spot\"}}")) > 0.0, "{metrics}");
    let tokens = format!("hybridscale_pool_tokens_total{{{p},route=\"self_hosted\",kind=\"prompt\"}}");
    assert!(value(tokens) > 0.0, "{metrics}");
    assert!(value(format!("hybridscale_pool_requests_total{{{p}}}")) > 0.0, "{metrics}");
    let cost = env.status().await.map(|s| s.cost).unwrap_or_default();
    assert!(cost.tokens.self_hosted_prompt > 0.0 && cost.counterfactual.all_external_usd > 0.0, "{cost:?}");
    // Attribution: the gateway's tenant series split the spend 3:1, in status and in the counters.
    let tenants: Vec<&str> = cost.top_tenants.iter().map(|t| t.tenant.as_str()).collect();
    assert_eq!(tenants, ["search", "chat"], "{cost:?}");
    let (search, chat) = (cost.top_tenants[0].total(), cost.top_tenants[1].total());
    assert!((search / chat - 3.0).abs() < 0.2, "{cost:?}");
    assert!(value(format!("hybridscale_pool_tenant_cost_usd_total{{{p},tenant=\"search\"}}")) > 0.0, "{metrics}");

    // The CostPolicy carries a commitment entry for the pool (the advice, or why there is none yet:
    // minutes of history are no basis for a yearly commitment, and the replay says so).
    let policies: kube::Api<hybridscale::api::CostPolicy> = kube::Api::namespaced(env.client.clone(), &env.ns);
    let advice = env
        .wait_for("reservation advice in the CostPolicy status", wait(), || async {
            let s = policies.get("e2e").await.ok()?.status?;
            s.reservation_advice.into_iter().find(|a| a.pool == "llm")
        })
        .await;
    assert!(!advice.reason.is_empty(), "{advice:?}");

    // Deleting the pool: the finalizer leaves the route on the ready self-hosted replicas and lets go.
    let pools: kube::Api<hybridscale::api::InferencePool> = kube::Api::namespaced(env.client.clone(), &env.ns);
    pools.delete("llm", &Default::default()).await.expect("delete pool");
    env.wait_for("pool deleted through its finalizer", wait(), || async {
        pools.get_opt("llm").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(env.weights().await, Some((100, 0)), "route left on the ready replicas");
    assert_eq!(env.replicas().await, [1, 2, 0], "capacity is never taken away by deleting the pool");

    op.stop().await;
    env.stop().await;
}
