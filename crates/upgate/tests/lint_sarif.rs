//! `upgate lint --format sarif` validated against the SARIF 2.1.0 JSON
//! schema (testdata/lint/sarif-schema-2.1.0.json, see SARIF-SCHEMA.md), on
//! every rule's bad configuration (results with regions, related locations
//! and fixes) and on a clean one (no results).

#[path = "lint_common.rs"]
mod lint_common;

use std::fs;

use lint_common::*;
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let path = testdata().join("sarif-schema-2.1.0.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // One pattern has a stray `]`, a literal in ECMA-262 regexes but an
    // error for Rust's engines: escaped here, same meaning.
    let text = text.replace(
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$""#,
    );
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    jsonschema::draft4::options()
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(&schema)
        .unwrap_or_else(|e| panic!("schema: {e}"))
}

fn sarif(args: &[&str]) -> Value {
    let mut all = vec!["lint", "--format", "sarif"];
    all.extend_from_slice(args);
    let out = upgate(&all);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON: {e}"))
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let validator = validator();
    let mut files: Vec<String> = fs::read_dir(testdata().join("rules"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bad.conf").display().to_string())
        .collect();
    files.sort();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let log = sarif(&args);
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(results.len() >= 16, "{}", results.len());
    assert!(results.iter().any(|r| r.get("fixes").is_some()));
    assert!(results.iter().any(|r| r.get("relatedLocations").is_some()));
    assert_eq!(log["version"], "2.1.0");
}

#[test]
fn clean_sarif_is_valid_too() {
    let good = testdata().join("rules/websocket-proxy-read-timeout/good.conf");
    let log = sarif(&[&good.display().to_string()]);
    assert!(validator().is_valid(&log));
    assert_eq!(log["runs"][0]["results"].as_array().map(Vec::len), Some(0));
}

#[test]
fn an_invalid_log_is_rejected() {
    // The validator is not vacuous.
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"results": []}]});
    assert!(!validator().is_valid(&bad));
}
