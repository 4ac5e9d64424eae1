"""docker/openhim/ (what compose runs) against the real openHIM core 8.5.0: openhim_setup.py
(a rerun is idempotent, a rotated client secret replaces the old one at the router, secrets come
from VAR or VAR_FILE and never reach the output, failures say which step) and pki.sh with
core.json's certificateManagement keys (the API and the HTTPS router serve the certificate
issued for the host name openhim-core, verified with the stack's CA).

Runs against the real openHIM named by MFLSYNC_OPENHIM_REAL_ENV (testbed/openhim-real's
DIR/openhim.env; the openhim_real_conformance fixture). Without it every test is skipped.
The root password is left as the fixture set it; each test uses its own user and clients.
"""
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SETUP = os.path.join(ROOT, "docker", "openhim", "openhim_setup.py")
sys.path.insert(0, os.path.join(ROOT, "testbed", "openhim-real"))
from openhim_api import Api, load_env, router_request  # noqa: E402

ENV_VAR = "MFLSYNC_OPENHIM_REAL_ENV"


def _env():
    path = os.environ.get(ENV_VAR)
    if not path or not os.path.isfile(path):
        return None
    return load_env(path)


@unittest.skipIf(_env() is None, "skipped: %s names no env file of a running real openHIM "
                 "(testbed/openhim-real/openhim-real.sh start DIR)" % ENV_VAR)
class OpenHimSetupTest(unittest.TestCase):
    PROBE = "/mflsync-setup-probe"

    @classmethod
    def setUpClass(cls):
        # Without a matching channel openHIM answers 404 whatever the credentials: a
        # private channel for role mflsync, routed to a closed port, tells 401 apart.
        env = _env()
        cls.channel = "setup probe %s" % secrets.token_hex(4)
        Api.from_env(env).add_channel(cls.channel, "^%s$" % cls.PROBE, "127.0.0.1", 1)

    def setUp(self):
        self.env = _env()
        self.tag = secrets.token_hex(4)
        self.user = "setup-%s@openhim.test" % self.tag
        self.client = "setup-client-%s" % self.tag

    def run_setup(self, secrets_env, *extra):
        cmd = [sys.executable, SETUP, "--api", self.env["OPENHIM_API_URL"],
               "--ca", self.env["OPENHIM_API_CA"], "--wait", "20",
               "--root-password-env", "T_ROOT", "--mediator-user", self.user,
               "--mediator-password-env", "T_MEDIATOR",
               "--client", "%s:mflsync:T_CLIENT" % self.client, *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("T_")}
        env.update(secrets_env)
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    def secrets(self, **over):
        out = {"T_ROOT": self.env["OPENHIM_ROOT_PASSWORD"], "T_MEDIATOR": secrets.token_hex(8),
               "T_CLIENT": secrets.token_hex(8)}
        out.update(over)
        return out

    def router_status(self, password):
        """The router's answer to the client with password: 401 when it does not
        authenticate (the channel's route itself fails: a closed port)."""
        env = {"OPENHIM_ROUTER_URL": self.env["OPENHIM_ROUTER_URL"],
               "C_ID": self.client, "C_PASSWORD": password}
        deadline = time.time() + 15  # a new channel is routed after openHIM's cache refresh
        while True:
            status, _, _ = router_request(env, "GET", self.PROBE, client="C")
            if status != 404 or time.time() > deadline:
                return status
            time.sleep(0.5)

    def test_creates_then_rerun_updates(self):
        s = self.secrets()
        first = self.run_setup(s)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertIn("user %s created" % self.user, first.stderr)
        self.assertIn("client %s created" % self.client, first.stderr)
        again = self.run_setup(s)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("user %s updated" % self.user, again.stderr)
        self.assertIn("client %s updated" % self.client, again.stderr)
        self.assertNotIn("root password set", again.stderr)
        self.assertNotIn(self.router_status(s["T_CLIENT"]), (401, 404))
        self.assertEqual(self.router_status("not-" + s["T_CLIENT"]), 401)

    def test_rotated_client_secret_replaces_the_old_one(self):
        old = self.secrets()
        self.assertEqual(self.run_setup(old).returncode, 0)
        new = dict(old, T_CLIENT=secrets.token_hex(8))
        rotated = self.run_setup(new)
        self.assertEqual(rotated.returncode, 0, rotated.stderr)
        self.assertNotIn(self.router_status(new["T_CLIENT"]), (401, 404))
        self.assertEqual(self.router_status(old["T_CLIENT"]), 401)

    def test_secret_from_file(self):
        s = self.secrets()
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write(s.pop("T_CLIENT") + "\n")
        try:
            done = self.run_setup(dict(s, T_CLIENT_FILE=f.name))
            self.assertEqual(done.returncode, 0, done.stderr)
            with open(f.name) as saved:
                password = saved.read().strip()
        finally:
            os.unlink(f.name)
        self.assertNotIn(self.router_status(password), (401, 404))

    def test_missing_and_ambiguous_secrets_are_usage_errors(self):
        s = self.secrets()
        del s["T_CLIENT"]
        missing = self.run_setup(s)
        self.assertEqual(missing.returncode, 2)
        self.assertIn("T_CLIENT (or T_CLIENT_FILE) is not set", missing.stderr)
        both = self.run_setup(self.secrets(T_CLIENT_FILE="/nonexistent"))
        self.assertEqual(both.returncode, 2)
        self.assertIn("both T_CLIENT and T_CLIENT_FILE", both.stderr)

    def test_control_character_in_a_secret_is_refused(self):
        done = self.run_setup(self.secrets(T_CLIENT="abc\r\nX-Injected: 1"))
        self.assertEqual(done.returncode, 2)
        self.assertIn("T_CLIENT holds a control character", done.stderr)
        self.assertNotIn("X-Injected", done.stderr + done.stdout)

    def test_wrong_root_secret_fails_without_printing_it(self):
        wrong = "wrong-" + secrets.token_hex(8)
        done = self.run_setup(self.secrets(T_ROOT=wrong), "--initial-root-password", wrong,
                              "--wait", "2")
        self.assertEqual(done.returncode, 1)
        self.assertIn("accepts neither the root secret nor the initial password", done.stderr)
        self.assertNotIn(wrong, done.stderr + done.stdout)


    def test_api_and_https_router_serve_the_stack_certificate(self):
        ca = self.env["OPENHIM_API_CA"]
        if not os.path.isfile(os.path.join(os.path.dirname(ca), "openhim-core.pem")):
            self.skipTest("skipped: the real openHIM was not started with --pki")
        context = ssl.create_default_context(cafile=ca)
        for key in ("OPENHIM_API_PORT", "OPENHIM_ROUTER_HTTPS_PORT"):
            # compose's services reach it as openhim-core: that name must verify
            with socket.create_connection(("127.0.0.1", int(self.env[key])), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="openhim-core") as tls:
                    subject = dict(x[0] for x in tls.getpeercert()["subject"])
                    self.assertEqual(subject["commonName"], "openhim-core", key)
        with socket.create_connection(("127.0.0.1", int(self.env["OPENHIM_API_PORT"])),
                                      timeout=10) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                context.wrap_socket(raw, server_hostname="not-openhim-core")


if __name__ == "__main__":
    unittest.main()
