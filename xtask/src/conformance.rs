//! `cargo xtask conformance [--cases N] [--seed S] [--verbose]`: the
//! differential harness of crates/proxy/tests/conformance.rs with more
//! traffic: nginx (Debian's, /usr/sbin/nginx) and upgate serve the same
//! config on the same port in turn, get the same generated requests, and
//! every case's upstream bytes and client-visible status, headers and body
//! are compared. Prints `conformance: N/N`; deliberate differences are
//! listed in testdata/conformance/known.md.

pub fn run(args: &[String]) -> Result<(), String> {
    let mut cases = "2000".to_string();
    let mut seed: Option<String> = None;
    let mut verbose = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--cases" => cases = it.next().ok_or("--cases needs a number")?.clone(),
            "--seed" => seed = Some(it.next().ok_or("--seed needs a number")?.clone()),
            "--verbose" | "-v" => verbose = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--cases N, --seed S, --verbose)"
                ));
            }
        }
    }
    let mut cmd = crate::cargo::command();
    cmd.args([
        "test",
        "-q",
        "-p",
        "upgate-proxy",
        "--test",
        "conformance",
        "--",
        "--nocapture",
    ]);
    cmd.env("CONFORMANCE_CASES", &cases);
    if let Some(s) = seed {
        cmd.env("CONFORMANCE_SEED", s);
    }
    if verbose {
        cmd.env("CONFORMANCE_VERBOSE", "1");
    }
    let status = cmd.status().map_err(|e| format!("cargo test: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("upgate differs from nginx (see DIFFERENT above)".into())
    }
}
