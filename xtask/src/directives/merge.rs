//! The releases merged into the table.

use std::collections::BTreeSet;

use super::commands::{Command, Module, ModuleType};
use super::decisions::{BUILD, Build, GUARDS};
use super::release::Release;

/// `new`'s names in order, with the names only in `old` inserted after their
/// predecessor in `old` (at the start if they have none).
fn merge_order<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<&'a str> {
    let mut merged = new.to_vec();
    let mut previous: Option<&str> = None;
    for &name in old {
        if !merged.contains(&name) {
            let at = previous
                .and_then(|p| merged.iter().position(|&m| m == p))
                .map_or(0, |p| p + 1);
            merged.insert(at, name);
        }
        previous = Some(name);
    }
    merged
}

/// One row of DIRECTIVES.
pub struct Entry {
    pub command: Command,
    /// The old release has this entry (`since_1_22`).
    pub old: bool,
    /// The new release has this entry (`in_1_28`).
    pub new: bool,
}

/// One row of MODULES and its directives.
pub struct TableModule {
    pub name: String,
    pub module_type: ModuleType,
    pub file: String,
    pub build: Build,
    pub entries: Vec<Entry>,
}

/// How the two releases' directives compare.
#[derive(Default)]
pub struct Counts {
    /// (module, name) pairs only in the old release.
    pub old_only: usize,
    /// Only in the new release.
    pub new_only: usize,
    /// In both, with different flags: two entries each.
    pub split_flags: usize,
    /// In both, same flags, other fields different: two entries each.
    pub split_other: usize,
}

/// The two releases merged: what table.rs holds.
pub struct Table {
    pub old_label: String,
    pub old_version: String,
    pub new_label: String,
    pub new_version: String,
    pub guards: BTreeSet<String>,
    pub modules: Vec<TableModule>,
    pub counts: Counts,
}

