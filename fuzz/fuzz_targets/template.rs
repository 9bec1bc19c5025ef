//! Complex values (`upgate_runtime::variable::compile`, nginx's
//! `ngx_http_script_compile`) and their evaluation against a request routed
//! through a small fixed configuration (maps, regex captures, `set`): no
//! input panics; a compiled template's text pieces hold no `$` (every `$`
//! became a variable or capture, or the value was refused); a value without
//! `$` compiles to itself; once evaluated, a value evaluates to the same
//! bytes again. (Only from the second evaluation on: a `map` with a regex
//! sets `$1`..`$9` when it is read, as nginx's `ngx_http_regex_exec` does,
//! so `$1$first` reads other captures after `$first` ran once.)
//!
//! Input: template NUL method NUL target NUL headers, the headers one
//! `name: value` a line.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use upgate_conf::{LoadOptions, load};
use upgate_runtime::variable::{Part, compile};
use upgate_runtime::{ClientRequest, CompileOptions, Header, Runtime};

const CONF: &str = r#"events {}
http {
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    map $uri $first { ~^/(?<seg>[^/]*) $seg; default none; }
    map $http_host $h { hostnames; *.example.com sub; default other; }
    server {
        listen 8080;
        server_name example.com;
        location ~ ^/(\w+)/(?<rest>.*)$ { set $v "$1-$rest-$first"; return 200 $v; }
        location / { set $w $arg_a$cookie_b; return 200; }
    }
}
"#;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("upgate-fuzz-template-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("nginx.conf"), CONF).unwrap();
        let mut options = LoadOptions::new(dir.join("nginx.conf"));
        options.check_environment = false;
        let loaded = load(&options);
        assert!(loaded.error.is_none(), "{:?}", loaded.error);
        std::fs::remove_dir_all(&dir).ok();
        Runtime::compile_with(&loaded.config, &CompileOptions::default()).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let rt = runtime();
    let mut parts = data.splitn(4, |&b| b == 0);
    let source = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or(b"GET");
    let target = parts.next().unwrap_or(b"/");
    let headers: Vec<Header<'_>> = parts
        .next()
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            Some(Header {
                name: &line[..colon],
                value,
            })
        })
        .collect();

    let Ok(template) = compile(source, &rt.user_vars) else {
        assert!(source.contains(&b'$'), "a value without $ was refused");
        return;
    };
    for part in &template.parts {
        if let Part::Text(text) = part {
            assert!(!text.contains(&b'$'), "a $ was kept as text");
        }
    }
    if !source.contains(&b'$') {
        assert_eq!(template.as_literal(), Some(source));
    }

    let client: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut request = ClientRequest::new(method, target, client, local);
    request.headers = headers;
    let mut r = rt.process(&request);
    r.eval(&template);
    let second = r.eval(&template);
    assert_eq!(r.eval(&template), second, "evaluation is not repeatable");
});
