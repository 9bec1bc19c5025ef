//! auth_request's subrequest (src/http/modules/ngx_http_auth_request_module.c
//! with `ngx_http_subrequest`): the runtime makes the subrequest and runs
//! its phases; here it is served the way its location says, with only its
//! status and headers kept: a `return` answers with its code, a
//! `proxy_pass` sends the client's headers (GET, no body) upstream and
//! reads the response head only, a file is found or not. The main request
//! then goes on with the status, the subrequest's `WWW-Authenticate` and
//! the `auth_request_set` values evaluated in the subrequest (so
//! `$upstream_http_x_user` is the auth service's header).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use upgate_runtime::access_phase::AuthResult;
use upgate_runtime::{Outcome, Request};

use crate::access_log::Values;
use crate::client::Client;
use crate::http1::{Keepalive, RequestHead};
use crate::proxy::Exchange;
use crate::request_body::Body;
use crate::static_file::DiskFiles;
use crate::tables::Tables;

/// Runs the subrequest to `uri` for `r`; `None` when the client closed
/// the connection meanwhile (the request ends with 499).
pub async fn run(
    tables: &Tables,
    client: &mut Client,
    head: &RequestHead,
    r: &Request<'_>,
    uri: &[u8],
    date: &[u8],
) -> Option<AuthResult> {
    let mut sr = r.auth_subrequest(uri, &DiskFiles);
    let mut vals = Values::default();
    let mut www_authenticate = Vec::new();
    let status = loop {
        crate::dispatch::flush_log(tables, &mut sr, client, head);
        match sr.outcome.clone() {
            Outcome::Delay(d) => {
                if !crate::dispatch::delay(client, d).await {
                    return None;
                }
                sr.resume(&DiskFiles);
            }
            Outcome::Respond(resp) => break sr.err_status.unwrap_or(resp.status),
            Outcome::Static => break static_status(tables, client, head, &mut sr),
            Outcome::StubStatus => break 200,
            Outcome::Proxy => {
                let mut ex = Exchange {
                    tables,
                    head,
                    body: Body::default(),
                    keepalive: Keepalive::Close,
                    date,
                    vals: &mut vals,
                };
                match ex.head_only(client, &mut sr).await {
                    Ok(up) => {
                        www_authenticate = up
                            .headers()
                            .filter(|h| h.name.eq_ignore_ascii_case(b"www-authenticate"))
                            .map(|h| h.value.to_vec())
                            .collect();
                        vals.upstream_head = up.as_bytes().to_vec();
                        vals.status = up.status();
                        break up.status();
                    }
                    Err(Some(status)) => break status,
                    Err(None) => return None,
                }
            }
            Outcome::NoListener | Outcome::AuthRequest(_) => break 500,
        }
    };
    crate::dispatch::flush_log(tables, &mut sr, client, head);
    let known = &vals;
    let vars = sr.auth_request_vars(r.location, &|name| {
        crate::access_log::runtime_value(name, known)
    });
    Some(AuthResult {
        status,
        www_authenticate,
        vars,
    })
}

/// What the static module would answer the subrequest, without sending
/// the file: 200 for a file, 301 for a directory, else the open error's
/// status.
fn static_status(
    tables: &Tables,
    client: &Client,
    head: &RequestHead,
    sr: &mut Request<'_>,
) -> u16 {
    let Ok(mapped) = sr.map_uri_to_path() else {
        return 500;
    };
    match std::fs::metadata(OsStr::from_bytes(&mapped.path)) {
        Ok(m) if m.is_dir() => 301,
        Ok(_) => 200,
        Err(e) => {
            let (status, level) = crate::static_file::open_failure(&e);
            let log_not_found = sr.rt.location(sr.location).conf.log_not_found;
            if status != 404 || log_not_found {
                let cx = crate::dispatch::context(sr, client, head);
                let msg = format!(
                    "open() \"{}\" failed ({})",
                    String::from_utf8_lossy(&mapped.path),
                    crate::proxy::errno(&e)
                );
                tables.error_log.log_request(level, &cx, &msg);
            }
            status
        }
    }
}
