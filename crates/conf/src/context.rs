//! The block a directive sits in, as nginx tracks it: the module type and
//! the `cmd_type` bit that `ngx_conf_handler` tests a directive against.

use crate::directives::{ModuleType, flags};

/// The blocks nginx knows, named by what opens them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    Main,
    Events,
    Http,
    Server,
    Location,
    /// `if` in a server block.
    ServerIf,
    /// `if` in a location.
    LocationIf,
    LimitExcept,
    Upstream,
    Stream,
    StreamServer,
    StreamUpstream,
    Mail,
    MailServer,
    /// A block whose lines a handler reads itself (`map`, `types`, `geo`,
    /// `split_clients`, `charset_map`, ...): nginx's `cf->handler`.
    Handler(HandlerBlock),
}

/// The blocks with their own line syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandlerBlock {
    Types,
    Map,
    Geo,
    SplitClients,
    CharsetMap,
    StreamMap,
    StreamGeo,
    StreamSplitClients,
    /// A block of a module upgate knows nothing more about.
    Other,
}

impl BlockKind {
    /// `(cf->module_type, cf->cmd_type)` inside this block.
    pub fn nginx_context(self) -> (ModuleType, u32) {
        match self {
            BlockKind::Main => (ModuleType::Core, flags::MAIN_CONF),
            BlockKind::Events => (ModuleType::Event, flags::EVENT_CONF),
            BlockKind::Http => (ModuleType::Http, flags::HTTP_MAIN_CONF),
            BlockKind::Server => (ModuleType::Http, flags::HTTP_SRV_CONF),
            BlockKind::Location => (ModuleType::Http, flags::HTTP_LOC_CONF),
            BlockKind::ServerIf => (ModuleType::Http, flags::HTTP_SIF_CONF),
            BlockKind::LocationIf => (ModuleType::Http, flags::HTTP_LIF_CONF),
            BlockKind::LimitExcept => (ModuleType::Http, flags::HTTP_LMT_CONF),
            BlockKind::Upstream => (ModuleType::Http, flags::HTTP_UPS_CONF),
            BlockKind::Stream => (ModuleType::Stream, flags::STREAM_MAIN_CONF),
            BlockKind::StreamServer => (ModuleType::Stream, flags::STREAM_SRV_CONF),
            BlockKind::StreamUpstream => (ModuleType::Stream, flags::STREAM_UPS_CONF),
            BlockKind::Mail => (ModuleType::Mail, flags::MAIL_MAIN_CONF),
            BlockKind::MailServer => (ModuleType::Mail, flags::MAIL_SRV_CONF),
            BlockKind::Handler(_) => (ModuleType::Conf, 0),
        }
    }

    /// The block a block directive opens, when nginx reads it as directives.
    pub fn opened_by(parent: BlockKind, name: &[u8]) -> BlockKind {
        use BlockKind::*;
        match (parent, name) {
            (Main, b"events") => Events,
            (Main, b"http") => Http,
            (Main, b"stream") => Stream,
            (Main, b"mail") => Mail,
            (Http, b"server") => Server,
            (Http, b"upstream") => Upstream,
            (Server | Location, b"location") => Location,
            (Server, b"if") => ServerIf,
            (Location, b"if") => LocationIf,
            (Location, b"limit_except") => LimitExcept,
            (Stream, b"server") => StreamServer,
            (Stream, b"upstream") => StreamUpstream,
            (Mail, b"server") => MailServer,
            (Http | Server | Location, b"types") => Handler(HandlerBlock::Types),
            (Http, b"map") => Handler(HandlerBlock::Map),
            (Http, b"geo") => Handler(HandlerBlock::Geo),
            (Http, b"split_clients") => Handler(HandlerBlock::SplitClients),
            (Http, b"charset_map") => Handler(HandlerBlock::CharsetMap),
            (Stream, b"map") => Handler(HandlerBlock::StreamMap),
            (Stream, b"geo") => Handler(HandlerBlock::StreamGeo),
            (Stream, b"split_clients") => Handler(HandlerBlock::StreamSplitClients),
            _ => Handler(HandlerBlock::Other),
        }
    }

    /// The crossplane/lint name of the context.
    pub fn name(self) -> &'static str {
        use BlockKind::*;
        match self {
            Main => "main",
            Events => "events",
            Http => "http",
            Server => "server",
            Location => "location",
            ServerIf => "if (server)",
            LocationIf => "if (location)",
            LimitExcept => "limit_except",
            Upstream => "upstream",
            Stream => "stream",
            StreamServer => "stream server",
            StreamUpstream => "stream upstream",
            Mail => "mail",
            MailServer => "mail server",
            Handler(_) => "block",
        }
    }
}
