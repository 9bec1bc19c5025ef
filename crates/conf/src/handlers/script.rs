//! The variable references in a value nginx compiles as a script
//! (`ngx_http_script_compile` in src/http/ngx_http_script.c): `$name`,
//! `${name}`, and the captures `$1`..`$9`.

/// One `$...` in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptPart {
    /// A variable, by the name as written (nginx lowercases it when looking up).
    Variable { name: String, offset: usize },
    /// `$1`..`$9`.
    Capture(u8),
}

/// Splits out the variable references, or returns nginx's error message.
pub fn compile(value: &[u8]) -> Result<Vec<ScriptPart>, String> {
    let mut parts = Vec::new();
    visit(value, |part| parts.push(part.to_owned_part()))?;
    Ok(parts)
}

/// A reference borrowed from the value (no allocation per variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptRef<'a> {
    Variable { name: &'a [u8], offset: usize },
    Capture(u8),
}

impl ScriptRef<'_> {
    fn to_owned_part(self) -> ScriptPart {
        match self {
            ScriptRef::Variable { name, offset } => ScriptPart::Variable {
                name: String::from_utf8_lossy(name).into_owned(),
                offset,
            },
            ScriptRef::Capture(n) => ScriptPart::Capture(n),
        }
    }
}

/// Calls `f` for every `$...` of the value, in order, or returns nginx's
/// error message.
pub fn visit<'a>(value: &'a [u8], mut f: impl FnMut(ScriptRef<'a>)) -> Result<(), String> {
    let mut i = 0;
    while i < value.len() {
        if value[i] != b'$' {
            i += 1;
            continue;
        }
        let dollar = i;
        i += 1;
        let Some(&first) = value.get(i) else {
            return Err(invalid(value));
        };
        if (b'1'..=b'9').contains(&first) {
            f(ScriptRef::Capture(first - b'0'));
            i += 1;
            continue;
        }
        let mut bracket = false;
        if first == b'{' {
            bracket = true;
            i += 1;
            if i == value.len() {
                return Err(invalid(value));
            }
        }
        let start = i;
        let mut end = None;
        while i < value.len() {
            let ch = value[i];
            if ch == b'}' && bracket {
                end = Some(i);
                bracket = false;
                i += 1;
                break;
            }
            if ch.is_ascii_alphanumeric() || ch == b'_' {
                i += 1;
                continue;
            }
            break;
        }
        let name = &value[start..end.unwrap_or(i)];
        if bracket {
            return Err(format!(
                "the closing bracket in \"{}\" variable is missing",
                String::from_utf8_lossy(name)
            ));
        }
        if name.is_empty() {
            return Err(invalid(value));
        }
        f(ScriptRef::Variable {
            name,
            offset: dollar,
        });
    }
    Ok(())
}

/// True when nginx would compile the value as a script (it holds a `$`).
pub fn has_variables(value: &[u8]) -> bool {
    value.contains(&b'$')
}

fn invalid(value: &[u8]) -> String {
    format!(
        "invalid variable name in \"{}\"",
        String::from_utf8_lossy(value)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &str) -> Vec<String> {
        compile(v.as_bytes())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                ScriptPart::Variable { name, .. } => Some(name),
                ScriptPart::Capture(_) => None,
            })
            .collect()
    }

    #[test]
    fn finds_variables() {
        assert_eq!(
            names("$scheme://$host$request_uri"),
            vec!["scheme", "host", "request_uri"]
        );
        assert_eq!(names("${a}b$c-d"), vec!["a", "c"]);
        assert_eq!(names("$1$2x"), Vec::<String>::new());
    }

    #[test]
    fn errors() {
        assert_eq!(
            compile(b"a$"),
            Err("invalid variable name in \"a$\"".into())
        );
        assert_eq!(
            compile(b"$-"),
            Err("invalid variable name in \"$-\"".into())
        );
        assert_eq!(
            compile(b"${abc"),
            Err("the closing bracket in \"abc\" variable is missing".into())
        );
    }
}
