//! Module order: `ngx_modules[]` as nginx's configure scripts build it.

use std::collections::{HashMap, HashSet};

use super::ORDER_SCRIPTS;
use super::source::Source;

/// The order of `ngx_modules[]`, derived from nginx's configure scripts.
///
/// auto/sources seeds CORE_MODULES and EVENT_MODULES, the OS scripts append
/// their event modules, and auto/modules sets `ngx_module_type` and
/// `ngx_module_name` before each `. auto/module`, which appends the names to
/// `${ngx_module_type}_MODULES`; at the end it concatenates CORE, EVENT, the
/// thread pool, HTTP, HTTP_FILTER, HTTP_AUX_FILTER, HTTP_INIT_FILTER, MAIL,
/// STREAM and MISC into `modules`, the order of `ngx_modules[]`.
///
/// We replay exactly those assignments and ignore every `if`, i.e. we compute
/// the order of a build in which every module is enabled and statically
/// linked. For the modules a real build has, the relative order is the same.
/// Approximations: (1) dynamic modules are really appended to ngx_modules[]
/// when `load_module` loads them (filters are placed by their `_ORDER` list),
/// so in Debian's build mail and stream come after everything static; this
/// only matters for a directive name declared by two modules of the same
/// module type, which are always in the same .so here. (2) The OS event
/// modules of different platforms are interleaved (Linux's epoll first).
pub fn module_order(source: &Source) -> Result<Vec<String>, String> {
    let mut vars: HashMap<String, Vec<String>> = HashMap::new();
    for script in ORDER_SCRIPTS {
        let text = source.read(script)?;
        for statement in shell_statements(&text) {
            interpret(&statement, &mut vars).map_err(|err| format!("{script}: {err}"))?;
        }
    }
    let all = vars
        .get("modules")
        .ok_or("auto/modules never assigned `modules`")?;
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    for module in all {
        if seen.insert(module.as_str()) {
            order.push(module.clone());
        }
    }
    Ok(order)
}

/// Splits a shell script into simple statements: comments dropped, line
/// continuations joined, newlines inside quotes turned into spaces, and `;`
/// or a newline outside quotes ending a statement.
fn shell_statements(text: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut in_double = false;
    let mut in_single = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !in_single => match chars.next() {
                Some('\n') => {}
                Some(escaped) => {
                    current.push('\\');
                    current.push(escaped);
                }
                None => current.push('\\'),
            },
            '"' if !in_single => {
                in_double = !in_double;
                current.push(c);
            }
            '\'' if !in_double => {
                in_single = !in_single;
                current.push(c);
            }
            '#' if !in_double
                && !in_single
                && (current.is_empty() || current.ends_with(char::is_whitespace)) =>
            {
                while chars.next_if(|&c| c != '\n').is_some() {}
            }
            '\n' | ';' if !in_double && !in_single => {
                statements.push(std::mem::take(&mut current));
            }
            '\n' => current.push(' '),
            _ => current.push(c),
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Replays one statement: `. auto/module` or a `NAME=value` assignment.
fn interpret(statement: &str, vars: &mut HashMap<String, Vec<String>>) -> Result<(), String> {
    let mut words = statement;
    while let Some(("then" | "else" | "do", rest)) = words.split_once(char::is_whitespace) {
        words = rest.trim_start();
    }
    if words == ". auto/module" {
        let module_type = vars
            .get("ngx_module_type")
            .and_then(|v| v.first())
            .cloned()
            .ok_or("`. auto/module` before any ngx_module_type")?;
        let names = vars.get("ngx_module_name").cloned().unwrap_or_default();
        vars.entry(format!("{module_type}_MODULES"))
            .or_default()
            .extend(names);
    } else if let Some((name, value)) = shell_assignment(words) {
        let expanded = expand(value, vars);
        vars.insert(name.to_owned(), expanded);
    }
    Ok(())
}

/// `NAME=value` or `NAME="value"` at the start of a statement.
fn shell_assignment(statement: &str) -> Option<(&str, &str)> {
    let (name, rest) = statement.split_once('=')?;
    let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid {
        return None;
    }
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    Some((name, value))
}

/// Splits `value` into words, replacing `$VAR`/`${VAR}` by VAR's words.
fn expand(value: &str, vars: &HashMap<String, Vec<String>>) -> Vec<String> {
    let mut words = Vec::new();
    for word in value.split_whitespace() {
        let reference = word
            .strip_prefix("${")
            .and_then(|w| w.strip_suffix('}'))
            .or_else(|| word.strip_prefix('$'));
        match reference {
            Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                words.extend(vars.get(name).into_iter().flatten().cloned());
            }
            _ => words.push(word.to_owned()),
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::ok;

    #[test]
    fn shell_replay_builds_module_lists() {
        let script = "\
CORE_MODULES=\"ngx_core_module ngx_errlog_module\"  # comment
if [ $HTTP = YES ]; then
    ngx_module_type=HTTP
    ngx_module_name=\"ngx_http_module \\
                     ngx_http_core_module\"
    . auto/module
fi
ngx_module_type=CORE
ngx_module_name=ngx_regex_module
. auto/module
modules=\"$CORE_MODULES $HTTP_MODULES\"
";
        let mut vars = HashMap::new();
        for statement in shell_statements(script) {
            ok(interpret(&statement, &mut vars));
        }
        let modules = vars.get("modules").cloned().unwrap_or_default();
        assert_eq!(
            modules,
            [
                "ngx_core_module",
                "ngx_errlog_module",
                "ngx_regex_module",
                "ngx_http_module",
                "ngx_http_core_module"
            ]
        );
    }
}
