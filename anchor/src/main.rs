//! Orbit anchor (stub).

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "anchor", version, about = "Orbit anchor")]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!("anchor {}: not implemented yet", env!("CARGO_PKG_VERSION"));
}
