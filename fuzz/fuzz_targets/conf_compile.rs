//! The loader and the runtime compiler: any input that loads (as `-t` reads
//! it: includes followed, every directive checked) compiles to a runtime or
//! returns a `CompileError` with a message, never panics; a runtime that
//! compiled routes a request through its phases without panicking.
//!
//! The input is the main file, served from memory by the loader's reader
//! hook (`upgate_conf::fs::set_reader`); every other path, including what an
//! `include` names, is read under an empty root directory, so the run sees no
//! file of this machine. Inputs whose includes could climb out of that root
//! (`..`) are skipped: a glob such as `../../**` would walk the whole disk.
//!
//! One regex cache lives across inputs, as it does across a server's
//! reloads: mutated inputs repeat their patterns, and compiling them again
//! would be most of each run's time.
#![no_main]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use upgate_conf::fs::{Fs, Root, set_reader};
use upgate_conf::{LoadOptions, load};
use upgate_runtime::{ClientRequest, CompileOptions, Header, RegexCache, Runtime};

static INPUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static ROOT: OnceLock<PathBuf> = OnceLock::new();
static REGEXES: OnceLock<Mutex<RegexCache>> = OnceLock::new();

fn root() -> &'static Path {
    ROOT.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("upgate-fuzz-conf-compile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        set_reader(read);
        dir
    })
}

/// The main file is the fuzz input; nothing else exists.
fn read(path: &Path) -> io::Result<Vec<u8>> {
    if path == root().join("nginx.conf") {
        Ok(INPUT.lock().unwrap().clone())
    } else {
        Err(io::Error::from(io::ErrorKind::NotFound))
    }
}

fuzz_target!(|data: &[u8]| {
    if data.windows(2).any(|w| w == b"..") {
        return;
    }
    let root = root();
    *INPUT.lock().unwrap() = data.to_vec();
    let mut options = LoadOptions::new("/nginx.conf");
    options.prefix = PathBuf::from("/");
    options.fs = Fs::rooted(Some(Root::whole(root)));
    options.check_environment = false;
    let loaded = load(&options);
    if loaded.error.is_some() {
        return;
    }
    let compile = CompileOptions {
        prefix: b"/srv/".to_vec(),
        regexes: Some(REGEXES.get_or_init(Default::default)),
        ..CompileOptions::default()
    };
    match Runtime::compile_with(&loaded.config, &compile) {
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(rt) => {
            let local: std::net::SocketAddr = "127.0.0.1:80".parse().unwrap();
            let client: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
            let mut request = ClientRequest::new(b"GET", b"/a/b?x=1", client, local);
            request.headers = vec![Header {
                name: b"Host",
                value: b"example.com",
            }];
            let _ = rt.process(&request);
        }
    }
});
