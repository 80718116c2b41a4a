//! External API prices from a price file in LiteLLM's `model_prices_and_context_window.json` format
//! (a file on disk or the content of a ConfigMap key): a JSON object keyed by model name whose
//! entries carry `input_cost_per_token` and `output_cost_per_token` in USD.

use std::collections::HashMap;
use std::path::Path;

use crate::input::{InputError, read_to_string};

/// Per-token prices of one model.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenPrices {
    /// USD per input (prompt) token.
    pub input_usd_per_token: f64,
    /// USD per output (generated) token.
    pub output_usd_per_token: f64,
    /// The entry's `litellm_provider`, e.g. openai.
    pub provider: Option<String>,
}

/// A parsed LiteLLM price file: every entry that has both per-token prices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PriceTable {
    entries: HashMap<String, TokenPrices>,
}

impl PriceTable {
    /// Parse the JSON text; `source` names the file or ConfigMap key in errors.
    pub fn parse(source: &Path, text: &str) -> Result<Self, InputError> {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| InputError::Parse {
                path: source.to_path_buf(),
                line: e.line() as u64,
                column: e.column() as u64,
                message: e.to_string(),
            })?;
        let mut entries = HashMap::new();
        for (model, entry) in map {
            // `sample_spec` documents the fields with strings in place of numbers.
            if model == "sample_spec" {
                continue;
            }
            let price = |field: &str| entry.get(field).and_then(|v| v.as_f64()).filter(|p| p.is_finite() && *p >= 0.0);
            // Embedding, image and audio entries lack one of the two; they cannot price chat traffic.
            if let (Some(input), Some(output)) = (price("input_cost_per_token"), price("output_cost_per_token")) {
                let provider = entry.get("litellm_provider").and_then(|v| v.as_str()).map(str::to_string);
                entries
                    .insert(model, TokenPrices { input_usd_per_token: input, output_usd_per_token: output, provider });
            }
        }
        if entries.is_empty() {
            return Err(InputError::invalid(
                source,
                "no entry with both input_cost_per_token and output_cost_per_token; is this a LiteLLM price file?",
            ));
        }
        Ok(PriceTable { entries })
    }

    /// Read and parse a price file.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        Self::parse(path, &read_to_string(path)?)
    }

    /// Prices of a model: its exact key, or `provider/model` where the entry's provider matches.
    pub fn get(&self, model: &str) -> Option<&TokenPrices> {
        if let Some(p) = self.entries.get(model) {
            return Some(p);
        }
        let (provider, name) = model.split_once('/')?;
        self.entries.get(name).filter(|p| p.provider.as_deref() == Some(provider))
    }

    /// Number of priced models.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no model is priced (never, for a table built by `parse`).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_real_litellm_file() {
        // An excerpt of the real file (tests/data/README.md): sample_spec, 12 chat models, one embedding
        // (priced per input token, output 0), one image and one audio entry (not priced per token).
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/llm_api_prices_litellm/model_prices_and_context_window.json");
        let table = PriceTable::load(&path).unwrap();
        assert_eq!(table.len(), 13);
        let gpt4o = table.get("gpt-4o").unwrap();
        assert_eq!(gpt4o.input_usd_per_token, 2.5e-6);
        assert_eq!(gpt4o.output_usd_per_token, 1e-5);
        assert_eq!(table.get("openai/gpt-4o"), Some(gpt4o));
        assert_eq!(table.get("anthropic/gpt-4o"), None);
        assert!(table.get("sample_spec").is_none());
    }

    #[test]
    fn bad_files_say_where() {
        let err = PriceTable::parse(Path::new("cm/prices.json"), "{\n \"a\": [1,\n}").unwrap_err().to_string();
        assert!(err.starts_with("cm/prices.json:3:"), "{err}");
        let err = PriceTable::parse(Path::new("p.json"), r#"{"emb": {"input_cost_per_token": 1e-7}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.json: no entry"), "{err}");
    }
}
