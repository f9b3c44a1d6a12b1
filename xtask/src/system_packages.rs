//! The Debian packages the test suite needs beyond a Rust toolchain, gcc and python3, installed
//! by `cargo xtask test` itself so that the README's test command works on a fresh machine.
//! As root it runs apt-get; otherwise with `sudo -n` (never prompting); where neither works it
//! stops at once with the exact command to run.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// What the tests need, and why: the VST3 test's venv (pedalboard); the JACK end-to-end
/// test's server, example clients and what the standalone app (nice-plug's JACK and ALSA
/// backends) links; the editor end-to-end test's virtual X server, mouse clicks and
/// screenshots.
pub const REQUIRED_PACKAGES: [&str; 8] = [
    "python3-venv",
    "jackd2",
    "libjack-jackd2-dev",
    "libasound2-dev",
    "pkg-config",
    "xvfb",
    "xdotool",
    "imagemagick",
];

/// How a missing package gets installed.
#[derive(Debug, PartialEq, Eq)]
pub enum Installer {
    /// Running as root: apt-get directly.
    Root,
    /// Not root, but `sudo` works without a password prompt.
    Sudo,
    /// Neither: the user must run the command.
    Nobody,
}

/// The packages of `wanted` that `is_installed` says are missing.
pub fn missing_packages<'a>(wanted: &[&'a str], is_installed: impl Fn(&str) -> bool) -> Vec<&'a str> {
    wanted.iter().copied().filter(|package| !is_installed(package)).collect()
}

/// The commands that install `packages` (apt-get update, then install), prefixed with sudo when
/// the installer needs it.
pub fn install_commands(packages: &[&str], installer: &Installer) -> Vec<Vec<String>> {
    let prefix: Vec<String> = match installer {
        Installer::Sudo => vec!["sudo".into(), "-n".into()],
        Installer::Root | Installer::Nobody => vec![],
    };
    let update = ["apt-get", "update", "-q"].iter().map(|word| word.to_string());
    let install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"].iter().map(|word| word.to_string());
    vec![
        prefix.iter().cloned().chain(update).collect(),
        prefix.iter().cloned().chain(install).chain(packages.iter().map(|package| package.to_string())).collect(),
    ]
}

/// Installs whatever of [`REQUIRED_PACKAGES`] is missing, or fails with the command to run.
pub fn ensure_installed() -> Result<()> {
    let missing = missing_packages(&REQUIRED_PACKAGES, dpkg_has);
    if missing.is_empty() {
        return Ok(());
    }
    let installer = which_installer();
    let commands = install_commands(&missing, &installer);
    if installer == Installer::Nobody {
        let shown: Vec<String> = commands.iter().map(|words| format!("sudo {}", words.join(" "))).collect();
        bail!("the tests need Debian packages that are missing ({}); run:\n  {}", missing.join(", "), shown.join("\n  "));
    }
    println!("\n== install missing Debian packages: {}", missing.join(" "));
    for words in &commands {
        let status = Command::new(&words[0])
            .args(&words[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .with_context(|| format!("cannot start {}", words.join(" ")))?;
        if !status.success() {
            bail!("{} failed ({status})", words.join(" "));
        }
    }
    Ok(())
}

/// Whether dpkg knows `package` as installed.
fn dpkg_has(package: &str) -> bool {
    let query = Command::new("dpkg-query").args(["--show", "--showformat=${Status}", package]).output();
    query.is_ok_and(|output| output.status.success() && String::from_utf8_lossy(&output.stdout).ends_with("installed"))
}

fn which_installer() -> Installer {
    let uid = Command::new("id").arg("-u").output().map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    if uid.is_ok_and(|uid| uid == "0") {
        return Installer::Root;
    }
    let sudo_works = Command::new("sudo").args(["-n", "true"]).status().is_ok_and(|status| status.success());
    if sudo_works {
        Installer::Sudo
    } else {
        Installer::Nobody
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_missing_packages_are_installed() {
        let installed = ["jackd2", "pkg-config"];
        let missing = missing_packages(&REQUIRED_PACKAGES, |package| installed.contains(&package));
        assert_eq!(missing, ["python3-venv", "libjack-jackd2-dev", "libasound2-dev", "xvfb", "xdotool", "imagemagick"]);
        assert!(missing_packages(&REQUIRED_PACKAGES, |_| true).is_empty());
    }

    #[test]
    fn the_install_commands_use_sudo_only_when_not_root() {
        let as_root = install_commands(&["jackd2"], &Installer::Root);
        assert_eq!(as_root[0], ["apt-get", "update", "-q"]);
        assert_eq!(as_root[1], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "jackd2"]);
        let with_sudo = install_commands(&["jackd2", "pkg-config"], &Installer::Sudo);
        assert!(with_sudo.iter().all(|words| words[..2] == ["sudo", "-n"]));
        assert_eq!(with_sudo[1].last().map(String::as_str), Some("pkg-config"));
    }

    #[test]
    fn dpkg_reports_an_unknown_package_as_missing() {
        assert!(!dpkg_has("continuo-no-such-package"));
    }
}
