"""Credentials the stand-ins check: Basic, schemes with a token (Bearer, JWT, Custom), and
JWT HS256 (hmac + base64) with the tokens a stand-in issues.

Each stand-in keeps its peer's quirks of *where* it looks (which scheme spellings, what a
refusal looks like); the decoding and the constant-time comparisons are here.
"""
import base64
import hashlib
import hmac
import json
import os
import threading
import time


def same(a, b):
    """Constant-time comparison of two strings (or bytes)."""
    a = a.encode("utf-8") if isinstance(a, str) else a
    b = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(a, b)


def split_scheme(header):
    """'Scheme credentials' -> ("scheme" in lower case, "credentials"); ("", "") when empty."""
    scheme, _, cred = (header or "").strip().partition(" ")
    return scheme.lower(), cred.strip()


def token_for(header, schemes):
    """The token of `Authorization: <scheme> <token>` when the scheme (any case) is one of
    `schemes` (lower case) and the header has exactly two parts, else None."""
    parts = (header or "").split()
    if len(parts) == 2 and parts[0].lower() in schemes:
        return parts[1]
    return None


def decode_basic(credentials, strict=False):
    """base64 "user:password" -> (user, password), or None when it does not decode.
    strict: refuse characters outside the base64 alphabet (else they are skipped)."""
    try:
        raw = base64.b64decode(credentials, validate=strict)
        user, _, password = raw.decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def basic_header(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


# --------------------------------------------------------------------------- JWT HS256
class JWTError(Exception):
    pass


def _b64e(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(payload, key):
    h = _b64e(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    p = _b64e(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(key, ("%s.%s" % (h, p)).encode("ascii"), hashlib.sha256).digest()
    return "%s.%s.%s" % (h, p, _b64e(sig))


def jwt_decode(token, key):
    """Verifies the signature and returns the payload (a dict); expiry is not checked here.
    Any defect is JWTError("Error decoding signature"), PyJWT's text."""
    bad = JWTError("Error decoding signature")
    parts = token.split(".")
    if len(parts) != 3:
        raise bad
    h, p, s = parts
    try:
        header = json.loads(_b64d(h))
        payload = json.loads(_b64d(p))
        sig = _b64d(s)
        signed = ("%s.%s" % (h, p)).encode("ascii")
    except (ValueError, UnicodeError):
        raise bad from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise bad
    if not hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest(), sig):
        raise bad
    if not isinstance(payload, dict):
        raise bad
    return payload


class Tokens:
    """JWTs a stand-in issues ({username, exp, origIat, jti}) and checks: signed with a
    random key of the process, numbered (jti), all revocable at once."""

    def __init__(self, ttl_seconds):
        self.ttl = float(ttl_seconds)
        self.key = os.urandom(32)
        self.lock = threading.Lock()
        self.counter = 0
        self.revoked_upto = 0

    def issue(self, username):
        """-> (token, exp)."""
        now = time.time()
        with self.lock:
            self.counter += 1
            jti = self.counter
        exp = int(now + self.ttl)
        payload = {"username": username, "exp": exp, "origIat": int(now), "jti": jti}
        return jwt_encode(payload, self.key), exp

    def revoke_all(self):
        with self.lock:
            self.revoked_upto = self.counter

    def verify(self, token):
        """-> the payload; JWTError "Error decoding signature" or "Signature has expired"."""
        payload = jwt_decode(token, self.key)
        try:
            exp = float(payload["exp"])
            jti = int(payload.get("jti", 0))
        except (KeyError, TypeError, ValueError):
            raise JWTError("Error decoding signature") from None
        if exp <= time.time() or jti <= self.revoked_upto:
            raise JWTError("Signature has expired")
        return payload
