//! Runs a workspace binary crate's subcommand, built in release: the trainer (`continuo-train`,
//! the one profile that builds burn) and the analysis tools (`continuo-analysis`, whose Markov
//! baseline counts millions of contexts).

use std::process::Command;

use anyhow::{bail, Context, Result};

/// The cargo that runs this xtask (or `cargo` on the PATH).
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo run --release --package <package> -- <command> <args>` from the workspace root.
pub fn run_package(package: &str, command: &str, args: &[String]) -> Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    let status = cargo()
        .args(["run", "--release", "--quiet", "--package", package, "--", command])
        .args(args)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("{package} {command} failed ({status})");
    }
    Ok(())
}
