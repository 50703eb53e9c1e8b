//! `sqlx::migrate!` embeds the migration files at compile time: rebuild when they change.
//! The field app's built files (`field-app/dist/`, checked in) are embedded too: this lists them
//! as `include_bytes!` entries in `$OUT_DIR/field_app.rs`, so `cargo build` needs no npm. They
//! are copied into `$OUT_DIR/field-app/` first, so a rebuild of the app running at the same time
//! cannot pull files away from under the compiler.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=../field-app/dist");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dist = manifest.join("../field-app/dist");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let copy = out_dir.join("field-app");
    let _ = std::fs::remove_dir_all(&copy);
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    // Files that vanish between listing and copying are left out (the app was being rebuilt).
    files.retain_mut(|(name, path)| {
        let target = copy.join(name.as_str());
        if let Some(parent) = target.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let copied = std::fs::copy(&*path, &target).is_ok();
        *path = target;
        copied
    });
    let mut out = String::from("/// The field app's built files: path under `/field/`, bytes.\n");
    out.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        let _ = writeln!(out, "    ({name:?}, include_bytes!({:?})),", path.display());
    }
    out.push_str("];\n");
    std::fs::write(out_dir.join("field_app.rs"), out).expect("writing field_app.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((name, path));
        }
    }
}
