"""Test-only EHR keys and a real JWKS server, all created in the test run.

- :class:`SigningKey` — a fresh EC (P-256 / P-384) or RSA (2048) key pair with a ``kid``, that mints
  CDS Hooks JWTs (:meth:`SigningKey.token`) and publishes its public half as a JWK.
- :class:`JwksServer` — ``http.server`` in a thread on 127.0.0.1 serving one JWKS per path; keys can be
  replaced at any time (rotation), a path can be made to fail, and every GET is counted per path.
- :func:`unsigned_token` (``alg: none``) and :func:`hmac_token` (HS256 — e.g. "signed" with the
  issuer's *public* key, the algorithm-confusion attack) for the rejection tests.

Nothing here is a secret: the keys live for one test session.
"""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


class SigningKey:
    """A key pair for one algorithm. ``jwk(pin_alg=True)`` is the public JWK as a JWKS publishes it."""

    def __init__(self, alg: str, kid: str | None = None):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        if alg in _CURVES:
            self.private_key = ec.generate_private_key(_CURVES[alg]())
        elif alg.startswith(("RS", "PS")):
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"no key type for {alg}")

    def jwk(self, pin_alg: bool = True) -> dict:
        public = self.private_key.public_key()
        cls = ECAlgorithm if isinstance(public, ec.EllipticCurvePublicKey) else RSAAlgorithm
        data = json.loads(cls.to_jwk(public))
        data.update(kid=self.kid, use="sig")
        if pin_alg:
            data["alg"] = self.alg
        return data

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, claims: dict, *, alg: str | None = None, kid: str | None = None, **header: Any) -> str:
        """A JWT over ``claims`` signed with this key. ``alg``/``kid`` override the header values
        (e.g. ``alg="PS384"`` with an RSA key); further keyword arguments become header fields
        (``jku=...``); a header value of None drops that field."""
        headers = {"kid": self.kid if kid is None else kid, "typ": "JWT", **header}
        headers = {k: v for k, v in headers.items() if v is not None}
        return jwt.encode(claims, self.private_key, algorithm=alg or self.alg, headers=headers)


def claims(iss: str, aud, /, *, lifetime: int = 300, now: float | None = None, **overrides: Any) -> dict:
    """CDS Hooks JWT claims: iss, aud, exp = now + lifetime, iat = now, a fresh jti; ``overrides``
    replace (or, with None, remove) any of them."""
    now = time.time() if now is None else now
    out = {"iss": iss, "aud": aud, "exp": int(now + lifetime), "iat": int(now), "jti": uuid.uuid4().hex}
    out.update(overrides)
    return {k: v for k, v in out.items() if v is not None}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned_token(claims_: dict, kid: str) -> str:
    """``alg: none`` — header and payload, empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(claims_)}."


def hmac_token(claims_: dict, secret: bytes, kid: str, alg: str = "HS256") -> str:
    """An HMAC "signature" with ``secret``, computed by hand (PyJWT refuses PEM-looking secrets,
    which is exactly what the algorithm-confusion attack uses)."""
    import hashlib
    import hmac

    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{_b64({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{_b64(claims_)}"
    sig = hmac.new(secret, signing_input.encode(), digest).digest()
    return signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


class JwksServer:
    """A JWKS server on 127.0.0.1: ``publish(path, keys)``, ``fail(path, status)``, ``hits(path)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[str, tuple[int, bytes]] = {}
        self._hits: dict[str, int] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content --------------------------------------------------------------------------------

    def publish(self, path: str, keys: list[SigningKey] | dict, pin_alg: bool = True) -> str:
        """Serve a JWKS of ``keys`` (or a raw JSON document) at ``path``; returns its URL."""
        doc = keys if isinstance(keys, dict) else {"keys": [k.jwk(pin_alg) for k in keys]}
        with self._lock:
            self._docs[path] = (200, json.dumps(doc).encode())
        return self.url(path)

    def fail(self, path: str, status: int = 500) -> str:
        with self._lock:
            self._docs[path] = (status, b'{"error": "down"}')
        return self.url(path)

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(path, 0)

    def url(self, path: str) -> str:
        assert self._httpd is not None, "JwksServer not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{path.lstrip('/')}"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "JwksServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server naming
                path = self.path.lstrip("/").split("?")[0]
                with owner._lock:
                    owner._hits[path] = owner._hits.get(path, 0) + 1
                    status, body = owner._docs.get(path, (404, b'{"error": "no such JWKS"}'))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "JwksServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
