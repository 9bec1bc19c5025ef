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
    /// The releases (bit `n`: the table's `n`th, oldest first) whose
    /// declaration of the directive is this entry.
    pub releases: u8,
}

/// One row of MODULES and its directives.
pub struct TableModule {
    pub name: String,
    pub module_type: ModuleType,
    pub file: String,
    pub build: Build,
    pub entries: Vec<Entry>,
}

/// How the releases' directives compare.
#[derive(Default)]
pub struct Counts {
    /// (module, name) pairs missing from at least one release.
    pub partial: usize,
    /// Pairs with more than one form whose flags differ: an entry per form.
    pub split_flags: usize,
    /// Pairs with more than one form, all with the same flags, other fields
    /// differing: an entry per form.
    pub split_other: usize,
}

/// One release's name and number, as the header and the summary give them.
pub struct ReleaseName {
    pub label: String,
    pub version: String,
    /// How many directives (module, name pairs) it declares.
    pub directives: usize,
}

/// The releases merged: what table.rs holds.
pub struct Table {
    /// Oldest first; bit `n` of an entry's `releases` is `releases[n]`.
    pub releases: Vec<ReleaseName>,
    pub guards: BTreeSet<String>,
    pub modules: Vec<TableModule>,
    pub counts: Counts,
}

/// The names of `releases` (oldest first) in one order: the newest release's,
/// with the names only in older releases inserted after their predecessor in
/// the newest older release that has them (see [`merge_order`]).
fn merge_all<'a>(releases: &[Vec<&'a str>]) -> Vec<&'a str> {
    let mut merged: Vec<&str> = Vec::new();
    for names in releases.iter().rev() {
        merged = merge_order(names, &merged);
    }
    merged
}

