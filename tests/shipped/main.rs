//! What the project ships, checked as a user meets it: the CRDs (`crds`), the Helm chart rendered,
//! linted and installed (`argocd`, `chart_install`), the alert rules (`alert_rules`) and the Grafana
//! dashboard (`dashboard`) against real Prometheus, `hybridscale report` (`report`), the image's
//! tags (`image`) and the README's commands (`readme`). One test binary: each of these links the whole
//! operator, and on two cores every extra link costs seconds of every test run.

#[path = "../common/backfill.rs"]
mod backfill;
#[path = "../support/mod.rs"]
mod support;

mod alert_rules;
mod argocd;
mod chart_install;
mod crds;
mod dashboard;
mod image;
mod readme;
mod report;
