"""The HTTP side of the stand-ins: a threaded HTTP/1.1 server and a handler base.

ThreadedServer binds (port 0 = a free port; `.port` is the bound one), serves each connection
in a daemon thread, optionally over TLS, and has a `stopping` event that fault waits watch.
BaseHandler reads bodies (Content-Length or chunked, at most `max_body_bytes`), answers in one
write (`send`: bytes, text or JSON), closes or resets connections, and applies the common fault
effects of standin_core.faults (`fault_gate`, `apply_faults`); a stand-in overrides the
`fault_*` / `on_*` hooks to answer in its own format and to count.
"""
import email.utils
import json
import math
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from . import faults as fl

ADMIN_PREFIXES = ("/$testbed", "/%24testbed")
MAX_BODY_BYTES = 64 * 1024 * 1024
REASONS = BaseHTTPRequestHandler.responses


class BodyError(ValueError):
    """A request body that cannot be read (bad framing, too large)."""


def reason(status):
    return REASONS.get(status, ("",))[0]


def dumps(obj, ensure_ascii=True):
    """Compact JSON text (no spaces), as the stand-ins answer."""
    return json.dumps(obj, ensure_ascii=ensure_ascii, separators=(",", ":"))


def parse_json(raw):
    """A request body as JSON (None when empty); ValueError with the reason otherwise."""
    if not raw:
        return None
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8")   # UnicodeDecodeError is a ValueError
    return json.loads(raw)


def admin_path(path, base=""):
    """The part after /$testbed/ (or /%24testbed/, or {base}/$testbed/) without slashes at the
    ends, or None when `path` is not an admin path."""
    for prefix in ADMIN_PREFIXES:
        for root in ((base + prefix, prefix) if base else (prefix,)):
            if path == root or path.startswith(root + "/"):
                return path[len(root):].strip("/")
    return None


class ThreadedServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, app=None, ssl_context=None, quiet=True):
        self.app = app
        self.ssl_context = ssl_context
        self.quiet = quiet
        self.stopping = threading.Event()
        super().__init__(addr, handler)

    @property
    def port(self):
        return self.server_address[1]

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError):
            return          # the client went away / the socket was reset: not interesting
        super().handle_error(request, client_address)


