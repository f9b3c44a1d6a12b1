//! The licence travels with the plugin: the default model's full attribution notice is inside
//! the `.clap` binary, and the VST3 bundle beside it (when `cargo xtask test` bundled one)
//! carries the licence and the notice in `Contents/Resources`.

#[allow(dead_code)] // the shared support module; this file needs only the plugin path
mod support;

const NOTICE: &str = include_str!("../../assets/default-model-NOTICE.md");

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[test]
fn the_clap_binary_carries_the_model_notice_and_its_description_credits_the_data() {
    let binary = std::fs::read(support::plugin_path()).expect("the plugin binary reads");
    assert!(contains(&binary, NOTICE.as_bytes()), "the full model notice is compiled into the .clap");
    assert!(contains(&binary, "© Bernd Krüger, CC BY-SA 3.0 DE), the music21 corpus (Cuthbert & Ariza) and the Nottingham Music Database".as_bytes()), "the description credits the data");
}

#[test]
fn the_vst3_bundle_carries_the_licence_and_the_model_notice() {
    let clap = support::plugin_path();
    let Some(vst3) = clap.parent().map(|folder| folder.join("Continuo.vst3")).filter(|bundle| bundle.is_dir()) else {
        // Only `cargo xtask test` (and `cargo xtask bundle`) make bundles; a bare
        // `cargo test` builds the library alone. xtask's own tests check the copying.
        assert!(std::env::var_os(support::CLAP_PATH_VARIABLE).is_none(), "a bundled .clap has its .vst3 beside it");
        return;
    };
    let resources = vst3.join("Contents").join("Resources");
    let notice = std::fs::read_to_string(resources.join("MODEL-NOTICE.md")).expect("the notice is in the VST3 bundle");
    assert_eq!(notice, NOTICE);
    let licence = std::fs::read_to_string(resources.join("LICENSE")).expect("the licence is in the VST3 bundle");
    assert!(licence.starts_with("                    GNU GENERAL PUBLIC LICENSE\n                       Version 3"));
}
