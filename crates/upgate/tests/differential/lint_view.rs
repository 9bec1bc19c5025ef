//! What `upgate lint` says of a case nginx rejects: lint reads on past
//! nginx's errors, and a file nginx -t rejects must never lint to a report
//! without an error (the linter going silent on the first missing include
//! or unknown directive is the trap this guards).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than any lint run of a case (a few milliseconds).
const LINT_LIMIT: Duration = Duration::from_secs(20);

/// The messages of the error-level findings of `upgate lint -p DIR CONF`.
pub fn lint_errors(dir: &Path, conf: &Path) -> Result<Vec<String>, String> {
    let out_path = dir.join("lint.json");
    let out = fs::File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_upgate"))
        .arg("lint")
        .arg("--format")
        .arg("json")
        .arg("-p")
        .arg(dir)
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run upgate lint: {e}"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > LINT_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "upgate lint took longer than {LINT_LIMIT:?}; killed"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for upgate lint: {e}"));
            }
        }
    };
    let text = fs::read(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| format!("upgate lint (exit {status}) wrote no JSON: {e}"))?;
    let errors: Vec<String> = json["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["message"].as_str().unwrap_or_default().to_string())
        .collect();
    if errors.is_empty() == (status.code() == Some(2)) {
        return Err(format!(
            "upgate lint exit {status} with {} errors",
            errors.len()
        ));
    }
    Ok(errors)
}
