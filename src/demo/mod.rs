//! One pool's world outside the operator, shared by `hybridscale demo` (src/cli/demo.rs) and the
//! end-to-end tests (e2e/support/), so the demo a newcomer runs is the world the tests check: the sample
//! objects of config/samples with fast settings ([`objects`]), the real Prometheus with a generated
//! configuration ([`prom`]), and a gateway that splits demand by the HTTPRoute's weights ([`gateway`]).

pub mod gateway;
pub mod objects;
pub mod prom;
pub mod providers;
pub mod world;
