//! What a replica really serves in the simulated world, apart from what the pool believes.
//!
//! The policy's `replicaCapacity` is the operator's belief; the world is either that same rating
//! ([`World::Rated`], for pools with no measurement of their model and GPU shape: the simulator then
//! cannot show a wrong belief) or a [`ReplicaProfile`] calibrated from a published measurement, so a
//! belief three times too high or too low can be replayed and the oracle, which knows the world, costs
//! the same whatever the pool believes.
//!
//! A profile models one replica at full batch (vLLM continuous batching):
//! - **prefill** is compute-bound: a prompt of `p` tokens takes `p · (1 + p / A) / P` seconds of the
//!   replica, `P` its prefill tokens per second and `A` the prompt length at which causal attention's
//!   FLOPs (2 · layers · d_model · p/2 per token, times two for scores and values) equal the dense
//!   layers' (2 · parameters per token): `A = parameters / (layers · d_model)`;
//! - **decode** is memory-bound and batched: `o` output tokens take `o / D` seconds of the replica,
//!   `D` its output tokens per second at full batch;
//! - the **KV cache** holds `K` tokens: at most `K / (p + o)` requests are resident, each for its
//!   prefill plus `o` times the time per output token at full batch.
//!
//! A replica saturates at the lower of `1 / (prefill + decode seconds)` and the KV cache's resident
//! requests over their residence time; `queueing.rs` turns saturation into latency.

use std::path::Path;

use serde::Deserialize;

use hybridscale_core::input::{self, InputError};

/// One replica of one model on one GPU shape, at full batch.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicaProfile {
    /// Name, e.g. `llama-3.1-70b-fp8-4xh100`.
    pub name: String,
    /// Where the figures come from.
    pub source: String,
    /// Prompt tokens per second at short prompts (P).
    pub prefill_tokens_per_second: f64,
    /// Prompt length at which attention doubles a prompt token's cost (A = parameters / (layers ·
    /// d_model)).
    pub attention_tokens: f64,
    /// Output tokens per second at full batch (D).
    pub decode_tokens_per_second: f64,
    /// Seconds per output token of one request at full batch.
    pub time_per_output_token_seconds: f64,
    /// Tokens the KV cache holds (K).
    pub kv_cache_tokens: f64,
}

/// Llama-3.1-70B-Instruct (FP8 weights) on 4x H100 80 GB SXM, tensor parallel 4.
///
/// Measured: Lambda's vLLM benchmark (github.com/LambdaLabsML/vllm-benchmark, `benchmark_v0.md`,
/// vLLM 0.5.4, `benchmark_serving.py` with 320 prompts): 2,242.99 output tokens/s at a median time
/// per output token of 38.26 ms. The report measures no prefill rate, so prefill is the compute bound
/// at an assumed 35% of peak: 4 × 1,979 TFLOPS (H100 SXM FP8 dense, NVIDIA datasheet) × 0.35 /
/// (2 × 70.6e9 FLOPs per token) = 19,600 tokens/s. A = 70.6e9 / (80 layers × 8,192) = 107,700. KV
/// cache: 90% of 320 GB less 70.6 GB of weights less a tenth for activations, at 327,680 bytes per
/// token (80 layers × 8 KV heads × 128 × K and V × 2 bytes): 590,000 tokens.
pub fn llama_70b_4xh100() -> ReplicaProfile {
    ReplicaProfile {
        name: "llama-3.1-70b-fp8-4xh100".into(),
        source: "Lambda vllm-benchmark (vLLM 0.5.4): 2242.99 output tok/s at 38.26 ms TPOT; prefill at 35% of FP8 peak"
            .into(),
        prefill_tokens_per_second: 19_600.0,
        attention_tokens: 107_700.0,
        decode_tokens_per_second: 2_242.99,
        time_per_output_token_seconds: 0.038_26,
        kv_cache_tokens: 590_000.0,
    }
}

/// Llama-3.1-8B (FP8 weights) on 1x H100 80 GB SXM.
///
/// Measured: the same report: 3,400.4 output tokens/s at a median time per output token of 19.75 ms.
/// Prefill at 35% of 1,979 TFLOPS over 2 × 8.03e9 FLOPs per token: 43,100 tokens/s. A = 8.03e9 /
/// (32 × 4,096) = 61,300. KV cache: 90% of 80 GB less 8 GB of weights less a tenth, at 131,072 bytes
/// per token: 439,000 tokens.
pub fn llama_8b_1xh100() -> ReplicaProfile {
    ReplicaProfile {
        name: "llama-3.1-8b-fp8-1xh100".into(),
        source: "Lambda vllm-benchmark (vLLM 0.5.4): 3400.4 output tok/s at 19.75 ms TPOT; prefill at 35% of FP8 peak"
            .into(),
        prefill_tokens_per_second: 43_100.0,
        attention_tokens: 61_300.0,
        decode_tokens_per_second: 3_400.4,
        time_per_output_token_seconds: 0.019_75,
        kv_cache_tokens: 439_000.0,
    }
}

/// The built-in profiles.
pub fn builtin() -> Vec<ReplicaProfile> {
    vec![llama_70b_4xh100(), llama_8b_1xh100()]
}

impl ReplicaProfile {
    /// Requests per second one replica completes at saturation for a token mix.
    pub fn saturation_rps(&self, mean_input: f64, mean_output: f64) -> f64 {
        let (p, o) = (mean_input.max(0.0), mean_output.max(0.0));
        let prefill_s = p * (1.0 + p / self.attention_tokens) / self.prefill_tokens_per_second;
        let decode_s = o / self.decode_tokens_per_second;
        let work_s = prefill_s + decode_s;
        if work_s <= 0.0 {
            return f64::INFINITY;
        }
        let compute = 1.0 / work_s;
        let resident = self.kv_cache_tokens / (p + o).max(1.0);
        let residence_s = prefill_s + o * self.time_per_output_token_seconds;
        let kv = if residence_s > 0.0 { resident / residence_s } else { f64::INFINITY };
        compute.min(kv)
    }

