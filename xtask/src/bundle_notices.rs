//! After nice-plug-xtask has bundled the plugin: the licence and the default model's
//! attribution go into every bundle that is a folder (`Continuo.vst3`, and `Continuo.clap` on
//! macOS), under `Contents/Resources`. A Linux `.clap` is a single file: there the notice is
//! compiled into the binary (`continuo::plugin::about`). The factory presets' state files go
//! beside them, in `Contents/Resources/presets` (nice-plug has no CLAP preset discovery; the
//! editor's picker is how a `.clap` reaches them).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The files every bundle carries: (source in the repository, name in the bundle).
pub const NOTICE_FILES: [(&str, &str); 2] = [("LICENSE", "LICENSE"), ("assets/default-model-NOTICE.md", "MODEL-NOTICE.md")];
/// The folders whose files every bundle carries: (source in the repository, folder in the bundle).
pub const RESOURCE_FOLDERS: [(&str, &str); 1] = [("presets", "presets")];

/// Copies [`NOTICE_FILES`] and the files of [`RESOURCE_FOLDERS`] into each folder bundle in `bundled`; returns the folders written.
pub fn add_to_bundles(workspace_root: &Path, bundled: &Path) -> Result<Vec<PathBuf>> {
    let mut written = vec![];
    for entry in std::fs::read_dir(bundled).with_context(|| format!("cannot list {}", bundled.display()))? {
        let bundle = entry?.path();
        if !bundle.is_dir() {
            continue;
        }
        let resources = bundle.join("Contents").join("Resources");
        std::fs::create_dir_all(&resources).with_context(|| format!("cannot create {}", resources.display()))?;
        for (source, name) in NOTICE_FILES {
            copy_file(&workspace_root.join(source), &resources.join(name))?;
        }
        for (source, name) in RESOURCE_FOLDERS {
            copy_folder_files(&workspace_root.join(source), &resources.join(name))?;
        }
        written.push(resources);
    }
    Ok(written)
}

fn copy_file(source: &Path, destination: &Path) -> Result<()> {
    std::fs::copy(source, destination)
        .with_context(|| format!("cannot copy {} to {}", source.display(), destination.display()))?;
    Ok(())
}

/// Copies the files directly in `source` into `destination`, created if missing.
fn copy_folder_files(source: &Path, destination: &Path) -> Result<()> {
    std::fs::create_dir_all(destination).with_context(|| format!("cannot create {}", destination.display()))?;
    for entry in std::fs::read_dir(source).with_context(|| format!("cannot list {}", source.display()))? {
        let file = entry?.path();
        if file.is_file() {
            copy_file(&file, &destination.join(file.file_name().expect("a listed file has a name")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_bundles_get_the_licence_the_model_notice_and_the_presets_and_files_are_left_alone() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let bundled = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(bundled.path().join("Continuo.vst3/Contents/x86_64-linux")).unwrap();
        std::fs::write(bundled.path().join("Continuo.clap"), b"binary").unwrap();
        let written = add_to_bundles(workspace, bundled.path()).unwrap();
        assert_eq!(written, [bundled.path().join("Continuo.vst3/Contents/Resources")]);
        let notice = std::fs::read_to_string(&written[0].join("MODEL-NOTICE.md")).unwrap();
        assert!(notice.contains("Bernd Krüger") && notice.contains("CC BY-SA"), "{notice}");
        let licence = std::fs::read_to_string(&written[0].join("LICENSE")).unwrap();
        assert!(licence.contains("GNU GENERAL PUBLIC LICENSE"));
        let chorale = std::fs::read_to_string(written[0].join("presets/chorale.json")).unwrap();
        assert_eq!(chorale, std::fs::read_to_string(workspace.join("presets/chorale.json")).unwrap(), "the presets ride along");
        assert_eq!(std::fs::read(bundled.path().join("Continuo.clap")).unwrap(), b"binary");
    }
}
