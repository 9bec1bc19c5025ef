//! `user` / `group`: nginx's split of privileges (src/os/unix/ngx_process_cycle.c,
//! `ngx_worker_process_init`). Started as root with `master_process on` (the
//! default), nginx serves traffic only from workers that run as `user`
//! (default `nobody`, group `nogroup`), while its master keeps root to bind
//! new ports and open log files on reload and reopen. upgate does the same
//! with a privileged parent:
//!
//! - the **master** (root) checks the configuration, binds the listeners,
//!   detaches and writes the pid file, then starts one **worker**: the same
//!   binary (`/proc/self/exe`, same arguments) with one end of a socket pair
//!   (its number in `UPGATE_WORKER_FD`). It forwards every signal to the
//!   worker, starts a new one if the worker dies, and removes the pid file
//!   when the worker exits after a stop;
//! - the **worker** reads the configuration and opens its logs (still as
//!   root), then switches to `user` and `group` (`setgid`, `initgroups`,
//!   `setuid`, in nginx's order) before serving. From then on it asks the
//!   master for what needs root: a listening socket for a new `listen`
//!   address, a log file opened for appending (a reload, SIGUSR1), a
//!   configuration file opened for reading (a reload). The master answers
//!   with the descriptor itself (SCM_RIGHTS), never with data.
//!
//! The master serves only those three requests, for any path: like nginx's
//! master, it trusts its worker. Not root, or `master_process off`: one
//! process, no switch (nginx warns that `user` is ignored when not root).

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use upgate_runtime::listen::ListenAddr;

use crate::process::MainConf;

/// The environment variable that tells a worker which descriptor reaches
/// its master.
pub const WORKER_FD_ENV: &str = "UPGATE_WORKER_FD";

/// Debian's build: nginx's defaults (`--user`/`--group` not given).
const DEFAULT_USER: &str = "nobody";
const DEFAULT_GROUP: &str = "nogroup";

/// The worker's line to its master, once it runs without root.
static MASTER: OnceLock<Mutex<UnixStream>> = OnceLock::new();

const LISTEN: u8 = b'L';
const APPEND: u8 = b'A';
const READ: u8 = b'R';
const UNLINK: u8 = b'U';

/// Whether this process was started as a worker by a privileged master;
/// then it holds the descriptor of its end of the pair.
/// The variable alone is not trusted: the descriptor must be an open
/// socket of this process.
pub fn worker_fd() -> Option<RawFd> {
    use std::os::unix::fs::FileTypeExt;
    let fd: RawFd = std::env::var(WORKER_FD_ENV).ok()?.parse().ok()?;
    let meta = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?;
    meta.file_type().is_socket().then_some(fd)
}

/// Whether the process should split: root and `master_process on`.
pub fn should_split(main: &MainConf) -> bool {
    main.master_process && nix::unistd::geteuid().is_root()
}

/// In the worker: takes the master's descriptor, asks to be stopped when
/// the master dies, and switches to `user`/`group`. The error is the
/// `[emerg]` text.
pub fn become_worker(fd: RawFd, main: &MainConf) -> Result<(), String> {
    // SAFETY: the master passed this descriptor number (the worker's end of
    // its socket pair, inherited across exec): it is open, and nothing else
    // in this process owns it, so the stream may own and close it.
    #[allow(unsafe_code)]
    let stream = unsafe { UnixStream::from_raw_fd(fd) };
    set_cloexec(&stream);
    let _ = MASTER.set(Mutex::new(stream));
    upgate_conf::fs::set_reader(read_through_master);
    let (user, group) = match &main.user {
        Some((u, g)) => (u.clone(), g.clone().unwrap_or_else(|| u.clone())),
        None => (DEFAULT_USER.to_string(), DEFAULT_GROUP.to_string()),
    };
    switch_user(&user, &group)?;
    // After the switch: the kernel clears the parent-death signal when the
    // credentials change. A master killed with SIGKILL then takes its
    // worker along instead of leaving it serving with no one to signal it.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    if nix::unistd::getppid() == nix::unistd::Pid::from_raw(1) {
        return Err("the master process exited before the worker started".into());
    }
    Ok(())
}