def write_ready_file(path, text):
    """Writes `text` to `path` atomically (tests wait for the file, then read it)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(text)
    os.replace(tmp, path)


def serve_in_thread(server, name="standin", poll_interval=0.2):
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": poll_interval},
                         name=name, daemon=True)
    t.start()
    return t


def serve_until_signal(*servers, serving=None):
    """Serves until SIGTERM or SIGINT, then stops and closes the servers. serving: called once
    they serve (e.g. to write a ready file and the "listening" line)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for s in servers:
        serve_in_thread(s)
    if serving is not None:
        serving()
    stop.wait()
    for s in servers:
        s.stopping.set()
    for s in servers:
        s.shutdown()
        s.server_close()


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = ""              # "" sends no Server header
    sys_version = ""
    disable_nagle_algorithm = True
    max_body_bytes = MAX_BODY_BYTES
    json_ensure_ascii = True
    json_type = "application/json"   # Content-Type of dict/list bodies
    text_type = "text/plain; charset=utf-8"
    bytes_type = None

    _date = (0, "")

    def setup(self):
        super().setup()
        if hasattr(self.connection, "do_handshake"):     # TLS: handshake in this thread
            self.connection.settimeout(10)
            try:
                self.connection.do_handshake()
            except OSError:
                self.close_connection = True
                raise
            self.connection.settimeout(self.timeout)

    def parse_request(self):
        self.status_sent = None
        self.fired_faults = []
        self._drop_fault = None
        return super().parse_request()

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    @classmethod
    def date_header(cls):
        now = int(time.time())
        if cls._date[0] != now:
            BaseHandler._date = (now, email.utils.formatdate(now, usegmt=True))
        return BaseHandler._date[1]

    def send_response(self, code, message=None):
        self.log_request(code)
        self.send_response_only(code, message)
        if self.server_version:
            self.send_header("Server", self.version_string().strip())
        self.send_header("Date", self.date_header())

    # ------------------------------------------------------------------ requests
    def read_body(self):
        """The request body (b"" when none); BodyError when it cannot be read."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise BodyError("bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > self.max_body_bytes:
                    raise BodyError("body over %d bytes" % self.max_body_bytes)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BodyError("bad Content-Length") from None
        if n > self.max_body_bytes:
            raise BodyError("body over %d bytes" % self.max_body_bytes)
        return self.rfile.read(n) if n > 0 else b""

    # ------------------------------------------------------------------ answers
    def encode_body(self, body):
        """-> (bytes, default Content-Type)."""
        if body is None:
            return b"", None
        if isinstance(body, (bytes, bytearray)):
            return bytes(body), self.bytes_type
        if isinstance(body, str):
            return body.encode("utf-8"), self.text_type
        return dumps(body, self.json_ensure_ascii).encode("utf-8"), self.json_type

    def send(self, status, body=None, headers=None, content_type=None):
        """Answers in one write. headers: a dict (a list value repeats the header) or (name,
        value) pairs; content_type: overrides the body's default (sent even when empty). A
        drop_after_commit fault of this request answers here instead (closed, or 502)."""
        drop, self._drop_fault = self._drop_fault, None
        if drop is not None:
            self.on_dropped(drop)
            if str(drop.get("as")) != "502":
                self.on_unanswered("dropped")
                self.close_silently()
                return
            status, body, headers, content_type = 502, self.error_body(
                502, "Bad gateway (testbed: response dropped after commit)"), None, None
        payload, ctype = self.encode_body(body)
        if content_type is not None:
            ctype = content_type
        elif not payload:
            ctype = None
        self.send_response(status, reason(status))
        items = headers.items() if isinstance(headers, dict) else (headers or ())
        names = set()
        for k, v in items:
            names.add(k.lower())
            for one in (v if isinstance(v, list) else (v,)):
                self.send_header(k, one)
        if ctype and "content-type" not in names:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection and "connection" not in names:
            self.send_header("Connection", "close")
        self.on_answer(status)
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(payload)
        self.flush_headers()
        self.status_sent = status

    def close_silently(self):
        """Closes the connection without answering (FIN)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset_connection(self):
        """Closes the connection without answering, with a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()

    def _dispatch(self):
        raise NotImplementedError

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # ----------------------------------------------------------------- faults
    def fault_gate(self, registry, method, path, body=b"", **request):
        """Before handling a request: the down window, then the faults that fire on it.
        True when the request got its (fault) answer or its connection was closed."""
        remaining = registry.down_remaining()
        if remaining > 0:
            self.fault_down(remaining)
            return True
        return self.apply_faults(registry, registry.take(method, path, body, **request))

    def apply_faults(self, registry, fired):
        """Applies the common effects of the faults that fired, in order (a stand-in kind goes
        to fault_extension). True when the request is over. The faults stay in
        self.fired_faults (for the kinds a stand-in applies while it answers)."""
        self.fired_faults = fired
        for f in fired:
            e = f.effect
            if e == fl.DELAY:
                self.fault_sleep(f.seconds)
            elif e == fl.STATUS:
                self.fault_status(f)
                return True
            elif e == fl.DOWN:
                registry.set_down(f.seconds)
                self.fault_down(f.seconds)
                return True
            elif e == fl.TIMEOUT:
                self.fault_sleep(f.seconds)
                self.on_unanswered("timeout")
                self.close_silently()
                return True
            elif e == fl.RESET:
                self.on_unanswered("reset")
                self.reset_connection()
                return True
            elif e == fl.CLOSE:
                self.on_unanswered("closed")
                self.close_silently()
                return True
            elif e == fl.DROP_AFTER_COMMIT:
                self._drop_fault = f
            elif self.fault_extension(f):
                return True
        return False

    # hooks
    def error_body(self, status, text):
        """The stand-in's error document for a fault's answer."""
        return text

    def fault_sleep(self, seconds):
        self.server.stopping.wait(seconds)

    def fault_status(self, f):
        """A `status` fault: that status, `body` as given or the error document."""
        st = f["status"]
        headers = {}
        if f.get("retry_after") is not None:
            headers["Retry-After"] = f["retry_after"]
        body = f.get("body")
        if body is None:
            body = self.error_body(st, f.get("diagnostics") or "Injected status %d (testbed)" % st)
        self.send(st, body, headers)

    def fault_down(self, remaining):
        """A request while the stand-in is down: 503 with Retry-After."""
        self.send(503, self.error_body(503, "Service unavailable (testbed: down)"),
                  {"Retry-After": str(max(1, math.ceil(remaining)))})

    def fault_extension(self, f):
        """A stand-in kind fired; True when it answered the request."""
        return False

    def on_answer(self, status):
        """Called right before an answer is written."""

    def on_unanswered(self, what):
        """Called when a fault closes the connection without answer ("timeout", "reset",
        "closed", "dropped")."""

    def on_dropped(self, fault):
        """Called when a drop_after_commit fault takes the place of an answer."""
