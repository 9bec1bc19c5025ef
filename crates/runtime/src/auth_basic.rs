//! The auth_basic module (src/http/modules/ngx_http_auth_basic_module.c):
//! the user and password of an `Authorization: Basic` header
//! (`ngx_http_auth_basic_user`, src/http/ngx_http_core_module.c) checked
//! against the user file, read on every request as nginx does, line by line
//! with nginx's own scanner: `user:hash`, the hash ending at the next `:`
//! or end of line, `#` lines and lines that start with CR skipped.
//!
//! The realm and the file name are complex values; a realm that evaluates
//! to `off` turns the check off, and a file name with variables is taken
//! under the configuration's directory when it is relative (`conf_prefix`).

pub mod crypt;

use crate::files::{FileError, Files};
use crate::request::Request;
use crate::variable::Template;

/// `auth_basic` and `auth_basic_user_file` of one level (each inherited on
/// its own).
#[derive(Debug, Clone, Default)]
pub struct AuthBasicConf {
    pub realm: Option<Template>,
    pub user_file: Option<UserFile>,
}

/// `auth_basic_user_file`: a fixed path (made absolute when the
/// configuration was read) or one with variables.
#[derive(Debug, Clone)]
pub enum UserFile {
    Fixed(Vec<u8>),
    Template(Template),
}

/// What one access handler says (`NGX_DECLINED`, `NGX_OK`, or a status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Declined,
    Ok,
    Status(u16),
}

/// The user and password of the request's `Authorization: Basic` header.
pub fn credentials(authorization: Option<&[u8]>) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = authorization?;
    if value.len() < 6 || !value[..6].eq_ignore_ascii_case(b"Basic ") {
        return None;
    }
    let encoded = &value[6..];
    let start = encoded.iter().position(|&c| c != b' ')?;
    let decoded = crypt::decode_base64(&encoded[start..])?;
    let colon = decoded.iter().position(|&c| c == b':')?;
    if colon == 0 {
        return None;
    }
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// The stored password of `user` in an htpasswd file, as nginx's scanner
/// finds it (`None`: not there).
pub fn find_user<'f>(file: &'f [u8], user: &[u8]) -> Option<&'f [u8]> {
    #[derive(PartialEq)]
    enum State {
        Login,
        Passwd,
        Skip,
    }
    let mut state = State::Login;
    let mut login = 0;
    let mut passwd = 0;
    for (i, &c) in file.iter().enumerate() {
        match state {
            State::Login => {
                if login == 0 {
                    if c == b'#' || c == b'\r' {
                        state = State::Skip;
                        continue;
                    }
                    if c == b'\n' {
                        continue;
                    }
                }
                // nginx compares against the user name followed by the
                // header's ':' (the name is a slice of "user:password").
                let expected = user.get(login).copied().unwrap_or(b':');
                if c != expected {
                    state = State::Skip;
                    continue;
                }
                if login == user.len() {
                    state = State::Passwd;
                    passwd = i + 1;
                }
                login += 1;
            }
            State::Passwd => {
                if matches!(c, b'\n' | b'\r' | b':') {
                    return Some(&file[passwd..i]);
                }
            }
            State::Skip => {
                if c == b'\n' {
                    state = State::Login;
                    login = 0;
                }
            }
        }
    }
    (state == State::Passwd).then(|| &file[passwd..])
}

