//! `icinfer`: the command line of the icinfer inference canister.

mod demo;
mod local;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "icinfer",
    version,
    about = "Verifiable ML inference on the Internet Computer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the canister on the local host, load the bundled model, infer, and show and
    /// verify the receipt.
    Demo {
        /// The canister module (built by scripts/build-canister.sh).
        #[arg(
            long,
            default_value = "target/wasm32-unknown-unknown/release/inference.wasm"
        )]
        wasm: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Demo { wasm } => demo::run(&wasm),
    }
}
