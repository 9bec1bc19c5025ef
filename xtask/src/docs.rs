//! `cargo xtask docs`: writes the generated documentation pages
//! (docs/compatibility.md from the directive table). `--check` writes
//! nothing and fails when a page is stale.

use std::path::Path;

pub fn run(args: &[String]) -> Result<(), String> {
    let check = args.iter().any(|a| a == "--check");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let page = root.join("docs/compatibility.md");
    let text = upgate_conf::directives::compatibility_markdown();
    if check {
        let on_disk = std::fs::read_to_string(&page).unwrap_or_default();
        if on_disk != text {
            return Err(format!(
                "{} is stale: run `cargo xtask docs`",
                page.display()
            ));
        }
        return Ok(());
    }
    std::fs::create_dir_all(root.join("docs")).map_err(|e| format!("docs/: {e}"))?;
    std::fs::write(&page, text).map_err(|e| format!("{}: {e}", page.display()))?;
    println!("wrote {}", page.display());
    Ok(())
}
