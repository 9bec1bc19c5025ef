//! `index` (`ngx_http_index_handler`, src/http/modules/ngx_http_index_module.c):
//! for a URI ending in `/`, the first name that exists under root/alias
//! becomes an internal redirect to URI + name (a name starting with `/` is
//! a redirect without a test). The directory itself is tested once, after
//! the first name is missing: a missing directory is a 404 ("... is not
//! found"), an inaccessible name a 403 ("... is forbidden").

use crate::files::{FileError, Files};
use crate::request::Request;
use crate::try_files::Step;

impl Request<'_> {
    /// `ngx_http_index_handler` (the URI ends in `/`, the method is GET,
    /// HEAD or POST).
    pub(crate) fn index(&mut self, files: &dyn Files) -> Step {
        let rt = self.rt;
        let names = rt.location(self.location).conf.index.clone();
        let log_not_found = rt.location(self.location).conf.log_not_found;
        let mut dir_tested = false;
        for t in names.iter() {
            let name = self.eval(t);
            if name.first() == Some(&b'/') {
                let args = self.args.clone();
                self.internal_redirect(name, args);
                return Step::Redirected;
            }
            let mapped = match self.map_uri_to_path() {
                Ok(m) => m,
                Err(e) => {
                    self.log.push((upgate_conf::Level::Alert, e));
                    return Step::Status(500);
                }
            };
            let dir = mapped.path;
            let mut path = dir.clone();
            path.extend_from_slice(&name);
            match files.stat(&path) {
                Ok(_) => {
                    let mut uri = self.uri.clone();
                    uri.extend_from_slice(&name);
                    let args = self.args.clone();
                    self.trace.push(format!(
                        "index: \"{}\" exists",
                        String::from_utf8_lossy(&path)
                    ));
                    self.internal_redirect(uri, args);
                    return Step::Redirected;
                }
                Err(FileError::Denied) => {
                    self.log_error(format!(
                        "\"{}\" is forbidden (13: Permission denied)",
                        String::from_utf8_lossy(&path)
                    ));
                    return Step::Status(403);
                }
                Err(FileError::NotDir) => {
                    if log_not_found {
                        self.log_error(format!(
                            "\"{}\" is not found (20: Not a directory)",
                            String::from_utf8_lossy(&path)
                        ));
                    }
                    return Step::Status(404);
                }
                Err(e) => {
                    if !dir_tested {
                        match files.stat(&dir) {
                            Ok(crate::files::FileKind::Dir) | Err(FileError::Denied) => {}
                            Ok(_) => {
                                self.log.push((
                                    upgate_conf::Level::Alert,
                                    format!(
                                        "\"{}\" is not a directory",
                                        String::from_utf8_lossy(&dir)
                                    ),
                                ));
                                return Step::Status(500);
                            }
                            Err(de) => {
                                if log_not_found {
                                    self.log_error(format!(
                                        "\"{}\" is not found{}",
                                        String::from_utf8_lossy(&path),
                                        de.suffix()
                                    ));
                                }
                                return Step::Status(404);
                            }
                        }
                        dir_tested = true;
                    }
                    if e != FileError::NotFound {
                        self.log.push((
                            upgate_conf::Level::Crit,
                            format!(
                                "stat() \"{}\" failed{}",
                                String::from_utf8_lossy(&path),
                                e.suffix()
                            ),
                        ));
                        return Step::Status(500);
                    }
                    self.trace.push(format!(
                        "index: \"{}\" does not exist",
                        String::from_utf8_lossy(&path)
                    ));
                }
            }
        }
        Step::Declined
    }
}
