use berth::cli::{Cli, Command};
use clap::Parser;

#[tokio::main]
async fn main() {
    berth::install_crypto_provider();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Plan(args) => berth::cli::plan::run(args).await,
        Command::Run(args) => berth::cli::run::run(args).await,
        Command::Crds(args) => berth::cli::crds::run(args),
        Command::IamPolicy(args) => berth::cli::iam_policy::run(args),
    };
    std::process::exit(code);
}