impl Table {
    /// The union of the two releases. Modules, and each module's commands, are
    /// in the new release's order, with those only in the old release
    /// inserted after their predecessor there. A command present in both with
    /// the same flags, handler, conf, field and post is one entry marked for
    /// both; one that differs in any of them gets an entry per release, the
    /// old release's first. A command is matched by module and name, so one
    /// that moved to another module would get an entry in each.
    pub fn merge(old: Release, new: Release) -> Result<Table, String> {
        let module_names = |release: &Release| -> Vec<String> {
            release.modules.iter().map(|m| m.name.clone()).collect()
        };
        let (old_names, new_names) = (module_names(&old), module_names(&new));
        let order = merge_order(
            &old_names.iter().map(String::as_str).collect::<Vec<_>>(),
            &new_names.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let mut counts = Counts::default();
        let mut modules = Vec::new();
        for name in order {
            let (old_module, new_module) = (old.module(name), new.module(name));
            let Some(base) = new_module.or(old_module) else {
                return Err(format!("module {name} vanished while merging"));
            };
            if let (Some(o), Some(n)) = (old_module, new_module)
                && o.module_type != n.module_type
            {
                return Err(format!(
                    "{name} is an {:?} module in {} but an {:?} module in {}",
                    o.module_type, old.label, n.module_type, new.label
                ));
            }
            let build = BUILD
                .iter()
                .find(|(module, _)| *module == name)
                .map(|&(_, build)| build)
                .ok_or_else(|| {
                    format!(
                        "{}: no build decision for {name}; add it to BUILD in \
                         xtask/src/directives/decisions.rs",
                        base.file
                    )
                })?;

            let commands = |module: Option<&Module>| -> Vec<Command> {
                module.map_or_else(Vec::new, |m| m.commands.clone())
            };
            let (old_commands, new_commands) = (commands(old_module), commands(new_module));
            let command_names = |commands: &[Command]| -> Vec<String> {
                commands.iter().map(|c| c.name.clone()).collect()
            };
            let (old_command_names, new_command_names) =
                (command_names(&old_commands), command_names(&new_commands));
            let mut entries = Vec::new();
            for command in merge_order(
                &old_command_names
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                &new_command_names
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ) {
                let in_old = old_commands.iter().find(|c| c.name == command);
                let in_new = new_commands.iter().find(|c| c.name == command);
                let entry = |command: &Command, old: bool, new: bool| Entry {
                    command: command.clone(),
                    old,
                    new,
                };
                match (in_old, in_new) {
                    (Some(o), Some(n)) if o.same_as(n) => entries.push(entry(n, true, true)),
                    (Some(o), Some(n)) => {
                        if o.flags == n.flags {
                            counts.split_other += 1;
                        } else {
                            counts.split_flags += 1;
                        }
                        entries.push(entry(o, true, false));
                        entries.push(entry(n, false, true));
                    }
                    (Some(o), None) => {
                        counts.old_only += 1;
                        entries.push(entry(o, true, false));
                    }
                    (None, Some(n)) => {
                        counts.new_only += 1;
                        entries.push(entry(n, false, true));
                    }
                    (None, None) => {
                        return Err(format!("{name}: {command:?} vanished while merging"));
                    }
                }
            }
            modules.push(TableModule {
                name: name.to_owned(),
                module_type: base.module_type,
                file: base.file.clone(),
                build,
                entries,
            });
        }

        for (name, _) in BUILD {
            if !modules.iter().any(|m| m.name == *name) {
                eprintln!(
                    "warning: BUILD has a decision for {name}, which declares no directives \
                     in either release"
                );
            }
        }
        let guards: BTreeSet<String> = old.guards.union(&new.guards).cloned().collect();
        for (guard, _) in GUARDS {
            if !guards.contains(*guard) {
                eprintln!(
                    "warning: GUARDS has a decision for `#{guard}`, which neither release uses"
                );
            }
        }
        if modules.len() > usize::from(u16::MAX) {
            return Err("more modules than a u16 index can address".to_owned());
        }

        Ok(Table {
            old_label: old.label,
            old_version: old.version,
            new_label: new.label,
            new_version: new.version,
            guards,
            modules,
            counts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::commands::{Module, Post};
    use crate::directives::ok;

    fn release(version: &str, commands: &[(&str, u32, &str)]) -> Release {
        let commands = commands
            .iter()
            .map(|&(name, flags, handler)| Command {
                name: name.to_owned(),
                flags,
                expr: String::new(),
                handler: handler.to_owned(),
                conf: "0".to_owned(),
                field: String::new(),
                post_ref: None,
                post: Post::default(),
            })
            .collect();
        Release {
            label: format!("release-{version}"),
            version: version.to_owned(),
            guards: BTreeSet::new(),
            modules: vec![Module {
                name: "ngx_core_module".to_owned(),
                module_type: ModuleType::Core,
                file: "src/core/nginx.c".to_owned(),
                commands,
            }],
        }
    }

    #[test]
    fn releases_merge_into_a_union() {
        let old = release(
            "1.22.1",
            &[
                ("a", 1, "h"),
                ("gone", 1, "h"),
                ("b", 1, "h"),
                ("c", 1, "h"),
            ],
        );
        let new = release(
            "1.28.3",
            &[
                ("a", 1, "h"),
                ("b", 2, "h"),
                ("c", 1, "other"),
                ("d", 1, "h"),
            ],
        );
        let table = ok(Table::merge(old, new));
        let entries: Vec<(&str, u32, &str, bool, bool)> = table.modules[0]
            .entries
            .iter()
            .map(|e| {
                let c = &e.command;
                (c.name.as_str(), c.flags, c.handler.as_str(), e.old, e.new)
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("a", 1, "h", true, true),
                ("gone", 1, "h", true, false),
                ("b", 1, "h", true, false),
                ("b", 2, "h", false, true),
                ("c", 1, "h", true, false),
                ("c", 1, "other", false, true),
                ("d", 1, "h", false, true),
            ]
        );
        let c = &table.counts;
        assert_eq!(
            (c.old_only, c.new_only, c.split_flags, c.split_other),
            (1, 1, 1, 1)
        );
        let text = table.render();
        assert!(text.contains(r#"pub const NGINX_VERSIONS: &[&str] = &["1.22.1", "1.28.3"];"#));
        assert!(text.contains(
            r#"DirectiveSpec { name: "gone", module: 0, flags: 0x0000_0001, handler: "h", conf: "0", field: "", post_kind: "", post: &[], bounds: None, since_1_22: true, in_1_28: false },"#
        ));
    }

    #[test]
    fn merge_order_keeps_old_names_after_their_predecessor() {
        assert_eq!(
            merge_order(&["x", "a", "y", "b", "z"], &["a", "n", "b"]),
            ["x", "a", "y", "n", "b", "z"]
        );
    }
}
