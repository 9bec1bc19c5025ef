//! Rendering: nginx's one-line form (`upgate: [emerg] MESSAGE in FILE:LINE`)
//! for scripts, and a miette view with a caret under the offending text for
//! people.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};
use upgate_conf::{ConfError, SourceMap};

/// The line nginx would print, with upgate's name in front.
pub fn nginx_line(error: &ConfError, sources: &SourceMap) {
    eprintln!(
        "upgate: [{}] {}",
        error.level.as_str(),
        error.nginx_text(sources)
    );
}

/// A miette rendering of the error with its source, when it has a span.
pub fn fancy(error: &ConfError, sources: &SourceMap) {
    let Some(span) = error.span() else {
        if let Some(help) = &error.help {
            eprintln!("  help: {help}");
        }
        return;
    };
    if span.file.index() >= sources.len() {
        return;
    }
    let file = sources.get(span.file);
    let source = NamedSource::new(file.path.display().to_string(), file.lossy());
    let diagnostic = ConfDiagnostic {
        message: error.message.clone(),
        help: error.help.clone(),
        label: LabeledSpan::at(SourceSpan::from(span.range()), "here"),
        source,
    };
    eprintln!("{:?}", miette::Report::new(diagnostic));
}

#[derive(Debug)]
struct ConfDiagnostic {
    message: String,
    help: Option<String>,
    label: LabeledSpan,
    source: NamedSource<String>,
}

impl std::fmt::Display for ConfDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfDiagnostic {}

impl Diagnostic for ConfDiagnostic {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }
}
