"""EHR authentication: the CDS Hooks 2.0 JWT on every discovery, service and feedback call.

The EHR signs a short-lived JWT with its private key and sends it as ``Authorization: Bearer <JWT>``
(CDS Hooks 2.0 "Trusting CDS Clients"). We accept it only if all of this holds, checked in this order
so that the cheap, attacker-independent checks come first and the ``jti`` is burnt only for a token
that is otherwise valid:

1. the header names an allowed algorithm — ES384, RS384 (recommended by the spec), ES256, RS256 —
   never ``none`` and never HMAC (an HMAC "signed" with our *public* key is the classic confusion
   attack), and a ``kid``;
2. ``iss`` is a configured trusted issuer, and ``jku`` (if sent) is allow-listed or pinned for that
   issuer;
3. the key chosen by ``kid`` from that issuer's JWKS (URL, file or inline; cached, one rate-limited
   refresh on an unknown ``kid`` for key rotation; an unfetchable JWKS fails closed) matches the
   algorithm (EC curve, RSA ≥ 2048 bits, the JWK's own ``alg``) and verifies the signature. A
   *pinned* ``jku`` names its keys in the configuration (file or inline) and is never fetched: an
   EHR that always sends a ``jku`` (the CDS Hooks sandbox) can be trusted on a machine that cannot
   reach it;
4. ``aud`` is the exact URL called; ``exp`` has not passed and is at most an hour ahead; ``iat`` is
   not in the future (both with 60 s clock skew); ``tenant`` matches when the issuer has one;
5. ``jti`` has not been seen before — remembered in the shared database for the token's lifetime,
   so a replay is refused by every worker and every replica.

Any failure is a 401 with the same OperationOutcome for every reason (``REFUSED``); the reason goes to
the log, never the token or any part of it. Configuration (``TRAPPA_TRUSTED_ISSUERS``) is described in ``docs/security.md``.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import jwt
import requests
from flask import Response, g
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_service.web.config import Settings
from cds_service.protocol.errors import outcome_response, storage_unavailable_response
from cds_service.web.logs import safe
from cds_service.web.metrics import Metrics
from cds_service.web.storage import StorageUnavailable

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
_EC_CURVE = {"ES256": "P-256", "ES384": "P-384"}
CLOCK_SKEW_S = 60  # tolerated clock difference between the EHR and us, for iat / exp / nbf
MAX_LIFETIME_S = 3600  # CDS Hooks notes: remember a jti for the token's lifetime, "at most an hour"
MAX_TOKEN_CHARS = 16 * 1024
MAX_JTI_CHARS = 255
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048


class AuthConfigError(ValueError):
    """TRAPPA_TRUSTED_ISSUERS is malformed: the service refuses to start rather than guess."""


class AuthFailure(Exception):
    """The token is not acceptable. ``reason`` is for the log only: it never contains the token.
    ``code`` is one of a few words (``REFUSAL_CODES``) for the refusals counter (metrics.py)."""

    def __init__(self, reason: str, code: str = "other"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


#: What a refusal counts as in ``trappa_auth_refusals_total{reason}``: few values, none from the token.
REFUSAL_CODES = ("missing", "not-bearer", "too-long", "malformed", "algorithm", "kid", "issuer", "jku",
                 "jwks-unavailable", "unknown-kid", "key", "signature", "audience", "expiry", "expired",
                 "issued-at", "not-before", "jti", "tenant", "replay", "other")


class JwksUnavailable(Exception):
    """The issuer's JWKS could not be had (network, HTTP status, not a JWKS): fail closed."""


# ---------------------------------------------------------------------------------------------------
# Configuration: trusted issuers


@dataclass(frozen=True)
class PinnedJwks:
    """The keys configured for one ``jku`` URL: a local file or an inline JWKS, never fetched."""

    jwks_file: str | None = None
    jwks: dict | None = None


