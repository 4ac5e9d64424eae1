"""Shared helpers for the MFL stand-in / data tool tests (stdlib only)."""
import http.client
import json
import os
import sys
import time
import unittest
from urllib.parse import urlsplit

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DATA_TOOLS = os.path.join(REPO, "testbed", "data_tools")
MFL = os.path.join(REPO, "testbed", "mfl")
for p in (DATA_TOOLS, MFL):
    if p not in sys.path:
        sys.path.insert(0, p)

SHARED_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
KENYA_CSV = os.path.join(SHARED_DATA, "kenya-mfl", "mfl_2014-05-12.csv")


def require_kenya_csv(test):
    if not os.path.exists(KENYA_CSV):
        raise unittest.SkipTest("Kenya MFL CSV not found at %s (shared data lives in "
                                "../shared/data relative to the repo root)" % KENYA_CSV)


def request(url, method="GET", body=None, headers=None, timeout=30):
    """One HTTP request on a fresh connection -> (status, headers dict, body bytes)."""
    sp = urlsplit(url)
    conn = http.client.HTTPConnection(sp.hostname, sp.port, timeout=timeout)
    try:
        data = None
        h = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        path = sp.path + ("?" + sp.query if sp.query else "")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get_json(url, **kw):
    status, headers, body = request(url, **kw)
    return status, headers, json.loads(body) if body else None


class StandinCase(unittest.TestCase):
    """Starts an in-process stand-in with synthetic data per test class."""
    synthetic = 300
    same_instant_every = 1
    config_kwargs = {}

    @classmethod
    def setUpClass(cls):
        import mfl_standin
        from mfl_store import Store
        store = Store()
        mfl_standin.load_synthetic(store, cls.synthetic, seed=7,
                                   same_instant_every=cls.same_instant_every)
        cfg = mfl_standin.Config(**cls.config_kwargs)
        cls.server, cls.thread = mfl_standin.start("127.0.0.1", 0, store, cfg)
        cls.root = "http://127.0.0.1:%d" % cls.server.server_address[1]
        cls.base = cls.root + cfg.base_path

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.thread.join(5)

    def setUp(self):
        request(self.root + "/$testbed/faults", "DELETE")

    def facility_ids(self):
        return sorted(rid for (t, rid), v in self.server.store.current.items()
                      if t == "Location" and v.facility and not v.deleted)

    def faults(self, *faults):
        status, _, body = get_json(self.root + "/$testbed/faults", method="POST", body=list(faults))
        self.assertEqual(status, 200, body)
        return body

    def walk(self, url, max_pages=10000):
        """Follow next links; returns the list of page bundles."""
        pages = []
        while url and len(pages) < max_pages:
            status, _, b = get_json(url)
            self.assertEqual(status, 200, b)
            pages.append(b)
            url = next((link["url"] for link in b.get("link", [])
                        if link["relation"] == "next"), None)
        return pages


def wait_for_file(path, timeout=30, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path) as f:
                s = f.read().strip()
            if s:
                return s
        if proc is not None and proc.poll() is not None:
            raise AssertionError("process exited early with %s" % proc.returncode)
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % path)
