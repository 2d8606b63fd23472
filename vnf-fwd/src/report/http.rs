//! The HTTP/1.x server of `/metrics` and `/healthz` (`--metrics-addr`): one
//! thread, not an lcore, with non-blocking sockets, so that no client can
//! hold it. Up to [`MAX_CLIENTS`] connections at once; a whole request (read
//! and answer) has a deadline; keep-alive connections are closed when idle;
//! dropping the server never waits on a client.

use super::Live;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Connections served at once. One more first closes the longest idle
/// keep-alive connection, if there is one; otherwise it is answered 503 and
/// closed at once.
const MAX_CLIENTS: usize = 128;
/// Largest request head (request line and header fields); ours are one line
/// and a few headers. Beyond it the answer is 431.
const MAX_HEAD: usize = 8192;
/// Most header fields in a request (431 beyond).
const MAX_HEADERS: usize = 32;
/// After an answer that closes the connection, what the client still sends
/// is read and dropped for up to this long, so that closing does not reset
/// the connection (which can destroy the answer before the client reads it).
const LINGER: Duration = Duration::from_secs(1);
/// Pause before accepting again after `accept` failed (EMFILE...).
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

const LISTENER: Token = Token(MAX_CLIENTS);
const WAKER: Token = Token(MAX_CLIENTS + 1);

/// How long a client may take.
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    /// A whole request: from its first byte (or the connection's accept) to
    /// the last byte of its answer.
    request: Duration,
    /// A keep-alive connection's wait for its next request.
    idle: Duration,
}

const TIMEOUTS: Timeouts = Timeouts {
    request: Duration::from_secs(2),
    idle: Duration::from_secs(5),
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("--metrics-addr {addr}: cannot listen: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("--metrics-addr: cannot start the server: {0}")]
    Start(io::Error),
}

/// The bound `--metrics-addr` socket, non-blocking.
pub type Listener = TcpListener;

/// Binds `--metrics-addr`; done before the EAL starts so a taken port costs
/// no hugepages.
pub fn bind(addr: SocketAddr) -> Result<Listener, Error> {
    TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })
}