fn set_cloexec(stream: &UnixStream) {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let _ = fcntl(stream, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
}

/// `ngx_worker_process_init`: setgid, initgroups, setuid, with nginx's
/// messages.
fn switch_user(user: &str, group: &str) -> Result<(), String> {
    use nix::unistd::{Group, User, initgroups, setgid, setuid};
    let u = User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| format!("getpwnam(\"{user}\") failed"))?;
    let g = Group::from_name(group)
        .ok()
        .flatten()
        .ok_or_else(|| format!("getgrnam(\"{group}\") failed"))?;
    setgid(g.gid).map_err(|e| format!("setgid({}) failed ({})", g.gid, errno(e)))?;
    let name = std::ffi::CString::new(user).map_err(|_| format!("getpwnam(\"{user}\") failed"))?;
    initgroups(&name, g.gid)
        .map_err(|e| format!("initgroups({user}, {}) failed ({})", g.gid, errno(e)))?;
    setuid(u.uid).map_err(|e| format!("setuid({}) failed ({})", u.uid, errno(e)))?;
    Ok(())
}

fn errno(e: nix::errno::Errno) -> String {
    format!("{}: {}", e as i32, e.desc())
}

/// Whether this process is a worker whose master holds root.
pub fn is_worker() -> bool {
    MASTER.get().is_some()
}

/// A listening socket for `addr` (TCP or unix): from the master when this
/// is a worker without root, else `None` (bind it yourself).
pub fn listen(addr: &ListenAddr) -> Option<io::Result<OwnedFd>> {
    ask(LISTEN, addr.text().as_bytes())
}

/// Deletes the file of a unix listener the master bound: by the master
/// when this is a worker without root (the worker may not write the
/// socket's directory), else `None` (delete it yourself).
pub fn unlink_socket(addr: &ListenAddr) -> Option<io::Result<()>> {
    let master = MASTER.get()?;
    let stream = match master.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    Some(request(&stream, UNLINK, addr.text().as_bytes()).map(drop))
}

/// The address a LISTEN request names: `unix:PATH` or `ADDR:PORT`, as
/// [`ListenAddr::text`] writes them.
fn listen_addr(arg: &[u8]) -> Option<ListenAddr> {
    use std::os::unix::ffi::OsStrExt;
    if let Some(path) = arg.strip_prefix(b"unix:") {
        return Some(ListenAddr::Unix(std::path::PathBuf::from(
            std::ffi::OsStr::from_bytes(path),
        )));
    }
    let text = std::str::from_utf8(arg).ok()?;
    text.parse::<SocketAddr>().ok().map(ListenAddr::Inet)
}

/// `path` opened for appending (created if missing), by the master when
/// this is a worker without root.
pub fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::ffi::OsStrExt;
    match ask(APPEND, path.as_os_str().as_bytes()) {
        Some(fd) => fd.map(File::from),
        None => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path),
    }
}

/// The configuration loader's reader in a worker: files opened by the
/// master (the worker may not be allowed to read them).
fn read_through_master(path: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    match ask(READ, path.as_os_str().as_bytes()) {
        Some(fd) => {
            let mut text = Vec::new();
            File::from(fd?).read_to_end(&mut text)?;
            Ok(text)
        }
        None => std::fs::read(path),
    }
}

/// One request to the master: `None` when there is no master.
fn ask(op: u8, arg: &[u8]) -> Option<io::Result<OwnedFd>> {
    let master = MASTER.get()?;
    let stream = match master.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    Some(exchange(&stream, op, arg))
}

fn exchange(stream: &UnixStream, op: u8, arg: &[u8]) -> io::Result<OwnedFd> {
    request(stream, op, arg)?.ok_or_else(|| io::Error::other("the master sent no descriptor"))
}

