//! `hybridscale crd [--out-dir DIR]`: the CRDs generated from `crates/api/src/`.

use std::io::Write;
use std::path::PathBuf;

use super::Failure;
use crate::api;

/// Flags of `hybridscale crd`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write one file per CRD, named `<plural>.<group>.yaml`, into this directory instead of printing
    /// them as one multi-document YAML.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Print or write the CRDs.
pub fn run(args: Args) -> Result<(), Failure> {
    let crds = api::crds();
    match args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
            for crd in &crds {
                let path = dir.join(api::crd_file_name(crd));
                let yaml = api::crd_yaml(crd).map_err(Failure::runtime)?;
                std::fs::write(&path, yaml).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            for crd in &crds {
                let yaml = api::crd_yaml(crd).map_err(Failure::runtime)?;
                // Each document starts with `---` so the stream is one valid multi-document YAML.
                writeln!(out, "---\n{}", yaml.trim_end()).map_err(Failure::runtime)?;
            }
        }
    }
    Ok(())
}