    /// Check that every figure is a positive finite number.
    fn validate(self, path: &Path) -> Result<Self, InputError> {
        let figures = [
            ("prefillTokensPerSecond", self.prefill_tokens_per_second),
            ("attentionTokens", self.attention_tokens),
            ("decodeTokensPerSecond", self.decode_tokens_per_second),
            ("timePerOutputTokenSeconds", self.time_per_output_token_seconds),
            ("kvCacheTokens", self.kv_cache_tokens),
        ];
        for (field, v) in figures {
            if !(v.is_finite() && v > 0.0 && v < 1e12) {
                return Err(InputError::invalid(
                    path,
                    format!("{field} must be a positive number below 1e12, got {v}"),
                ));
            }
        }
        Ok(self)
    }
}

/// What a replica really serves in a replay.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum World {
    /// The pool's own rating (`SimSpec::saturation` times the rated request rate for the mix).
    #[default]
    Rated,
    /// A measured profile.
    Profile(ReplicaProfile),
}

impl World {
    /// A built-in profile by name, `rated`, or a profile file (YAML or JSON, the fields of
    /// [`ReplicaProfile`] in camelCase).
    pub fn select(name_or_file: &str) -> Result<World, InputError> {
        if name_or_file == "rated" {
            return Ok(World::Rated);
        }
        if let Some(p) = builtin().into_iter().find(|p| p.name == name_or_file) {
            return Ok(World::Profile(p));
        }
        let path = Path::new(name_or_file);
        if !path.exists() {
            let names: Vec<String> = builtin().into_iter().map(|p| p.name).collect();
            return Err(InputError::invalid(
                path,
                format!("no such profile file; built-in profiles: rated, {}", names.join(", ")),
            ));
        }
        let text = input::read_to_string(path)?;
        Ok(World::Profile(input::parse_yaml::<ReplicaProfile>(path, &text)?.validate(path)?))
    }

    /// The built-in profile for a pool's model and GPUs per replica, else the rating.
    pub fn for_model(model: &str, gpus_per_replica: u32) -> World {
        let m = model.to_ascii_lowercase();
        let is = |size: &str| m.contains("llama-3.1") && m.contains(size);
        match gpus_per_replica {
            4 if is("70b") => World::Profile(llama_70b_4xh100()),
            1 if is("8b") => World::Profile(llama_8b_1xh100()),
            _ => World::Rated,
        }
    }

    /// Name for reports.
    pub fn name(&self) -> &str {
        match self {
            World::Rated => "rated (the pool's own replicaCapacity)",
            World::Profile(p) => &p.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_prompts_cost_their_prefill_and_attention() {
        let p = llama_70b_4xh100();
        // Chat-sized: 1k prompt, 250 out: compute-bound at about 6.2 rps.
        let chat = p.saturation_rps(1000.0, 250.0);
        assert!((chat - 1.0 / (1000.0 * (1.0 + 1000.0 / 107_700.0) / 19_600.0 + 250.0 / 2242.99)).abs() < 1e-9);
        // Mooncake-sized: 15.3k prompt, 149 out: about 1 rps.
        let long = p.saturation_rps(15_325.0, 149.0);
        assert!(long > 0.9 && long < 1.1, "{long}");
        // A mix with 8x the prompts costs much more than 8x the prefill alone suggests for chat.
        assert!(p.saturation_rps(8000.0, 250.0) < chat / 2.5);
        // Huge contexts: the KV cache binds (a 500k-token prompt fits once).
        let kv = p.saturation_rps(500_000.0, 1000.0);
        assert!(kv <= 590_000.0 / 501_000.0 / 40.0, "{kv}");
    }

    #[test]
    fn selection_by_name_file_or_model_with_located_errors() {
        assert_eq!(World::select("rated").unwrap(), World::Rated);
        assert_eq!(World::select("llama-3.1-70b-fp8-4xh100").unwrap(), World::Profile(llama_70b_4xh100()));
        let e = World::select("no-such").unwrap_err().to_string();
        assert!(e.starts_with("no-such: no such profile file; built-in profiles: rated, llama-3.1-70b"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.yaml");
        std::fs::write(
            &f,
            "name: mine\nsource: my vllm bench\nprefillTokensPerSecond: 10000\nattentionTokens: 1e5\n\
             decodeTokensPerSecond: 1000\ntimePerOutputTokenSeconds: 0.04\nkvCacheTokens: 1e5\n",
        )
        .unwrap();
        let World::Profile(mine) = World::select(f.to_str().unwrap()).unwrap() else { panic!("profile") };
        assert_eq!(mine.decode_tokens_per_second, 1000.0);
        std::fs::write(&f, "name: x\nsource: y\nprefillTokensPerSecond: -1\nattentionTokens: 1\ndecodeTokensPerSecond: 1\ntimePerOutputTokenSeconds: 1\nkvCacheTokens: 1\n").unwrap();
        let e = World::select(f.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains("prefillTokensPerSecond must be a positive number") && !e.contains('\n'), "{e}");
        assert_eq!(World::for_model("meta-llama/Llama-3.1-70B-Instruct", 4), World::Profile(llama_70b_4xh100()));
        assert_eq!(World::for_model("mistral", 1), World::Rated);
    }
}