impl Request<'_> {
    /// `ngx_http_auth_basic_handler`. Sets `WWW-Authenticate` on a 401.
    pub(crate) fn auth_basic(&mut self, files: &dyn Files) -> Verdict {
        let rt = self.rt;
        let conf = &rt.location(self.location).conf.access_phase.auth_basic;
        let (Some(realm), Some(user_file)) = (&conf.realm, &conf.user_file) else {
            return Verdict::Declined;
        };
        let realm = self.eval(realm);
        if realm == b"off" {
            return Verdict::Declined;
        }
        let Some((user, password)) = self.basic_user() else {
            return self.set_realm(&realm);
        };
        let path = match user_file {
            UserFile::Fixed(p) => p.clone(),
            UserFile::Template(t) => {
                let value = self.eval(t);
                crate::access_phase::full_name(rt.conf_dir.as_os_str().as_encoded_bytes(), &value)
            }
        };
        let shown = String::from_utf8_lossy(&path).into_owned();
        let text = match files.read(&path) {
            Ok(text) => text,
            Err(FileError::NotFound) => {
                self.log_error(format!(
                    "open() \"{shown}\" failed{}",
                    FileError::NotFound.suffix()
                ));
                return Verdict::Status(403);
            }
            Err(e) => {
                self.log.push((
                    upgate_conf::Level::Crit,
                    format!("open() \"{shown}\" failed{}", e.suffix()),
                ));
                return Verdict::Status(500);
            }
        };
        let user_text = String::from_utf8_lossy(&user).into_owned();
        match find_user(&text, &user) {
            Some(stored) => {
                if crypt::verify(&password, stored) {
                    return Verdict::Ok;
                }
                self.log_error(format!("user \"{user_text}\": password mismatch"));
            }
            None => {
                self.log_error(format!("user \"{user_text}\" was not found in \"{shown}\""));
            }
        }
        self.set_realm(&realm)
    }

    /// `ngx_http_auth_basic_user`: the header's user and password
    /// (`$remote_user` is the user).
    pub fn basic_user(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        credentials(self.client.header_values(b"authorization").next())
    }

    /// The `WWW-Authenticate` lines the access phase left for the response
    /// (they stay through an error page's redirect, as nginx's
    /// `headers_out` does), before add_header's.
    pub fn www_authenticate_lines(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.www_authenticate
            .iter()
            .map(|v| (b"WWW-Authenticate".to_vec(), v.clone()))
            .collect()
    }

    /// `ngx_http_auth_basic_set_realm`.
    fn set_realm(&mut self, realm: &[u8]) -> Verdict {
        let mut value = b"Basic realm=\"".to_vec();
        value.extend_from_slice(realm);
        value.push(b'"');
        self.www_authenticate.push(value);
        Verdict::Status(401)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn basic(text: &str) -> Vec<u8> {
        use base64::Engine as _;
        let mut v = b"Basic ".to_vec();
        v.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(text)
                .as_bytes(),
        );
        v
    }

    #[test]
    fn credentials_as_nginx_reads_them() {
        assert_eq!(
            credentials(Some(&basic("user:pa:ss"))),
            Some((b"user".to_vec(), b"pa:ss".to_vec()))
        );
        assert_eq!(
            credentials(Some(b"basic    dXNlcjo=")),
            Some((b"user".to_vec(), Vec::new()))
        );
        assert_eq!(credentials(Some(&basic(":pass"))), None);
        assert_eq!(credentials(Some(&basic("nocolon"))), None);
        assert_eq!(credentials(Some(b"Basic ")), None);
        assert_eq!(credentials(Some(b"Bearer abc")), None);
        assert_eq!(credentials(Some(b"Basic @@@@")), None);
        assert_eq!(credentials(None), None);
    }

    #[test]
    fn user_file_scanner() {
        let file = b"# comment\n\nalice:{PLAIN}a:comment\r\nbob:{PLAIN}b\nbo:x\n\rcarol:{PLAIN}c\ndave:{PLAIN}d";
        assert_eq!(find_user(file, b"alice"), Some(&b"{PLAIN}a"[..]));
        assert_eq!(find_user(file, b"bob"), Some(&b"{PLAIN}b"[..]));
        assert_eq!(find_user(file, b"bo"), Some(&b"x"[..]));
        assert_eq!(find_user(file, b"b"), None);
        assert_eq!(find_user(file, b"dave"), Some(&b"{PLAIN}d"[..]));
        // a line that starts with CR is skipped whole
        assert_eq!(find_user(file, b"carol"), None);
        assert_eq!(find_user(file, b"# comment"), None);
        assert_eq!(find_user(b"user", b"user"), None);
        assert_eq!(find_user(b"user:", b"user"), Some(&b""[..]));
    }
}
