import time
import unittest

from .standin_harness import StandIn, StandInTestCase, diagnostics


class LoginTest(StandInTestCase):
    def test_login_returns_jwt_and_exp(self):
        status, body = self.c.login()
        self.assertEqual(status, 200)
        self.assertEqual(len(body["token"].split(".")), 3)
        self.assertGreater(body["exp"], time.time())

    def test_username_is_case_insensitive(self):
        self.assertEqual(self.c.login("ADMIN", "admin123")[0], 200)

    def test_bad_credentials_401_empty_body(self):
        status, body, _ = self.c.request("POST", "login/", {"username": "Admin", "password": "x"},
                                         token=False)
        self.assertEqual((status, body), (401, None))

    def test_bad_payload_400(self):
        status, body, _ = self.c.request("POST", "login/", {"username": "Admin"}, token=False)
        self.assertEqual((status, body), (400, None))
        status, body, _ = self.c.request("POST", "login/", raw="{nope", token=False)
        self.assertEqual(status, 400)
        self.assertEqual(body["resourceType"], "OperationOutcome")

    def test_missing_token_401(self):
        status, body, resp = self.c.request("GET", "Location/", token=False)
        self.assertEqual(status, 401)
        self.assertEqual(diagnostics(body), "Authentication credentials were not provided.")
        self.assertIn("Bearer", resp.getheader("WWW-Authenticate"))

    def test_tampered_token_401(self):
        bad = self.c.token[:-3] + ("AAA" if not self.c.token.endswith("AAA") else "BBB")
        status, body, _ = self.c.request("GET", "Location/", token=bad)
        self.assertEqual(status, 401)
        self.assertEqual(diagnostics(body), "Error decoding signature")

    def test_expire_tokens_now_then_relogin(self):
        self.c.faults({"kind": "expire_tokens", "now": True})
        status, body, _ = self.c.request("GET", "Location/")
        self.assertEqual(status, 401)
        self.assertEqual(diagnostics(body), "Signature has expired")
        self.assertEqual(self.c.login()[0], 200)
        self.assertEqual(self.c.request("GET", "Location/")[0], 200)

    def test_stats_count_logins(self):
        self.c.login()
        self.c.login("Admin", "wrong")
        st = self.c.stats()
        self.assertEqual(st["logins"], 2)          # setUp + here
        self.assertEqual(st["login_failures"], 1)


class TokenTtlTest(unittest.TestCase):
    def test_token_expires_after_ttl(self):
        srv = StandIn("--token-ttl", "1", "--user", "sync", "--password", "s3cret")
        try:
            c = srv.client()
            self.assertEqual(c.login()[0], 401)
            status, body = c.login("sync", "s3cret")
            self.assertEqual(status, 200)
            self.assertEqual(c.request("GET", "Location/")[0], 200)
            time.sleep(2.1)
            status, body, _ = c.request("GET", "Location/")
            self.assertEqual(status, 401)
            self.assertEqual(diagnostics(body), "Signature has expired")
            c.close()
        finally:
            srv.stop()
