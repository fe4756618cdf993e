//! The workspace's dependency direction (docs/CONTRIBUTING.md), checked on the real graph with
//! `cargo tree`: camward-config is the leaf every crate may depend on, and the identity and
//! storage crates every protocol uses never build the media pipeline.

use std::path::Path;
use std::process::Command;

/// The normal (non-dev, non-build) dependencies of `package`, one crate name per line.
fn dependencies(package: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args([
            "tree", "--locked", "-e", "normal", "--prefix", "none", "-p", package,
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn config_depends_on_no_other_camward_crate() {
    let deps = dependencies("camward-config");
    let camward: Vec<_> = deps
        .iter()
        .filter(|d| d.starts_with("camward") && *d != "camward-config")
        .collect();
    assert!(camward.is_empty(), "camward-config depends on {camward:?}");
}

#[test]
fn auth_and_store_never_build_the_media_pipeline() {
    for package in ["camward-auth", "camward-store"] {
        let deps = dependencies(package);
        for media in ["camward-media", "camward-record", "openh264", "retina"] {
            assert!(
                !deps.iter().any(|d| d == media),
                "{package} pulls in {media}: {deps:?}"
            );
        }
    }
}
