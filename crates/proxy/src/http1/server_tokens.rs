//! The `Server` header and the error page footer, as `server_tokens` sets them
//! in nginx's `ngx_http_header_filter` (src/http/ngx_http_header_filter_module.c)
//! and `ngx_http_send_special_response` (src/http/ngx_http_special_response.c).
//!
//! nginx writes `nginx/1.28.3` (on), `nginx` (off) or `nginx/1.28.3 (build)`
//! (build). upgate writes its own product name the same way; tests that
//! compare with nginx byte for byte build a [`ServerIdent`] named `nginx`.

/// nginx's `server_tokens` values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ServerTokens {
    /// Product and version (nginx's default).
    #[default]
    On,
    /// Product only.
    Off,
    /// Product, version and the build name in parentheses; `None` behaves like
    /// `On`, as nginx does when built without `--build`.
    Build(Option<String>),
}

/// The precomputed `Server:` line and error page footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerIdent {
    server_line: Box<[u8]>,
    error_tail: Box<[u8]>,
}

impl ServerIdent {
    /// `product` and `version` as nginx's `NGINX_VER` ("nginx/1.28.3").
    pub fn new(product: &str, version: &str, tokens: &ServerTokens) -> Self {
        let ident = match tokens {
            ServerTokens::Off => product.to_owned(),
            ServerTokens::On | ServerTokens::Build(None) => format!("{product}/{version}"),
            ServerTokens::Build(Some(build)) => format!("{product}/{version} ({build})"),
        };
        ServerIdent {
            server_line: format!("Server: {ident}\r\n").into_bytes().into(),
            error_tail: format!("<hr><center>{ident}</center>\r\n</body>\r\n</html>\r\n")
                .into_bytes()
                .into(),
        }
    }

    /// upgate itself: `upgate/<crate version>`.
    pub fn upgate(tokens: &ServerTokens) -> Self {
        ServerIdent::new("upgate", env!("CARGO_PKG_VERSION"), tokens)
    }

    /// `Server: ...\r\n`.
    pub fn server_line(&self) -> &[u8] {
        &self.server_line
    }

    /// `<hr><center>...</center>\r\n</body>\r\n</html>\r\n`, the end of every
    /// built-in error page.
    pub fn error_tail(&self) -> &[u8] {
        &self.error_tail
    }
}

impl Default for ServerIdent {
    fn default() -> Self {
        ServerIdent::upgate(&ServerTokens::On)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_spellings() {
        let on = ServerIdent::new("nginx", "1.28.3", &ServerTokens::On);
        assert_eq!(on.server_line(), b"Server: nginx/1.28.3\r\n");
        assert_eq!(
            on.error_tail(),
            b"<hr><center>nginx/1.28.3</center>\r\n</body>\r\n</html>\r\n"
        );
        let off = ServerIdent::new("nginx", "1.28.3", &ServerTokens::Off);
        assert_eq!(off.server_line(), b"Server: nginx\r\n");
        assert_eq!(
            off.error_tail(),
            b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        );
        let build = ServerIdent::new("nginx", "1.28.3", &ServerTokens::Build(Some("x1".into())));
        assert_eq!(build.server_line(), b"Server: nginx/1.28.3 (x1)\r\n");
        assert_eq!(
            ServerIdent::new("nginx", "1", &ServerTokens::Build(None)).server_line(),
            b"Server: nginx/1\r\n"
        );
    }

    #[test]
    fn upgate_names_itself() {
        let off = ServerIdent::upgate(&ServerTokens::Off);
        assert_eq!(off.server_line(), b"Server: upgate\r\n");
        assert!(
            ServerIdent::default()
                .server_line()
                .starts_with(b"Server: upgate/")
        );
    }
}