@dataclass(frozen=True)
class TrustedIssuer:
    """One EHR we trust: where its public keys are, which ``jku`` it may send, its tenant."""

    iss: str
    jwks_url: str | None = None
    jwks_file: str | None = None
    jwks: dict | None = None  # inline JWKS (e.g. a test issuer in an environment variable)
    jku: frozenset[str] = frozenset()
    tenant: str | None = None
    pinned_jku: Mapping[str, PinnedJwks] = field(default_factory=dict)  # jku URL -> its keys, not fetched

    @property
    def default_source(self) -> str | None:
        """The keys for a token without ``jku``; None when the issuer has pinned ``jku`` keys only."""
        if self.jwks_url:
            return self.jwks_url
        if self.jwks_file:
            return "file:" + self.jwks_file
        if self.jwks is not None:
            return "inline:" + self.iss
        return None

    @property
    def allowed_jku(self) -> frozenset[str]:
        """Sending the configured JWKS URL as ``jku`` is always fine; other URLs must be listed or
        pinned."""
        return self.jku | set(self.pinned_jku) | ({self.jwks_url} if self.jwks_url else set())


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_key_url(url: Any, what: str) -> str:
    """A JWKS URL must be https; plain http only on loopback (a local key server, tests)."""
    if not isinstance(url, str) or not url:
        raise AuthConfigError(f"{what} must be a non-empty string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise AuthConfigError(f"{what} is not a valid URL: {url!r}") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password:
        raise AuthConfigError(f"{what} must name a host and carry no credentials: {url!r}")
    if scheme == "https" or (scheme == "http" and _is_loopback_host(host)):
        return url
    raise AuthConfigError(f"{what} must be an https URL (http only on loopback): {url!r}")


def parse_trusted_issuers(text: str, base_dir: Path | None = None) -> dict[str, TrustedIssuer]:
    """Parse ``TRAPPA_TRUSTED_ISSUERS``: a JSON list of issuer objects, or the path of a file holding one.

    Each object: ``iss`` (required), at most one of ``jwks_url`` / ``jwks_file`` / ``jwks`` (inline),
    optional ``jku`` (list of further allowed JWKS URLs, fetched), optional ``pinned_jku`` (an object
    from ``jku`` URL to ``{"jwks_file": ...}`` or ``{"jwks": {...}}``: the keys for that ``jku``,
    never fetched), optional ``tenant``; at least one key source (the three, or ``pinned_jku``). A
    relative ``jwks_file`` is relative to the issuers file (or the working directory for inline JSON).
    """
    text = (text or "").strip()
    if not text:
        return {}
    if text[0] in "[{":
        source = "TRAPPA_TRUSTED_ISSUERS"
        base = base_dir or Path.cwd()
    else:
        path = Path(text)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthConfigError(f"TRAPPA_TRUSTED_ISSUERS: cannot read {path}: {type(exc).__name__}") from None
        source = str(path)
        base = path.resolve().parent
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AuthConfigError(f"{source}: not valid JSON ({exc})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise AuthConfigError(f"{source}: must be a JSON list of issuer objects")
    issuers: dict[str, TrustedIssuer] = {}
    for i, item in enumerate(data):
        where = f"{source}[{i}]"
        if not isinstance(item, dict):
            raise AuthConfigError(f"{where}: must be an object")
        unknown = set(item) - {"iss", "jwks_url", "jwks_file", "jwks", "jku", "pinned_jku", "tenant"}
        if unknown:  # a typo ("jwks-url") must not silently leave an issuer without keys
            raise AuthConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
        iss = item.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthConfigError(f"{where}.iss must be a non-empty string")
        if iss in issuers:
            raise AuthConfigError(f"{where}: issuer {iss!r} configured twice")
        sources = [k for k in ("jwks_url", "jwks_file", "jwks") if item.get(k) is not None]
        pinned = _parse_pinned_jku(item.get("pinned_jku"), base, f"{where}.pinned_jku")
        if len(sources) > 1 or not (sources or pinned):
            raise AuthConfigError(
                f"{where}: give exactly one of jwks_url, jwks_file, jwks (or only pinned_jku)"
            )
        jwks_url = _check_key_url(item["jwks_url"], f"{where}.jwks_url") if "jwks_url" in sources else None
        jwks_file = None
        if "jwks_file" in sources:
            jwks_file = _jwks_file_path(item["jwks_file"], base, f"{where}.jwks_file")
        inline = None
        if "jwks" in sources:
            inline = _inline_jwks(item["jwks"], f"{where}.jwks")
        jku = item.get("jku", [])
        if isinstance(jku, str):
            jku = [jku]
        if not isinstance(jku, list):
            raise AuthConfigError(f"{where}.jku must be a list of URLs")
        jku_set = frozenset(_check_key_url(u, f"{where}.jku") for u in jku)
        # A URL both fetched and pinned would leave open which keys count: refuse to guess.
        both = (jku_set | ({jwks_url} if jwks_url else set())) & set(pinned)
        if both:
            raise AuthConfigError(f"{where}: {sorted(both)} both fetched (jwks_url/jku) and pinned (pinned_jku)")
        tenant = item.get("tenant")
        if tenant is not None and (not isinstance(tenant, str) or not tenant):
            raise AuthConfigError(f"{where}.tenant must be a non-empty string")
        issuers[iss] = TrustedIssuer(iss, jwks_url, jwks_file, inline, jku_set, tenant, pinned)
    return issuers


def _jwks_file_path(value: Any, base: Path, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise AuthConfigError(f"{what} must be a non-empty string")
    return str((base / value).resolve())


def _inline_jwks(value: Any, what: str) -> dict:
    if not isinstance(value, dict) or not parse_jwks(value):
        raise AuthConfigError(f"{what} must be a JWKS object with at least one usable key")
    return value


def _parse_pinned_jku(value: Any, base: Path, where: str) -> dict[str, PinnedJwks]:
    """``pinned_jku``: ``{jku URL: {"jwks_file": path} | {"jwks": JWKS}}``. The URL is what the token's
    ``jku`` header must equal exactly (same https rule as a fetched one, though it is never fetched)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise AuthConfigError(f"{where} must be an object from jku URL to {{jwks_file}} or {{jwks}}")
    pinned: dict[str, PinnedJwks] = {}
    for url, spec in value.items():
        what = f"{where}[{url!r}]"
        _check_key_url(url, what)
        if not isinstance(spec, dict) or set(spec) - {"jwks_file", "jwks"} or len(spec) != 1:
            raise AuthConfigError(f"{what} must be an object with exactly one of jwks_file, jwks")
        if "jwks_file" in spec:
            pinned[url] = PinnedJwks(jwks_file=_jwks_file_path(spec["jwks_file"], base, f"{what}.jwks_file"))
        else:
            pinned[url] = PinnedJwks(jwks=_inline_jwks(spec["jwks"], f"{what}.jwks"))
    return pinned


# ---------------------------------------------------------------------------------------------------
# JWKS: parsing, fetching, caching


def parse_jwks(data: Any) -> dict[str, dict]:
    """Signature keys of a JWKS by ``kid``. Skipped: keys without a string kid, symmetric keys
    (``oct``: an HMAC secret has no place in a public key set), keys marked for encryption; the
    first key wins when a kid repeats."""
    keys = data.get("keys") if isinstance(data, dict) else None
    out: dict[str, dict] = {}
    if not isinstance(keys, list):
        return out
    for key in keys:
        if not isinstance(key, dict):
            continue
        kid = key.get("kid")
        if not isinstance(kid, str) or not kid or kid in out:
            continue
        if key.get("kty") not in ("EC", "RSA"):
            continue
        if key.get("use") not in (None, "sig"):
            continue
        out[kid] = key
    return out


class JwksSource:
    """One JWKS (a URL, a file, or inline), cached for ``ttl_s``.

    ``key(kid)`` answers from the cache while it is fresh. An unknown kid forces one reload, at most
    once per ``refresh_interval_s`` (key rotation without letting random kids hammer the issuer).
    A failed load is not retried for ``refresh_interval_s`` either, and while the cache is not fresh
    every lookup fails: closed, never falling back to stale keys.
    """

    def __init__(self, name: str, loader: Callable[[], Any], ttl_s: float, refresh_interval_s: float):
        self.name = name
        self._loader = loader
        self._ttl_s = ttl_s
        self._refresh_interval_s = refresh_interval_s
        self._lock = threading.Lock()
        self._keys: dict[str, dict] | None = None
        self._loaded_at = -math.inf
        self._failed_at = -math.inf
        self._forced_at = -math.inf
        self.loads = 0  # successful and failed attempts, for tests

    def _load(self, now: float) -> None:
        self.loads += 1
        try:
            keys = parse_jwks(self._loader())
        except JwksUnavailable:
            self._keys, self._failed_at = None, now
            raise
        except Exception as exc:  # a loader bug or odd data: still closed, never a 500
            self._keys, self._failed_at = None, now
            raise JwksUnavailable(type(exc).__name__) from None
        self._keys, self._loaded_at = keys, now

    def key(self, kid: str) -> dict | None:
        with self._lock:
            now = time.monotonic()
            fresh = self._keys is not None and now - self._loaded_at < self._ttl_s
            loaded_now = False
            if not fresh:
                if now - self._failed_at < self._refresh_interval_s:
                    raise JwksUnavailable("recent fetch failed; not retrying yet")
                self._load(now)
                loaded_now = True
            assert self._keys is not None
            jwk = self._keys.get(kid)
            if jwk is None and not loaded_now and now - self._forced_at >= self._refresh_interval_s:
                self._forced_at = now
                log.info("JWKS %s: unknown kid, refreshing once (key rotation?)", self.name)
                self._load(now)
                jwk = self._keys.get(kid) if self._keys is not None else None
            return jwk


def fetch_jwks_url(url: str, timeout_s: float, ca_bundle: str = "") -> Any:
    """GET a JWKS: bounded in time and size, no redirects, no proxies or credentials from the
    environment; ``ca_bundle`` a PEM file of CAs to trust instead of the system's. Raises
    JwksUnavailable with a short reason."""
    deadline = time.monotonic() + timeout_s
    session = requests.Session()
    session.trust_env = False
    if ca_bundle:
        session.verify = ca_bundle
    try:
        with session.get(
            url,
            timeout=(timeout_s, timeout_s),
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/json, application/jwk-set+json"},
        ) as resp:
            if resp.status_code != 200:
                raise JwksUnavailable(f"HTTP {resp.status_code}")
            body = bytearray()
            for chunk in resp.iter_content(16 * 1024):
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise JwksUnavailable("JWKS larger than allowed")
                if time.monotonic() > deadline:
                    raise JwksUnavailable("timed out")
    except requests.Timeout:
        raise JwksUnavailable("timed out") from None
    except requests.RequestException as exc:
        raise JwksUnavailable(f"not reachable ({type(exc).__name__})") from None
    finally:
        session.close()
    try:
        return json.loads(bytes(body))
    except ValueError:
        raise JwksUnavailable("not JSON") from None


def _read_jwks_file(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JwksUnavailable(f"cannot read JWKS file ({type(exc).__name__})") from None


# ---------------------------------------------------------------------------------------------------
# Verification


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any, limit: int = 120) -> str:
    """A claim value for a log line: repr'd, escaped and cut short (logs.safe)."""
    return safe(repr(value), limit)


def _public_key(jwk_data: dict, alg: str):
    """The verification key for ``alg`` from a JWK, or AuthFailure if the key does not fit it."""
    if isinstance(jwk_data.get("alg"), str) and jwk_data["alg"] != alg:
        raise AuthFailure(f"key is for {jwk_data['alg']}, token says {alg}", "key")
    try:
        if alg.startswith("ES"):
            if jwk_data.get("kty") != "EC" or jwk_data.get("crv") != _EC_CURVE[alg]:
                raise AuthFailure(f"key type/curve does not fit {alg}", "key")
            return ECAlgorithm.from_jwk(jwk_data)
        if jwk_data.get("kty") != "RSA":
            raise AuthFailure(f"key type does not fit {alg}", "key")
        key = RSAAlgorithm.from_jwk(jwk_data)
    except AuthFailure:
        raise
    except Exception as exc:
        raise AuthFailure(f"key in JWKS is unusable ({type(exc).__name__})", "key") from None
    if key.key_size < MIN_RSA_BITS:
        raise AuthFailure(f"RSA key shorter than {MIN_RSA_BITS} bits", "key")
    return key


#: The body of every 401: the same OperationOutcome whatever the reason (the reason is in the log only).
REFUSED = "EHR authentication failed: a valid CDS Hooks JWT is required (Authorization: Bearer …)"


def refusal() -> Response:
    """The answer to every refused token: the same for every reason (the reason is in the log)."""
    response = outcome_response(401, "login", REFUSED)
    response.headers["WWW-Authenticate"] = 'Bearer realm="trappa"'
    return response


class Authenticator:
    """Checks the EHR's JWT on every /cds-services call (see the module docstring)."""

    def __init__(self, settings: Settings, store, issuers: dict[str, TrustedIssuer] | None = None):
        self.settings = settings
        self.store = store
        self.issuers = issuers or {}
        self._sources: dict[str, JwksSource] = {}
        self._sources_lock = threading.Lock()
        self.metrics = Metrics(None)  # create_app sets the app's: refusals are counted by reason

    @classmethod
    def from_settings(cls, settings: Settings, store) -> "Authenticator":
        """Build from settings. Raises AuthConfigError on malformed issuer configuration when
        authentication is required: a half-understood trust configuration must not serve."""
        if not settings.auth_required:
            # Say it at start-up whatever the mode: TRAPPA_AUTH_REQUIRED=0 outside development mode
            # must not pass unnoticed.
            log.warning("EHR AUTHENTICATION IS OFF: /cds-services calls are accepted without a JWT")
            return cls(settings, store, {})
        issuers = parse_trusted_issuers(settings.trusted_issuers)
        if not issuers:
            log.error(
                "EHR authentication is required but no trusted issuers are configured "
                "(TRAPPA_TRUSTED_ISSUERS): every /cds-services call will be refused with 401"
            )
        else:
            log.info("EHR authentication required; trusted issuers: %s", ", ".join(sorted(issuers)))
        if not settings.public_base_url:
            log.warning(
                "TRAPPA_PUBLIC_BASE_URL is not set: the JWT audience is checked against the URL as "
                "this process sees it (Host header). Set it to the URL the EHR calls."
            )
        return cls(settings, store, issuers)

    # -- public --------------------------------------------------------------------------------

    def check(self, request, spend_jti: bool = True) -> Response | None:
        """None when the request may proceed; else the response to send (401, or 503 when the
        replay store cannot be reached). With ``spend_jti`` off (feedback) the token's jti is checked
        but not stored: ``flask.g.trappa_jti`` then holds it for the view, which stores it together
        with what the call stores (storage.Store.record_feedback), so a call whose write fails has not
        spent its token."""
        if not self.settings.auth_required:
            return None
        where = f"{safe(request.method, 20)} {safe(request.path)}"
        try:
            token = self._bearer_token(request.headers.get("Authorization"))
            claims = self.verify(token, self.expected_audience(request), spend_jti=spend_jti)
        except AuthFailure as failure:
            log.warning("EHR authentication refused for %s: %s", where, failure.reason)
            self.metrics.refused(failure.code)
            g.trappa_refusal = failure.code  # the audit trail records the refusal (app.py)
            return refusal()
        except _ReplayStoreDown as exc:
            log.error("EHR authentication impossible for %s: jti store unavailable (%s)", where, exc)
            return storage_unavailable_response()
        if not spend_jti:
            g.trappa_jti = self.jti_key(claims["iss"], claims)
        # Who called, for the audit trail (storage only, never the log): CDS Hooks' sub is the client id.
        g.trappa_caller = {"iss": claims.get("iss"), "sub": claims.get("sub"), "tenant": claims.get("tenant")}
        log.debug("EHR authenticated for %s: iss=%s", where, _short(claims.get("iss")))
        return None

    def expected_audience(self, request) -> str:
        """The exact URL the EHR called: the configured public base URL plus the path (behind a
        proxy), else the URL as this process sees it, without the query string."""
        if self.settings.public_base_url:
            return self.settings.public_base_url + request.path
        return request.base_url

    def verify(self, token: str, audience: str, now: float | None = None, spend_jti: bool = True) -> dict:
        """The verified claims of ``token``; AuthFailure naming the first problem otherwise. The jti is
        remembered (spent) unless ``spend_jti`` is off; a replay is refused either way."""
        now = time.time() if now is None else now
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthFailure("token too long", "too-long")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"not a JWT ({type(exc).__name__})", "malformed") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthFailure(f"algorithm {_short(alg)} not allowed", "algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthFailure("no kid in the JWT header", "kid")
        iss = unverified.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthFailure(f"issuer {_short(iss)} is not trusted", "issuer")
        jku = header.get("jku")
        if jku is not None and (not isinstance(jku, str) or jku not in issuer.allowed_jku):
            raise AuthFailure(f"jku {_short(jku)} is not allowed for issuer {_short(iss)}", "jku")
        if jku is None and issuer.default_source is None:
            raise AuthFailure(f"no jku, and issuer {_short(iss)} has keys only for pinned jku", "jku")
        source = self._source(issuer, jku)
        try:
            jwk_data = source.key(kid)
        except JwksUnavailable as exc:
            raise AuthFailure(f"JWKS of issuer {_short(iss)} unavailable ({exc}); failing closed", "jwks-unavailable") from None
        if jwk_data is None:
            raise AuthFailure(f"kid {_short(kid)} not in the JWKS of issuer {_short(iss)}", "unknown-kid")
        key = _public_key(jwk_data, alg)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                options={
                    "verify_signature": True,
                    "verify_exp": False,  # the claim checks below are ours, with one skew
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "require": [],
                },
            )
        except jwt.InvalidSignatureError:
            raise AuthFailure("bad signature", "signature") from None
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"token rejected ({type(exc).__name__})", "malformed") from None
        self._check_claims(claims, issuer, audience, now)
        self._remember(issuer.iss, claims, spend_jti)
        return claims

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _bearer_token(value: str | None) -> str:
        if not value:
            raise AuthFailure("no Authorization header", "missing")
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthFailure("Authorization is not a Bearer token", "not-bearer")
        return token

    @staticmethod
    def _check_claims(claims: dict, issuer: TrustedIssuer, audience: str, now: float) -> None:
        if claims.get("iss") != issuer.iss:
            raise AuthFailure("issuer changed between header check and verification", "issuer")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in auds:
            raise AuthFailure(f"aud {_short(aud)} is not this endpoint {_short(audience)}", "audience")
        exp = claims.get("exp")
        if not _number(exp):
            raise AuthFailure("exp missing or not a number", "expiry")
        if now > exp + CLOCK_SKEW_S:
            raise AuthFailure(f"expired {int(now - exp)} s ago", "expired")
        if exp > now + MAX_LIFETIME_S + CLOCK_SKEW_S:
            raise AuthFailure(f"exp more than {MAX_LIFETIME_S} s ahead", "expiry")
        iat = claims.get("iat")
        if not _number(iat):
            raise AuthFailure("iat missing or not a number", "issued-at")
        if iat > now + CLOCK_SKEW_S:
            raise AuthFailure(f"iat {int(iat - now)} s in the future", "issued-at")
        nbf = claims.get("nbf")
        if nbf is not None and (not _number(nbf) or nbf > now + CLOCK_SKEW_S):
            raise AuthFailure("nbf in the future or not a number", "not-before")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise AuthFailure("jti missing, empty or too long", "jti")
        if issuer.tenant is not None and claims.get("tenant") != issuer.tenant:
            raise AuthFailure(f"tenant {_short(claims.get('tenant'))} is not {_short(issuer.tenant)}", "tenant")

    @staticmethod
    def jti_key(iss: str, claims: dict) -> tuple[str, float]:
        """The replay store's key of a verified token and until when it is kept."""
        return f"{iss}|{claims['jti']}", float(claims["exp"]) + CLOCK_SKEW_S

    def _remember(self, iss: str, claims: dict, spend: bool = True) -> None:
        key, expires = self.jti_key(iss, claims)
        try:
            first = self.store.remember_jti(key, expires) if spend else not self.store.jti_seen(key)
        except Exception as exc:
            raise _ReplayStoreDown(str(exc) if isinstance(exc, StorageUnavailable) else type(exc).__name__) from None
        if not first:
            raise AuthFailure(f"jti replayed (issuer {_short(iss)})", "replay")

    def _source(self, issuer: TrustedIssuer, jku: str | None) -> JwksSource:
        pinned = issuer.pinned_jku.get(jku) if jku else None
        # Pinned keys are one issuer's configuration: never shared with another issuer that may
        # fetch the same URL.
        name = f"pinned:{issuer.iss}|{jku}" if pinned else jku or issuer.default_source
        with self._sources_lock:
            source = self._sources.get(name)
            if source is None:
                if pinned is not None:
                    pinned_file, pinned_inline = pinned.jwks_file, pinned.jwks
                    if pinned_file:
                        loader = lambda: _read_jwks_file(pinned_file)  # noqa: E731
                    else:
                        loader = lambda: pinned_inline  # noqa: E731
                elif jku or issuer.jwks_url:
                    url = jku or issuer.jwks_url
                    timeout, ca_bundle = self.settings.jwks_timeout_s, self.settings.ca_bundle
                    loader = lambda: fetch_jwks_url(url, timeout, ca_bundle)  # noqa: E731
                elif issuer.jwks_file:
                    path = issuer.jwks_file
                    loader = lambda: _read_jwks_file(path)  # noqa: E731
                else:
                    inline = issuer.jwks
                    loader = lambda: inline  # noqa: E731
                source = JwksSource(
                    name,
                    loader,
                    ttl_s=self.settings.jwks_cache_ttl_s,
                    refresh_interval_s=self.settings.jwks_refresh_interval_s,
                )
                self._sources[name] = source
            return source


class _ReplayStoreDown(Exception):
    pass
