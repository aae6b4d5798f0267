//! `berth crds`: prints the CustomResourceDefinitions berth defines, as multi-document YAML
//! (`kubectl apply -f -` ready; the same as `crds/` in the repository).

use clap::Args;

#[derive(Args, Debug)]
pub struct CrdsArgs {}

/// Prints the CRDs; returns the process exit code.
pub fn run(_args: CrdsArgs) -> i32 {
    match crate::policy::crds_yaml() {
        Ok(yaml) => {
            print!("{yaml}");
            0
        }
        Err(e) => {
            eprintln!("error: cannot render the CRDs: {e}");
            1
        }
    }
}
