//! cargo as the xtask commands run it: without what `cargo run` told xtask
//! about itself (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...). ring's build script
//! reads CARGO_MANIFEST_DIR, so a nested build that inherits xtask's value
//! rebuilds ring and everything above it (rustls, upgate), and the next
//! plain `cargo build` rebuilds them back.

use std::process::Command;

/// `cargo` (the one that runs xtask) with the package variables removed.
pub fn command() -> Command {
    let mut c = Command::new(env!("CARGO"));
    for (name, _) in std::env::vars_os() {
        if is_package_var(&name.to_string_lossy()) {
            c.env_remove(&name);
        }
    }
    c
}

/// The variables cargo sets for the package it runs (not the ones, such as
/// CARGO_HOME or CARGO_TARGET_DIR, that the user set for every build).
fn is_package_var(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_the_user_set() {
        for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_CRATE_NAME"] {
            assert!(is_package_var(name), "{name}");
        }
        for name in ["CARGO_TARGET_DIR", "CARGO_HOME", "CARGO", "PATH"] {
            assert!(!is_package_var(name), "{name}");
        }
    }
}
