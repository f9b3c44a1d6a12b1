//! `cargo xtask baselines|quality`: forwarded to the `continuo-analysis` crate, built in release
//! (the Markov baseline counts millions of contexts).

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Runs a `continuo-analysis` subcommand.
pub fn run(command: &str, args: &[String]) -> Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["run", "--release", "--quiet", "--package", "continuo-analysis", "--", command])
        .args(args)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("continuo-analysis {command} failed ({status})");
    }
    Ok(())
}