/// The server thread. Dropping it stops the thread and closes every socket
/// at once: the thread never blocks on a client.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    waker: Waker,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `live` on `listener` (from [`bind`]) until dropped.
    pub fn start(listener: Listener, live: Arc<Live>) -> Result<Self, Error> {
        Self::start_with(listener, live, TIMEOUTS)
    }

    fn start_with(
        mut listener: Listener,
        live: Arc<Live>,
        timeouts: Timeouts,
    ) -> Result<Self, Error> {
        let poll = Poll::new().map_err(Error::Start)?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(Error::Start)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(Error::Start)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = Server {
            poll,
            listener,
            conns: (0..MAX_CLIENTS).map(|_| None).collect(),
            accept_after: None,
            timeouts,
        };
        let thread = std::thread::Builder::new()
            .name("vnf-metrics".into())
            .spawn({
                let stop = stop.clone();
                move || server.run(&live, &stop)
            })
            .map_err(Error::Start)?;
        Ok(MetricsServer {
            stop,
            waker,
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        // If the wake-up cannot be sent, the thread is not polling (it ended).
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The event loop's state.
struct Server {
    poll: Poll,
    listener: TcpListener,
    /// Connection `i` is registered with `Token(i)`.
    conns: Vec<Option<Conn>>,
    /// Set when `accept` failed: when to try again.
    accept_after: Option<Instant>,
    timeouts: Timeouts,
}

impl Server {
    /// Serves until `stop`; a client's errors end only that client.
    fn run(&mut self, live: &Live, stop: &AtomicBool) {
        let mut events = Events::with_capacity(256);
        while !stop.load(Relaxed) {
            let next = self
                .conns
                .iter()
                .flatten()
                .map(|c| c.deadline)
                .chain(self.accept_after)
                .min();
            let timeout = next.map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // epoll_wait fails only on a bad descriptor: nothing left to serve.
                return;
            }
            let mut accept = false;
            for event in &events {
                match event.token() {
                    LISTENER => accept = true,
                    WAKER => {}
                    Token(i) => self.drive(i, live),
                }
            }
            let now = Instant::now();
            match self.accept_after {
                Some(at) if now >= at => self.accept(live),
                None if accept => self.accept(live),
                _ => {}
            }
            self.expire(now);
        }
    }

    /// Accepts every waiting connection.
    fn accept(&mut self, live: &Live) {
        self.accept_after = None;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.admit(stream, live),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                // EMFILE, ENOBUFS...: the connections wait in the backlog.
                Err(_) => {
                    self.accept_after = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    /// Gives `stream` a slot, or answers 503 and closes it.
    fn admit(&mut self, stream: TcpStream, live: &Live) {
        let slot = self.conns.iter().position(Option::is_none).or_else(|| {
            // The longest idle keep-alive connection makes room.
            let (i, _) = self
                .conns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((i, c.as_ref()?)))
                .filter(|(_, c)| c.is_idle())
                .min_by_key(|(_, c)| c.deadline)?;
            self.conns[i] = None;
            Some(i)
        });
        let Some(slot) = slot else {
            return reject(stream);
        };
        let mut conn = Conn::new(stream, Instant::now() + self.timeouts.request);
        if self
            .poll
            .registry()
            .register(
                &mut conn.stream,
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_ok()
        {
            self.conns[slot] = Some(conn);
            self.drive(slot, live);
        }
    }

    /// Moves connection `i` on as far as its socket allows.
    fn drive(&mut self, i: usize, live: &Live) {
        let timeouts = self.timeouts;
        if let Some(conn) = self.conns.get_mut(i).and_then(Option::as_mut) {
            if conn.drive(live, timeouts).is_err() {
                self.conns[i] = None;
            }
        }
    }

    /// Closes the connections past their deadline; one that was sending a
    /// request is told 408 (if its socket takes it).
    fn expire(&mut self, now: Instant) {
        for slot in &mut self.conns {
            if slot.as_ref().is_some_and(|c| c.deadline <= now) {
                if let Some(mut conn) = slot.take() {
                    if !conn.is_idle() && conn.output.is_empty() && !conn.closing {
                        let _ = conn.stream.write(&Response::error(408).bytes(false, true));
                    }
                }
            }
        }
    }
}

/// Answers a connection over the bound: 503, closed at once.
fn reject(mut stream: TcpStream) {
    // Discard what the client already sent, so that closing sends a FIN
    // after the answer rather than a reset that could overtake it.
    let mut sink = [0u8; 4096];
    let _ = stream.read(&mut sink);
    let _ = stream.write(&Response::error(503).bytes(false, true));
}

/// The connection ended (closed by the client, failed, or answered with close).
#[derive(Debug)]
struct Closed;

/// One client's connection.
struct Conn {
    stream: TcpStream,
    /// Received and not yet answered.
    input: Vec<u8>,
    /// The answer being written, and how much of it is written.
    output: Vec<u8>,
    written: usize,
    /// Close once `output` is written.
    close_after: bool,
    /// Waiting for the first byte of a request after an answer.
    waiting: bool,
    /// Answered with close: the write side is shut down, and what the
    /// client still sends is dropped until it closes (or [`LINGER`]).
    closing: bool,
    deadline: Instant,
}

impl Conn {
    fn new(stream: TcpStream, deadline: Instant) -> Self {
        Conn {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            close_after: false,
            waiting: false,
            closing: false,
            deadline,
        }
    }

    /// Between requests with nothing in hand, or answered and closing: it
    /// can be closed to make room.
    fn is_idle(&self) -> bool {
        (self.waiting && self.input.is_empty() && self.output.is_empty()) || self.closing
    }

    /// Writes the answer in hand, answers every whole request received, and
    /// reads, until the socket would block (`Ok`) or the connection ends.
    fn drive(&mut self, live: &Live, timeouts: Timeouts) -> Result<(), Closed> {
        loop {
            while self.written < self.output.len() {
                match self.stream.write(&self.output[self.written..]) {
                    Ok(0) => return Err(Closed),
                    Ok(n) => self.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(Closed),
                }
            }
            if !self.output.is_empty() {
                self.output.clear();
                self.written = 0;
                if self.close_after {
                    self.closing = true;
                    self.input = Vec::new();
                    self.deadline = self.deadline.min(Instant::now() + LINGER);
                    if self.stream.shutdown(Shutdown::Write).is_err() {
                        return Err(Closed);
                    }
                } else {
                    // A request already received (pipelined) is on its clock.
                    self.waiting = self.input.is_empty();
                    self.deadline = Instant::now()
                        + if self.waiting {
                            timeouts.idle
                        } else {
                            timeouts.request
                        };
                }
            }
            if !self.closing {
                if let Handled::Answer {
                    consumed,
                    response,
                    close,
                } = handle(&self.input, live)
                {
                    self.input.drain(..consumed);
                    self.output = response;
                    self.close_after = close;
                    continue;
                }
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(Closed),
                Ok(_) if self.closing => {}
                Ok(n) => {
                    if self.waiting {
                        self.waiting = false;
                        self.deadline = Instant::now() + timeouts.request;
                    }
                    self.input.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Closed),
            }
        }
    }
}

/// What to do with the bytes received so far.
#[derive(Debug)]
enum Handled {
    /// No whole request yet: read more.
    Partial,
    /// Answer the first `consumed` bytes with `response`, then close if `close`.
    Answer {
        consumed: usize,
        response: Vec<u8>,
        close: bool,
    },
}

/// Parses the request at the start of `input` and answers it.
fn handle(input: &[u8], live: &Live) -> Handled {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let fail = |code| Handled::Answer {
        consumed: input.len(),
        response: Response::error(code).bytes(false, true),
        close: true,
    };
    let consumed = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if input.len() < MAX_HEAD => return Handled::Partial,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => return fail(431),
        Err(_) => return fail(400),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return fail(400);
    };
    let header = |name: &'static str| {
        req.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let connection_says = |token: &str| {
        header("connection").any(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    let keep_alive = if version >= 1 {
        !connection_says("close")
    } else {
        connection_says("keep-alive")
    };
    // Our requests have no body: one that announces one is answered, then
    // the connection is closed rather than its body read.
    let body = header("transfer-encoding").next().is_some()
        || header("content-length").any(|v| v.trim_ascii() != b"0");
    let close = !keep_alive || body;
    Handled::Answer {
        consumed,
        response: route(method, target, live).bytes(method == "HEAD", close),
        close,
    }
}

/// An answer before it is written.
#[derive(Debug)]
struct Response {
    code: u16,
    content_type: &'static str,
    body: String,
    /// Methods allowed, for 405.
    allow: Option<&'static str>,
}

const TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    fn text(code: u16, body: &str) -> Self {
        Response {
            code,
            content_type: TEXT,
            body: body.to_owned(),
            allow: None,
        }
    }

    /// The answer to a request that is not served.
    fn error(code: u16) -> Self {
        Response::text(code, &format!("{}\n", reason(code)))
    }
}

/// The answer to `method target`.
fn route(method: &str, target: &str, live: &Live) -> Response {
    let path = target.split('?').next().unwrap_or(target);
    if !matches!(path, "/metrics" | "/healthz") {
        return Response::text(404, "not found: try /metrics or /healthz\n");
    }
    if !matches!(method, "GET" | "HEAD") {
        return Response {
            allow: Some("GET, HEAD"),
            ..Response::text(405, "method not allowed: use GET or HEAD\n")
        };
    }
    if path == "/metrics" {
        return Response {
            code: 200,
            content_type: prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            body: live.prometheus(),
            allow: None,
        };
    }
    if live.healthy() {
        Response::text(200, "ok\n")
    } else if live.forwarding.load(Relaxed) {
        Response::text(503, "a link is down\n")
    } else {
        Response::text(503, "not forwarding\n")
    }
}

impl Response {
    /// The status line, headers and (unless `head_only`) body; `close`
    /// says the server closes the connection after it.
    fn bytes(&self, head_only: bool, close: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.body.len());
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
            self.code,
            reason(self.code),
            self.content_type,
            self.body.len()
        );
        if let Some(allow) = self.allow {
            let _ = write!(out, "Allow: {allow}\r\n");
        }
        out.extend_from_slice(if close {
            b"Connection: close\r\n\r\n"
        } else {
            b"Connection: keep-alive\r\n\r\n"
        });
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// The reason phrase of the codes the server answers.
fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpdk::Link;
    use crate::report::tests::live;
    use std::net::TcpStream as Client;

    /// The answer to `req` (whole): its text, the bytes it consumed, and
    /// whether the connection closes after it.
    fn answer(req: &[u8], live: &Live) -> (String, usize, bool) {
        match handle(req, live) {
            Handled::Answer {
                consumed,
                response,
                close,
            } => (String::from_utf8(response).unwrap(), consumed, close),
            Handled::Partial => panic!("partial: {:?}", String::from_utf8_lossy(req)),
        }
    }

    fn code(text: &str) -> u16 {
        assert!(text.starts_with("HTTP/1.1 "), "{text}");
        text[9..12].parse().unwrap()
    }

    fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        let head = text.split("\r\n\r\n").next().unwrap();
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    fn body(text: &str) -> &str {
        text.split_once("\r\n\r\n").unwrap().1
    }

    fn healthy(live: &Live) {
        live.set_forwarding(true);
        let up = Some(Link {
            up: true,
            speed_mbps: 0,
            full_duplex: true,
        });
        live.set_links(&[up, up]);
    }

    #[test]
    fn routes_and_status_codes() {
        let live = live();
        let status = |req: &str| code(&answer(req.as_bytes(), &live).0);
        assert_eq!(status("GET /metrics HTTP/1.1\r\n\r\n"), 200);
        assert_eq!(status("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), 200);
        assert_eq!(status("GET /healthz HTTP/1.0\r\n\r\n"), 503);
        live.set_forwarding(true);
        assert_eq!(status("GET /healthz HTTP/1.0\r\n\r\n"), 503);
        healthy(&live);
        let (ok, _, _) = answer(b"GET /healthz HTTP/1.0\r\n\r\n", &live);
        assert_eq!((code(&ok), body(&ok)), (200, "ok\n"));
        for req in [
            "GET / HTTP/1.0\r\n\r\n",
            "GET /metricsx HTTP/1.1\r\n\r\n",
            "POST /nope HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(status(req), 404, "{req:?}");
        }
        for req in [
            "POST /metrics HTTP/1.1\r\n\r\n",
            "PUT /healthz HTTP/1.1\r\n\r\n",
            "DELETE /metrics?x HTTP/1.0\r\n\r\n",
            "OPTIONS /healthz HTTP/1.1\r\n\r\n",
        ] {
            let (text, _, _) = answer(req.as_bytes(), &live);
            assert_eq!(code(&text), 405, "{req:?}");
            assert_eq!(header(&text, "Allow"), Some("GET, HEAD"), "{text}");
        }
        let (metrics, _, _) = answer(b"GET /metrics HTTP/1.1\r\n\r\n", &live);
        assert_eq!(
            header(&metrics, "Content-Type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert_eq!(
            header(&metrics, "Content-Length").map(str::parse),
            Some(Ok(body(&metrics).len()))
        );
        assert!(body(&metrics).contains("\nvnf_fwd_up 1\n"), "{metrics}");
    }

    #[test]
    fn head_has_the_get_headers_and_no_body() {
        let live = live();
        for path in ["/metrics", "/healthz"] {
            let (get, _, _) = answer(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes(), &live);
            let (head, _, _) = answer(format!("HEAD {path} HTTP/1.1\r\n\r\n").as_bytes(), &live);
            assert_eq!(code(&head), code(&get));
            assert!(head.ends_with("\r\n\r\n"), "{head:?}");
            assert_eq!(body(&head), "");
            let len = |t: &str| {
                header(t, "Content-Length")
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            };
            assert!(len(&head) > 0);
            // /metrics is sampled afresh; its length may differ in the digits.
            assert!(len(&head).abs_diff(len(&get)) < 64, "{head}\n{get}");
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection_header() {
        let live = live();
        for (req, close) in [
            ("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", false),
            ("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", true),
            (
                "GET /healthz HTTP/1.1\r\nConnection: TE, Close\r\n\r\n",
                true,
            ),
            ("GET /healthz HTTP/1.0\r\n\r\n", true),
            (
                "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                false,
            ),
            // A body is not read: answered, then closed.
            ("GET /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\n", true),
            ("GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", false),
            (
                "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                true,
            ),
            ("GET /nope HTTP/1.1\r\n\r\n", false),
        ] {
            let (text, consumed, closes) = answer(req.as_bytes(), &live);
            assert_eq!((closes, consumed), (close, req.len()), "{req:?}");
            let want = if close { "close" } else { "keep-alive" };
            assert_eq!(header(&text, "Connection"), Some(want), "{req:?}");
        }
    }

    #[test]
    fn pipelined_requests_are_answered_in_turn() {
        let live = live();
        let first = "GET /healthz HTTP/1.1\r\n\r\n";
        let both = format!("{first}HEAD /metrics HTTP/1.1\r\n\r\nGET /met");
        let (text, consumed, close) = answer(both.as_bytes(), &live);
        assert_eq!((code(&text), consumed, close), (503, first.len(), false));
        let (text, consumed, _) = answer(&both.as_bytes()[consumed..], &live);
        assert_eq!((code(&text), body(&text)), (200, ""));
        let rest = &both.as_bytes()[first.len() + consumed..];
        assert!(matches!(handle(rest, &live), Handled::Partial));
    }

    #[test]
    fn malformed_and_oversized_requests() {
        let live = live();
        for req in [
            &b"\x01\n\n"[..],
            b"\x00\xff\xfe\r\n\r\n",
            b"GET /metrics HTTP/9.9\r\n\r\n",
            b"GET /metrics\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            let (text, consumed, close) = answer(req, &live);
            assert_eq!(
                (code(&text), consumed, close),
                (400, req.len(), true),
                "{req:?}"
            );
        }
        for partial in [&b""[..], b"GET", b"GET /metrics HTTP/1.1\r\nHost: x\r\n"] {
            assert!(
                matches!(handle(partial, &live), Handled::Partial),
                "{partial:?}"
            );
        }
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD));
        let unfinished = "a".repeat(MAX_HEAD);
        let many = format!(
            "GET /metrics HTTP/1.1\r\n{}\r\n",
            "X-A: 1\r\n".repeat(MAX_HEADERS + 1)
        );
        for req in [long_line, unfinished, many] {
            let (text, _, close) = answer(req.as_bytes(), &live);
            assert_eq!((code(&text), close), (431, true), "{}", &req[..40]);
        }
    }

    /// A server on a loopback port with short timeouts.
    fn server(timeouts: Timeouts) -> (MetricsServer, SocketAddr, Arc<Live>) {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let live = Arc::new(live());
        let server = MetricsServer::start_with(listener, live.clone(), timeouts).unwrap();
        (server, addr, live)
    }

    fn connect(addr: SocketAddr) -> Client {
        let c = Client::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c
    }

    /// Reads one response (head, and its Content-Length body unless the
    /// request was HEAD): (code, text).
    fn read_response(c: &mut Client, head_only: bool) -> (u16, String) {
        let mut text = Vec::new();
        let mut byte = [0u8; 1];
        while !text.ends_with(b"\r\n\r\n") {
            assert_eq!(
                c.read(&mut byte).unwrap(),
                1,
                "{:?}",
                String::from_utf8_lossy(&text)
            );
            text.push(byte[0]);
        }
        let head = String::from_utf8(text).unwrap();
        let len: usize = header(&head, "Content-Length").unwrap().parse().unwrap();
        let mut body = vec![0; if head_only { 0 } else { len }];
        c.read_exact(&mut body).unwrap();
        (code(&head), head + &String::from_utf8(body).unwrap())
    }

    /// Whether the server closed `c` (EOF or reset) within its read timeout.
    fn closed(c: &mut Client) -> bool {
        let mut rest = Vec::new();
        c.read_to_end(&mut rest)
            .map_or_else(|e| e.kind() == io::ErrorKind::ConnectionReset, |_| true)
    }

    const SHORT: Timeouts = Timeouts {
        request: Duration::from_millis(300),
        idle: Duration::from_millis(500),
    };

    #[test]
    fn keep_alive_then_idle_close() {
        let (_server, addr, _) = server(SHORT);
        let mut c = connect(addr);
        for _ in 0..3 {
            c.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut c, false).0, 200);
        }
        c.write_all(b"HEAD /healthz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut c, true).0, 503);
        assert_eq!(read_response(&mut c, false).0, 404);
        let t = Instant::now();
        assert!(closed(&mut c));
        let idle = t.elapsed();
        assert!(
            idle >= Duration::from_millis(400) && idle < Duration::from_secs(2),
            "{idle:?}"
        );
    }

    #[test]
    fn slow_client_gets_408_at_the_deadline_and_holds_no_one() {
        let (server, addr, _) = server(SHORT);
        let mut slow = connect(addr);
        let t = Instant::now();
        slow.write_all(b"GET /metr").unwrap();
        // Others are answered meanwhile.
        for _ in 0..5 {
            let mut c = connect(addr);
            c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            assert_eq!(read_response(&mut c, false).0, 200);
        }
        // A byte every 100 ms does not extend the deadline.
        let mut text = String::new();
        for b in b"ics HTTP/1.1\r\n" {
            if slow.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = slow.read_to_string(&mut text);
        assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
        assert!(
            t.elapsed() < Duration::from_millis(1000),
            "{:?}",
            t.elapsed()
        );
        // A client in the middle of a request does not hold the drop.
        let mut holder = connect(addr);
        holder.write_all(b"GET /").unwrap();
        let t = Instant::now();
        drop(server);
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        assert!(closed(&mut holder));
        assert!(Client::connect(addr).is_err(), "still listening");
    }

    #[test]
    fn oversized_request_gets_431_then_a_clean_close() {
        let (_server, addr, _) = server(TIMEOUTS);
        let mut c = connect(addr);
        let writer = std::thread::spawn({
            let mut c = c.try_clone().unwrap();
            move || {
                let line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(1 << 20));
                c.write_all(line.as_bytes())
            }
        });
        let mut text = String::new();
        // EOF, not a reset: the server read and dropped the rest.
        c.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "), "{text:?}");
        writer.join().unwrap().unwrap();
    }

    #[test]
    fn over_the_bound_idle_make_room_busy_get_503() {
        let timeouts = Timeouts {
            request: Duration::from_secs(10),
            idle: Duration::from_secs(10),
        };
        let (_server, addr, _) = server(timeouts);
        // Every slot held by a connection that finished a request: the oldest
        // idle one is closed for a newcomer.
        let mut idle: Vec<Client> = (0..MAX_CLIENTS)
            .map(|_| {
                let mut c = connect(addr);
                c.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
                assert_eq!(read_response(&mut c, false).0, 503);
                c
            })
            .collect();
        let mut c = connect(addr);
        c.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut c, false).0, 200);
        assert!(closed(&mut idle[0]));
        // Every slot held by a connection in the middle of a request: 503.
        let busy: Vec<Client> = (0..MAX_CLIENTS)
            .map(|_| {
                let mut c = connect(addr);
                c.write_all(b"GET /met").unwrap();
                c
            })
            .collect();
        // Each of them took the slot of an idle one (the newcomer above
        // included): now none is idle.
        let mut held = connect(addr);
        held.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut text = String::new();
        let t = Instant::now();
        let _ = held.read_to_string(&mut text);
        assert!(text.starts_with("HTTP/1.1 503 "), "{text:?}");
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        drop(busy);
        drop(idle);
        // Freed slots serve again.
        let mut c = connect(addr);
        let t = Instant::now();
        loop {
            c.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
            let mut first = [0u8; 12];
            if c.read_exact(&mut first).is_ok() && &first[9..12] == b"200" {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(2), "slots not freed");
            c = connect(addr);
        }
    }
}
