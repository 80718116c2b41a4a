#!/usr/bin/env bash
# Run the e2e scenarios in their cluster mode (HS_E2E_KUBECONFIG) against a stand-in for a real cluster:
# `hybridscale sandbox apiserver --simulate-cluster`, started here as a separate process. The harness and
# the operator reach it only through the kubeconfig it writes, exactly as they would reach a real
# cluster: one shared API server for all scenarios, a fresh namespace each, CRDs installed only if
# missing, the clean-up through the API, spot interruptions delivered as a termination handler's taint.
#
# Usage: e2e/kubeconfig.sh nodepools|plain [extra `cargo test --test e2e` arguments]
#   nodepools  HS_E2E_NODEPOOLS=1: each scenario creates its own Karpenter NodePools (simulated here).
#   plain      replicas are plain pods on the cluster's existing nodes: one worker Node is created here
#              with the real kubectl, as a cluster without Karpenter would already have.
set -euo pipefail
mode="${1:-}"
case "$mode" in
  nodepools) nodepools=1 ;;
  plain) nodepools=0 ;;
  *) echo "usage: $0 nodepools|plain [cargo test args]" >&2; exit 2 ;;
esac
shift
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
command -v kubectl >/dev/null || { echo "$0: kubectl not found on PATH" >&2; exit 1; }

"$CARGO" build --quiet --bin hybridscale
bin="${CARGO_TARGET_DIR:-target}/debug/hybridscale"
dir="$(mktemp -d)"
kubeconfig="$dir/kubeconfig"
# The simulated cluster's delays scaled by 0.02: a 2.4 s model load, 1.8 s node provisioning, 0.6 s
# consolidation, 2.4 s spot notice (the harness delivers its own notices on a cluster).
"$bin" sandbox apiserver --simulate-cluster --time-scale 0.02 --seed 7 --kubeconfig "$kubeconfig" \
  >"$dir/apiserver.out" 2>"$dir/apiserver.log" &
pid=$!
cleanup() {
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

for _ in $(seq 100); do
  [ -s "$dir/apiserver.out" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/apiserver.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$dir/apiserver.out" ] || { echo "$0: sandbox apiserver wrote no kubeconfig" >&2; exit 1; }
KUBECONFIG="$kubeconfig" kubectl get --raw /version >/dev/null

if [ "$nodepools" = 0 ]; then
  KUBECONFIG="$kubeconfig" kubectl apply -f - <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: worker-1
  labels: {kubernetes.io/hostname: worker-1, kubernetes.io/os: linux}
EOF
fi

echo "== e2e against $(head -1 "$dir/apiserver.out") (mode $mode)"
status=0
# A failing wait should not hold CI for the 10-minute real-cluster default.
HS_E2E_KUBECONFIG="$kubeconfig" HS_E2E_NODEPOOLS="$nodepools" HS_E2E_WAIT_SECONDS="${HS_E2E_WAIT_SECONDS:-120}" \
  "$CARGO" test --test e2e --no-fail-fast "$@" || status=$?

# Every scenario deletes its namespace at the end (also when it fails): none may be left behind.
left="$(KUBECONFIG="$kubeconfig" kubectl get namespaces -l e2e.hybridscale.dev/run -o name)"
if [ -n "$left" ]; then
  echo "$0: namespaces left behind:" $left >&2
  status=1
fi
if [ "$nodepools" = 1 ]; then
  left="$(KUBECONFIG="$kubeconfig" kubectl get nodepools.karpenter.sh -l e2e.hybridscale.dev/run -o name)"
  if [ -n "$left" ]; then
    echo "$0: NodePools left behind:" $left >&2
    status=1
  fi
fi
exit "$status"
