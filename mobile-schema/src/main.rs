//! Writes the generated schema files into this crate's folder.

fn main() -> std::io::Result<()> {
    let dir = sansang_mobile_schema::crate_dir();
    for (name, contents) in sansang_mobile_schema::files() {
        let path = dir.join(name);
        std::fs::write(&path, contents)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
