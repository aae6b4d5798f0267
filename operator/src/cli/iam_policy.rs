//! `berth iam-policy`: the least-privilege cloud policy for exactly the calls berth makes.

use super::Cloud;
use clap::Args;

#[derive(Args, Debug)]
pub struct IamPolicyArgs {
    /// The cloud whose policy to print.
    #[arg(long, value_enum, default_value_t = Cloud::default_for_build(), env = "BERTH_CLOUD")]
    pub cloud: Cloud,
    /// The cluster name berth runs with (`--cluster-name`): mutating calls are allowed only on
    /// resources tagged `elbv2.k8s.aws/cluster=<name>`.
    #[arg(long, env = "BERTH_CLUSTER_NAME")]
    pub cluster_name: String,
}

pub fn run(args: IamPolicyArgs) -> i32 {
    let policy = match super::cloud::iam_policy(args.cloud, &args.cluster_name) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match serde_json::to_string_pretty(&policy) {
        Ok(s) => {
            // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "{s}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