/// One request and its answer: a descriptor, or none (UNLINK).
fn request(mut stream: &UnixStream, op: u8, arg: &[u8]) -> io::Result<Option<OwnedFd>> {
    let len = u32::try_from(arg.len()).map_err(|_| io::Error::other("argument too long"))?;
    let mut request = Vec::with_capacity(5 + arg.len());
    request.push(op);
    request.extend_from_slice(&len.to_le_bytes());
    request.extend_from_slice(arg);
    stream.write_all(&request)?;
    let (status, fd) = recv_fd(stream)?;
    match status {
        0 => Ok(fd),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Sends a status (0, or the errno) and, with 0, the descriptor if any.
fn send_fd(stream: &UnixStream, result: io::Result<Option<OwnedFd>>) -> io::Result<()> {
    let (status, fd) = match &result {
        Ok(fd) => (0i32, fd.as_ref().map(AsRawFd::as_raw_fd)),
        Err(e) => (e.raw_os_error().unwrap_or(libc_eio()), None),
    };
    let bytes = status.to_le_bytes();
    let iov = [IoSlice::new(&bytes)];
    let fds: Vec<RawFd> = fd.into_iter().collect();
    let cmsgs: Vec<ControlMessage<'_>> = if fds.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(&fds)]
    };
    sendmsg::<()>(stream.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None)
        .map_err(io::Error::from)?;
    Ok(())
}

fn libc_eio() -> i32 {
    nix::errno::Errno::EIO as i32
}

fn recv_fd(stream: &UnixStream) -> io::Result<(i32, Option<OwnedFd>)> {
    let mut bytes = [0u8; 4];
    let mut iov = [IoSliceMut::new(&mut bytes)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    if msg.bytes != 4 {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    let mut fd = None;
    for cmsg in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for raw in fds {
                // SAFETY: the kernel installed this descriptor in our table
                // for this message (SCM_RIGHTS); nothing else refers to it,
                // so it is ours to own and close.
                #[allow(unsafe_code)]
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                fd.get_or_insert(owned);
            }
        }
    }
    Ok((i32::from_le_bytes(bytes), fd))
}

/// The master's side: answers the worker's requests until it hangs up.
/// `listen` binds (or hands over a socket bound at start); `unlink`
/// deletes a unix listener's file (the master's own only).
pub fn serve_worker(
    stream: UnixStream,
    mut listen: impl FnMut(ListenAddr) -> io::Result<OwnedFd>,
    mut unlink: impl FnMut(ListenAddr) -> io::Result<()>,
) {
    let mut stream = stream;
    loop {
        let mut head = [0u8; 5];
        if stream.read_exact(&mut head).is_err() {
            return;
        }
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > 1 << 16 {
            return;
        }
        let mut arg = vec![0u8; len];
        if stream.read_exact(&mut arg).is_err() {
            return;
        }
        let path = || {
            use std::os::unix::ffi::OsStrExt;
            std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&arg))
        };
        let result = match head[0] {
            LISTEN => listen_addr(&arg)
                .ok_or_else(|| io::Error::from_raw_os_error(nix::errno::Errno::EINVAL as i32))
                .and_then(&mut listen)
                .map(Some),
            UNLINK => listen_addr(&arg)
                .ok_or_else(|| io::Error::from_raw_os_error(nix::errno::Errno::EINVAL as i32))
                .and_then(&mut unlink)
                .map(|()| None),
            APPEND => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path())
                .map(|f| Some(OwnedFd::from(f))),
            READ => File::open(path()).map(|f| Some(OwnedFd::from(f))),
            _ => Err(io::Error::from_raw_os_error(
                nix::errno::Errno::EINVAL as i32,
            )),
        };
        if send_fd(&stream, result).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request and answer, descriptor included, across a socket pair:
    /// the unsafe `from_raw_fd` on a received descriptor owns a working file.
    #[test]
    fn descriptors_cross_the_pair() {
        let Ok((worker, master)) = UnixStream::pair() else {
            panic!("socketpair failed");
        };
        let dir = std::env::temp_dir().join(format!("upgate-privsep-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("x.log");
        let helper = std::thread::spawn(move || {
            serve_worker(
                master,
                |addr| match addr {
                    ListenAddr::Inet(_) => {
                        std::net::TcpListener::bind("127.0.0.1:0").map(OwnedFd::from)
                    }
                    ListenAddr::Unix(path) => {
                        std::os::unix::net::UnixListener::bind(path).map(OwnedFd::from)
                    }
                },
                |_| Ok(()),
            )
        });
        let fd = exchange(&worker, APPEND, file.as_os_str().as_encoded_bytes());
        let Ok(fd) = fd else {
            panic!("no descriptor: {fd:?}");
        };
        let mut f = File::from(fd);
        assert!(f.write_all(b"through the master\n").is_ok());
        assert_eq!(
            std::fs::read_to_string(&file).ok().as_deref(),
            Some("through the master\n")
        );
        let l = exchange(&worker, LISTEN, b"127.0.0.1:0").map(std::net::TcpListener::from);
        assert!(l.is_ok_and(|l| l.local_addr().is_ok()));
        let sock = dir.join("u.sock");
        let arg = [b"unix:", sock.as_os_str().as_encoded_bytes()].concat();
        let u = exchange(&worker, LISTEN, &arg).map(std::os::unix::net::UnixListener::from);
        assert!(u.is_ok_and(|u| u.local_addr().is_ok_and(|a| a.as_pathname() == Some(&sock))));
        let missing = exchange(
            &worker,
            READ,
            dir.join("none").as_os_str().as_encoded_bytes(),
        );
        assert_eq!(missing.err().and_then(|e| e.raw_os_error()), Some(2));
        drop(worker);
        let _ = helper.join();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