impl Table {
    /// The union of the releases (oldest first). Modules, and each module's
    /// commands, are in the newest release's order, with those missing from
    /// it inserted after their predecessor in the newest release that has
    /// them. Releases declaring a command with the same flags, handler,
    /// conf, field and post share one entry; each distinct form gets its own,
    /// in the order of the oldest release declaring it. A command is matched
    /// by module and name, so one that moved to another module would get an
    /// entry in each.
    pub fn merge(releases: Vec<Release>) -> Result<Table, String> {
        if releases.is_empty() || releases.len() > 8 {
            return Err(format!(
                "{} releases: the table's `releases: u8` marks 1 to 8",
                releases.len()
            ));
        }
        let module_names: Vec<Vec<&str>> = releases
            .iter()
            .map(|r| r.modules.iter().map(|m| m.name.as_str()).collect())
            .collect();
        let mut counts = Counts::default();
        let mut modules = Vec::new();
        for name in merge_all(&module_names) {
            let per_release: Vec<Option<&Module>> =
                releases.iter().map(|r| r.module(name)).collect();
            let Some(base) = per_release.iter().rev().flatten().next() else {
                return Err(format!("module {name} vanished while merging"));
            };
            for (release, module) in releases.iter().zip(&per_release) {
                if let Some(module) = module
                    && module.module_type != base.module_type
                {
                    return Err(format!(
                        "{name} is an {:?} module in {} but an {:?} module in {}",
                        module.module_type,
                        release.label,
                        base.module_type,
                        releases.last().map_or("", |r| r.label.as_str()),
                    ));
                }
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

            let command_names: Vec<Vec<&str>> = per_release
                .iter()
                .map(|m| {
                    m.map_or_else(Vec::new, |m| {
                        m.commands.iter().map(|c| c.name.as_str()).collect()
                    })
                })
                .collect();
            let mut entries: Vec<Entry> = Vec::new();
            for command in merge_all(&command_names) {
                let mut forms: Vec<Entry> = Vec::new();
                let mut present = 0;
                for (bit, module) in per_release.iter().enumerate() {
                    let Some(found) =
                        module.and_then(|m| m.commands.iter().find(|c| c.name == command))
                    else {
                        continue;
                    };
                    present += 1;
                    match forms.iter_mut().find(|f| f.command.same_as(found)) {
                        Some(form) => form.releases |= 1 << bit,
                        None => forms.push(Entry {
                            command: found.clone(),
                            releases: 1 << bit,
                        }),
                    }
                }
                if forms.is_empty() {
                    return Err(format!("{name}: {command:?} vanished while merging"));
                }
                if present < releases.len() {
                    counts.partial += 1;
                }
                if forms.len() > 1 {
                    if forms
                        .iter()
                        .all(|f| f.command.flags == forms[0].command.flags)
                    {
                        counts.split_other += 1;
                    } else {
                        counts.split_flags += 1;
                    }
                }
                entries.extend(forms);
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
                     in any release"
                );
            }
        }
        let mut guards = BTreeSet::new();
        for release in &releases {
            guards.extend(release.guards.iter().cloned());
        }
        for (guard, _) in GUARDS {
            if !guards.contains(*guard) {
                eprintln!("warning: GUARDS has a decision for `#{guard}`, which no release uses");
            }
        }
        if modules.len() > usize::from(u16::MAX) {
            return Err("more modules than a u16 index can address".to_owned());
        }

        Ok(Table {
            releases: releases
                .into_iter()
                .map(|r| ReleaseName {
                    directives: r.modules.iter().map(|m| m.commands.len()).sum(),
                    label: r.label,
                    version: r.version,
                })
                .collect(),
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
        let oldest = release(
            "1.22.1",
            &[
                ("a", 1, "h"),
                ("gone", 1, "h"),
                ("b", 1, "h"),
                ("c", 1, "h"),
                ("back", 1, "h"),
            ],
        );
        // "back": one form in 1.22 and 1.28, another in 1.24; "brief": only
        // in 1.24.
        let middle = release(
            "1.24.0",
            &[
                ("a", 1, "h"),
                ("b", 1, "h"),
                ("brief", 1, "h"),
                ("c", 1, "h"),
                ("back", 4, "h"),
            ],
        );
        let newest = release(
            "1.28.3",
            &[
                ("a", 1, "h"),
                ("b", 2, "h"),
                ("c", 1, "other"),
                ("d", 1, "h"),
                ("back", 1, "h"),
            ],
        );
        let table = ok(Table::merge(vec![oldest, middle, newest]));
        let entries: Vec<(&str, u32, &str, u8)> = table.modules[0]
            .entries
            .iter()
            .map(|e| {
                let c = &e.command;
                (c.name.as_str(), c.flags, c.handler.as_str(), e.releases)
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("a", 1, "h", 0b111),
                ("gone", 1, "h", 0b001),
                ("b", 1, "h", 0b011),
                ("b", 2, "h", 0b100),
                ("brief", 1, "h", 0b010),
                ("c", 1, "h", 0b011),
                ("c", 1, "other", 0b100),
                ("d", 1, "h", 0b100),
                ("back", 1, "h", 0b101),
                ("back", 4, "h", 0b010),
            ]
        );
        let c = &table.counts;
        assert_eq!((c.partial, c.split_flags, c.split_other), (3, 2, 1));
        let text = table.render();
        assert!(
            text.contains(
                r#"pub const NGINX_VERSIONS: &[&str] = &["1.22.1", "1.24.0", "1.28.3"];"#
            )
        );
        assert!(text.contains(
            r#"DirectiveSpec { name: "gone", module: 0, flags: 0x0000_0001, handler: "h", conf: "0", field: "", post_kind: "", post: &[], bounds: None, releases: 0b001 },"#
        ));
    }

    #[test]
    fn merge_all_keeps_names_of_older_releases_after_their_predecessor() {
        assert_eq!(
            merge_all(&[
                vec!["a", "old", "b"],
                vec!["a", "mid", "b"],
                vec!["a", "b", "n"]
            ]),
            ["a", "old", "mid", "b", "n"]
        );
    }

    #[test]
    fn merge_order_keeps_old_names_after_their_predecessor() {
        assert_eq!(
            merge_order(&["x", "a", "y", "b", "z"], &["a", "n", "b"]),
            ["x", "a", "y", "n", "b", "z"]
        );
    }
}
