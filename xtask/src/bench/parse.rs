//! The config-check figures: `upgate -t` against `nginx -t` on the
//! 5,000-server configuration of ../shared/tools/gen_big_conf.py (one 9.4 MB
//! file), and for `bench parse` also the same split into 5,000 included
//! files and `upgate parse` against crossplane's JSON. Wall time and peak
//! resident memory come from GNU time (`/usr/bin/time -f '%e %M'`); the two
//! commands alternate within a pass, and every run is bounded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::figures::{self as fig, Group};
use super::report::{Sample, Samples, Side};

/// One `-t` of the big file takes nginx about 3 s here; crossplane longer.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The generated inputs.
pub struct Inputs {
    big: PathBuf,
    split: PathBuf,
    crossplane: Option<PathBuf>,
}

/// Generates the inputs `groups` need into `work`.
pub async fn inputs(root: &Path, work: &Path, groups: &[Group]) -> Result<Inputs, String> {
    let shared = std::env::var("UPGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared"));
    let generator = shared.join("tools/gen_big_conf.py");
    let big = work.join("big.conf");
    let split = work.join("split");
    generate(&generator, "-o", &big).await?;
    let extra = groups.contains(&Group::CheckExtra);
    if extra {
        generate(&generator, "--split-dir", &split).await?;
    }
    // On PATH, or where `cargo xtask test` installs it.
    let venv = super::servers::target_dir(root).join("test-venv/bin/crossplane");
    let crossplane = match extra {
        true => which("crossplane").or_else(|| venv.is_file().then_some(venv)),
        false => None,
    };
    if extra && crossplane.is_none() {
        println!("bench: crossplane not found (pip install crossplane): its row is left out");
    }
    Ok(Inputs {
        big,
        split: split.join("nginx.conf"),
        crossplane,
    })
}

async fn generate(generator: &Path, out_flag: &str, out: &Path) -> Result<(), String> {
    let mut c = Command::new("python3");
    c.arg(generator)
        .args(["--servers", "5000", "--locations", "6", out_flag])
        .arg(out);
    bounded(c).await.map(drop)
}

/// One pass of the check figures of `groups`, nginx and upgate in turn.
pub async fn pass(
    inputs: &Inputs,
    nginx: &Path,
    upgate: &Path,
    groups: &[Group],
    samples: &mut Samples,
) -> Result<(), String> {
    let big = inputs.big.display().to_string();
    let split = inputs.split.display().to_string();
    let nginx = nginx.display().to_string();
    let upgate = upgate.display().to_string();
    let mut checks = vec![(fig::CHECK_TIME, fig::CHECK_MEMORY, big.clone())];
    if groups.contains(&Group::CheckExtra) {
        checks.push((fig::CHECK_SPLIT_TIME, fig::CHECK_SPLIT_MEMORY, split));
    }
    for (time, memory, conf) in checks {
        for (side, binary) in [(Side::Nginx, &nginx), (Side::Upgate, &upgate)] {
            let (wall, kb) = measure(&[binary, "-t", "-q", "-c", &conf]).await?;
            samples.add(time, side, Sample::plain(wall));
            samples.add(memory, side, Sample::plain(kb / 1024.0));
        }
    }
    if let (true, Some(crossplane)) = (groups.contains(&Group::CheckExtra), &inputs.crossplane) {
        let crossplane = crossplane.display().to_string();
        let (theirs, _) = measure(&[&crossplane, "parse", "-o", "/dev/null", &big]).await?;
        let (ours, _) = measure(&[&upgate, "parse", &big]).await?;
        samples.add(fig::PARSE_CROSSPLANE, Side::Nginx, Sample::plain(theirs));
        samples.add(fig::PARSE_CROSSPLANE, Side::Upgate, Sample::plain(ours));
    }
    Ok(())
}

/// Wall seconds and peak RSS (KiB) of `command` under GNU time.
async fn measure(command: &[&str]) -> Result<(f64, f64), String> {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%e %M"]).args(command);
    let stderr = bounded(c).await?;
    let last = stderr.lines().last().unwrap_or_default();
    let mut fields = last.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next()) {
        (Some(Ok(wall)), Some(Ok(kb))) => Ok((wall, kb)),
        _ => Err(format!("cannot read GNU time's output: {last:?}")),
    }
}

/// Runs `command` within [`RUN_LIMIT`] (killed past it); its stderr.
async fn bounded(mut command: Command) -> Result<String, String> {
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    let shown = format!("{:?}", command.as_std());
    let out = tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .map_err(|_| format!("{shown}: no end in {} s", RUN_LIMIT.as_secs()))?
        .map_err(|e| format!("{shown}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stderr)
    } else {
        Err(format!("{shown} failed ({}):\n{stderr}", out.status))
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}
