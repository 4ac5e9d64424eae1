"""Wiring: one App (store + faults + settings) and two listeners."""
import ssl
import threading
import time

from standin_core.server import ThreadedServer

from .api import ApiHandler
from .faults import new_faults
from .router import RouterHandler
from .store import Store


class App:
    def __init__(self, store=None, *, router_timeout_ms=60000, custom_token=True, compress=True,
                 insecure_routes=False, basic_auth_header=True, quiet=True, store_delay_ms=0):
        self.store = store or Store()
        self.faults = new_faults()
        self.router_timeout_ms = router_timeout_ms
        self.custom_token = custom_token
        self.compress = compress
        self.insecure_routes = insecure_routes
        self.basic_auth_header = basic_auth_header
        self.quiet = quiet
        # Delay between the router's answer and storing the transaction's response and final
        # status (openHIM writes both after answering); 0 stores them before answering.
        self.store_delay_s = max(0, store_delay_ms) / 1000.0
        self.started = time.monotonic()
        self.router_port = None
        self.api_port = None
        self._persist_lock = threading.Lock()

    def uptime(self):
        return int((time.monotonic() - self.started) * 1000)

    def persist(self):
        if self.store.state_file:
            with self._persist_lock:
                self.store.save()


def make_servers(app, host="127.0.0.1", router_port=0, api_port=0, tls_cert=None, tls_key=None):
    router = ThreadedServer((host, router_port), RouterHandler, app, quiet=app.quiet)
    ctx = None
    if tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls_cert, tls_key)
    api = ThreadedServer((host, api_port), ApiHandler, app, ssl_context=ctx, quiet=app.quiet)
    app.router_port = router.port
    app.api_port = api.port
    return router, api
