//! The stages of `upgate -t` on a generated configuration of 1,000 servers
//! (some 60,000 lines, the shape of ../shared/tools/gen_big_conf.py, made
//! here so the benchmark needs nothing outside the crate): the tokenizer
//! alone, the tokenizer and the tree, and the whole check (`load`: includes,
//! the directive table and the handlers' value checks). `cargo xtask bench
//! parse` compares the binary with nginx; these catch a regression of one
//! stage before that.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use upgate_conf::lexer::{Lexer, RawComment, RawWord, Terminator, Tokens};
use upgate_conf::{FileId, LoadOptions, load, parser};

const SERVERS: usize = 1_000;

fn bench(c: &mut Criterion) {
    let text = generate(SERVERS);
    let dir = std::env::temp_dir().join(format!("upgate-conf-bench-{}", std::process::id()));
    let conf = dir.join("nginx.conf");
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&conf, &text)) {
        eprintln!("cannot write {}: {e}", conf.display());
        return;
    }
    let options = LoadOptions::new(&conf);
    // A benchmark of a configuration that fails early would measure little.
    if let Some(error) = load(&options).error {
        eprintln!(
            "the generated configuration fails the check: {}",
            error.message
        );
        return;
    }

    let mut group = c.benchmark_group("conf-1000-servers");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("tokenize", |b| {
        b.iter(|| black_box(tokenize(text.as_bytes())))
    });
    // The tree is dropped outside the timing: `-t` never frees it.
    group.bench_function("parse", |b| {
        b.iter_with_large_drop(|| parser::parse(text.as_bytes(), FileId(0)))
    });
    group.bench_function("load", |b| b.iter_with_large_drop(|| load(&options)));
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Counts the words of `text`, copying none (the tokenizer's own cost).
fn tokenize(text: &[u8]) -> usize {
    struct Count(usize);
    impl Tokens for Count {
        fn word(&mut self, _: RawWord) {
            self.0 += 1;
        }
        fn comment(&mut self, _: RawComment, _: bool) {}
    }
    let mut lexer = Lexer::new(text, FileId(0));
    let mut count = Count(0);
    // The generated file has no Lua block: every statement is nginx's.
    loop {
        match lexer.read_statement(&mut count) {
            Ok(end) if end.terminator != Terminator::FileEnd => {}
            _ => return count.0,
        }
    }
}

/// A configuration like gen_big_conf.py's: maps, upstreams with each
/// balancer, and servers whose locations cover the kinds nginx knows,
/// with quotes, escapes, comments and nested blocks.
fn generate(servers: usize) -> String {
    let mut out = String::from(
        "# generated for the upgate-conf benchmark\n\
         events {\n    worker_connections 1024;\n}\n\n\
         http {\n    access_log off;\n\
         \x20   server_names_hash_bucket_size 256;\n\
         \x20   server_names_hash_max_size 65536;\n\
         \x20   log_format main '$remote_addr - $remote_user [$time_local] \"$request\" '\n\
         \x20                   '$status $body_bytes_sent \"$http_referer\"';\n\
         \x20   map $http_upgrade $connection_upgrade {\n        default upgrade;\n        ''      close;\n    }\n\
         \x20   map $http_user_agent $is_bot {\n        default 0;\n        \"~*(googlebot|bingbot)\" 1;\n        \"~^curl/\\d+\\.\\d+\" 2;\n    }\n",
    );
    let balancers = [
        "",
        "least_conn;",
        "ip_hash;",
        "hash $remote_addr consistent;",
    ];
    for i in 0..servers {
        let _ = write!(
            out,
            "\n    upstream backend_{i} {{\n        {}\n        server 127.0.0.1:{} weight={} max_fails=3 fail_timeout=10s;\n        server 127.0.0.1:{}{};\n        keepalive 16;\n    }}\n",
            balancers[i % 4],
            20_000 + i,
            1 + i % 5,
            40_000 + i,
            // ip_hash and hash take no backup servers.
            if i % 4 < 2 { " backup" } else { " max_fails=1" },
        );
    }
    for i in 0..servers {
        let _ = write!(
            out,
            "\n    # server {i}\n    server {{\n        listen 127.0.0.1:{};\n        server_name site{i}.example.com www.site{i}.example.com \"~^(?<sub>[a-z]+)\\.re{i}\\.example\\.io$\";\n\
             \x20       proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection $connection_upgrade;\n\
             \x20       if ($is_bot = 2) {{ return 403; }}\n\
             \x20       location / {{\n            proxy_pass http://backend_{i};\n            proxy_read_timeout 3600s;\n        }}\n\
             \x20       location /ws/ {{\n            proxy_set_header Host $host;  # drops the inherited Upgrade\n            proxy_pass http://backend_{i}/socket/;\n        }}\n\
             \x20       location ~* \"^/static/(?<name>[a-z0-9_-]{{1,64}})\\.(css|js|png)$\" {{\n            add_header Cache-Control \"public, max-age=604800\" always;\n            try_files /static/$name.$1 =404;\n        }}\n\
             \x20       location = /health {{\n            return 200 \"ok\\n\";\n        }}\n\
             \x20       location ^~ /api/ {{\n            limit_except GET POST {{ deny all; }}\n            proxy_set_header X-Request-Id $request_id;\n            proxy_pass http://backend_{i};\n            location ~ /api/v[0-9]+/ {{\n                proxy_pass http://backend_{i};\n            }}\n        }}\n\
             \x20       location /files/ {{\n            alias /srv/tenant{i}/files/;\n            # braces {{ }} and a ; in a comment\n            rewrite ^/files/old/(.*)$ /files/new/$1 permanent;\n        }}\n    }}\n",
            8000 + i % 1000,
        );
    }
    out.push_str("}\n");
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
