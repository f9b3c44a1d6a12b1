//! `cargo xtask test`: the whole test suite. Installs the Debian packages it needs (see
//! [`crate::system_packages`]), bundles the plugin, builds the debug plugin that
//! aborts on allocation in `process()`, prepares a Python venv with pedalboard for the VST3
//! test, then runs `cargo test --release --workspace` (whose CLAP host tests load those
//! builds), the VST3 test, the JACK end-to-end script and the editor's (under Xvfb). Every
//! part runs even if an earlier one fails; the command fails if any did.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::release_run::cargo;

/// The Python packages the VST3 test needs (pinned major versions: their APIs are used).
const PYTHON_PACKAGES: [&str; 2] = ["pedalboard>=0.9,<1", "numpy>=1.24,<3"];

/// Where cargo puts build outputs.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

/// Runs a command, printing it; Ok(()) on success.
fn run(title: &str, command: &mut Command) -> Result<()> {
    println!("\n== {title}\n   {command:?}");
    let status = command.status().with_context(|| format!("cannot start: {command:?}"))?;
    if !status.success() {
        bail!("{title} failed ({status})");
    }
    Ok(())
}

/// Builds the release bundles into `target/bundled`.
pub fn bundle_release() -> Result<PathBuf> {
    run("bundle the plugin", cargo().args(["xtask", "bundle", "continuo", "--release"]))?;
    Ok(target_dir().join("bundled"))
}

/// Builds the debug plugin with `assert_process_allocs` and keeps a copy where later debug
/// builds do not overwrite it.
fn build_alloc_checked_plugin() -> Result<PathBuf> {
    run(
        "build the allocation-checking debug plugin",
        cargo().args(["build", "--package", "continuo", "--lib", "--features", "assert_process_allocs"]),
    )?;
    let folder = target_dir().join("alloc-check");
    std::fs::create_dir_all(&folder)?;
    let copy = folder.join("libcontinuo.so");
    std::fs::copy(target_dir().join("debug").join("libcontinuo.so"), &copy).context("copying the debug plugin")?;
    Ok(copy)
}

/// A venv with pedalboard, made once and reused.
fn python_venv() -> Result<PathBuf> {
    let venv = target_dir().join("venv-host-tests");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run("create the Python venv", Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run("install pedalboard", Command::new(&python).args(["-m", "pip", "install", "--quiet"]).args(PYTHON_PACKAGES))?;
    Ok(python)
}

/// Runs everything; fails if any part failed.
pub fn test() -> Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    crate::system_packages::ensure_installed()?;
    let mut failures: Vec<String> = vec![];
    let mut note = |result: Result<()>| {
        if let Err(error) = result {
            println!("!! {error:#}");
            failures.push(format!("{error:#}"));
        }
    };
    let bundles = bundle_release();
    let alloc_checked = build_alloc_checked_plugin();
    let mut workspace_tests = cargo();
    workspace_tests.args(["test", "--release", "--workspace", "--no-fail-fast"]);
    if let Ok(bundles) = &bundles {
        workspace_tests.env("CONTINUO_CLAP", absolute(&bundles.join("Continuo.clap"))?);
    }
    if let Ok(plugin) = &alloc_checked {
        workspace_tests.env("CONTINUO_ALLOC_CHECK_CLAP", absolute(plugin)?);
    }
    note(run("cargo test --release --workspace", &mut workspace_tests));
    match &bundles {
        Ok(bundles) => {
            let vst3 = absolute(&bundles.join("Continuo.vst3"))?;
            note(python_venv().and_then(|python| {
                run("VST3 test in pedalboard", Command::new(python).arg("tests/vst3_pedalboard.py").arg(vst3))
            }));
        }
        Err(error) => note(Err(anyhow::anyhow!("bundling failed, so no VST3 test: {error:#}"))),
    }
    note(run("JACK end to end (standalone app)", Command::new("bash").arg("scripts/jack-e2e.sh")));
    // A debug build that aborts if process() allocates: it shares its dependencies with the
    // allocation-checking plugin built above.
    let mut editor_e2e = Command::new("bash");
    editor_e2e.arg("scripts/editor-e2e.sh").env("CONTINUO_E2E_PROFILE", "debug");
    note(run("editor end to end (standalone app under Xvfb, allocation-checked)", &mut editor_e2e));
    if let Err(error) = alloc_checked {
        note(Err(error));
    }
    if failures.is_empty() {
        println!("\nall tests passed");
        Ok(())
    } else {
        bail!("{} part(s) failed:\n  {}", failures.len(), failures.join("\n  "))
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("no absolute path for {}", path.display()))
}
