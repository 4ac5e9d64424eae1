"""Minimal JWT (HS256) encode/verify with hmac + base64 (stdlib only)."""
import base64
import hashlib
import hmac
import json


class JWTError(Exception):
    pass


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


def encode(payload: dict, key: bytes) -> str:
    header = {"typ": "JWT", "alg": "HS256"}
    h = _b64e(json.dumps(header, separators=(",", ":")).encode())
    p = _b64e(json.dumps(payload, separators=(",", ":")).encode())
    signing = f"{h}.{p}".encode("ascii")
    sig = hmac.new(key, signing, hashlib.sha256).digest()
    return f"{h}.{p}.{_b64e(sig)}"


def decode(token: str, key: bytes) -> dict:
    """Verify the signature and return the payload; expiry is checked by the caller."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTError("Error decoding signature")
    h, p, s = parts
    try:
        header = json.loads(_b64d(h))
        payload = json.loads(_b64d(p))
        sig = _b64d(s)
    except Exception:  # noqa: BLE001 - any malformed token is the same error
        raise JWTError("Error decoding signature")
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise JWTError("Error decoding signature")
    expected = hmac.new(key, f"{h}.{p}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, sig):
        raise JWTError("Error decoding signature")
    if not isinstance(payload, dict):
        raise JWTError("Error decoding signature")
    return payload
