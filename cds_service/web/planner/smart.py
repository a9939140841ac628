"""SMART App Launch 2.0 (EHR launch) for the planner: the card's ``type: "smart"`` link, and the launch.

The card's SMART link is ``{type: "smart", url: <base>/planner/launch, appContext: <proposal id>}``: the
EHR launches the planner at that URL with ``iss`` (its FHIR server) and ``launch`` (its launch
context), and hands the appContext back in the token response — so the proposal id, like the absolute
link's, is the only thing of the card that travels, and no identity is in any URL.

``GET /planner/launch`` (this module, :func:`begin`):

1. ``iss`` must pass the FHIR servers' own guard (``protocol.fhir_client.check_fhir_server``): the
   allow-list TRAPPA_FHIR_ALLOWLIST (any server only in development mode), https, no forbidden
   address. An unknown ``iss`` is refused *before* any connection: 403 page.
2. Its ``.well-known/smart-configuration`` is read (no redirects, bounded size and time, through the
   same guard); it must name an ``authorization_endpoint`` and ``token_endpoint`` on https (http only
   where the FHIR guard allows it) and offer PKCE ``S256``.
3. The browser is sent to the authorization endpoint with ``response_type=code``, ``client_id``
   (TRAPPA_SMART_CLIENT_ID), ``redirect_uri`` (``<base>/planner/callback``), :data:`SCOPES`, a random
   ``state``, ``aud`` = ``iss`` and a PKCE S256 ``code_challenge``. The ``state`` and the
   ``code_verifier`` are kept server-side (``storage.planner_launch``, under the SHA-256 of the state,
   for :data:`LAUNCH_TTL_S`): the browser holds only the state.

The links are emitted only with TRAPPA_SMART_CLIENT_ID set (a client registered with the EHR): without
it an EHR would be offered a launch that cannot succeed.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode, urlsplit

import orjson
import requests

from cds_service.protocol.fhir_client import FhirServerNotAllowed, check_fhir_server

#: What the planner asks for, and why each: ``launch`` (the EHR's context: patient, appContext),
#: ``openid fhirUser`` (who saves: the CarePlan's author), read the patient's MedicationRequests
#: (``.rs``: the doses the proposal is bounded by), and create — only create (``.c``), never update or
#: delete — the CarePlan, the stepped MedicationRequest and the prescribing-restriction Flag.
SCOPES = ("launch openid fhirUser patient/MedicationRequest.rs patient/MedicationRequest.c "
          "patient/CarePlan.c patient/Flag.c")
LAUNCH_TTL_S = 600.0  # a login at the EHR takes seconds; a state older than this is refused
MAX_CONFIG_BYTES = 64 * 1024


class LaunchRefused(Exception):
    """A launch that cannot go on: ``status`` (400 bad request, 403 server not allowed, 502 the EHR's
    configuration unusable) and a message for the page (no token, no clinical detail)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def smart_link(base_url: str, token: str, label: str) -> dict:
    return {"label": label, "url": f"{base_url}/planner/launch", "type": "smart", "appContext": token}


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) of RFC 7636: 43 characters of 256 random bits."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


def new_state() -> str:
    return secrets.token_urlsafe(32)


def state_key(state: str) -> str:
    return hashlib.sha256(state.encode("ascii", "replace")).hexdigest()


def _endpoint(config: dict, name: str, settings) -> str:
    url = config.get(name)
    if not isinstance(url, str) or len(url) > 2000:
        raise LaunchRefused(502, f"the EHR's smart-configuration has no {name}")
    scheme = urlsplit(url).scheme.lower()
    if scheme != "https" and not (scheme == "http" and settings.fhir_allow_http):
        raise LaunchRefused(502, f"the EHR's {name} is not https")
    return url


def discover(iss: str, settings) -> dict:
    """The EHR's SMART configuration at ``iss``, checked; LaunchRefused otherwise."""
    try:
        base = check_fhir_server(iss, settings)
    except FhirServerNotAllowed as exc:
        raise LaunchRefused(403, f"iss: {exc}".replace("fhirServer", "the FHIR server")) from None
    session = requests.Session()
    session.trust_env = False  # no proxies or netrc credentials from the environment
    if settings.ca_bundle:
        session.verify = settings.ca_bundle
    try:
        with session.get(f"{base}/.well-known/smart-configuration", timeout=settings.fhir_timeout_s,
                         allow_redirects=False, stream=True, headers={"Accept": "application/json"}) as r:
            data = r.raw.read(MAX_CONFIG_BYTES + 1, decode_content=True)
            status = r.status_code
    except requests.RequestException:
        raise LaunchRefused(502, "the EHR's smart-configuration could not be read") from None
    finally:
        session.close()
    if status != 200 or len(data) > MAX_CONFIG_BYTES:
        raise LaunchRefused(502, "the EHR's smart-configuration could not be read")
    try:
        config = orjson.loads(data)
    except ValueError:
        raise LaunchRefused(502, "the EHR's smart-configuration is not JSON") from None
    if not isinstance(config, dict):
        raise LaunchRefused(502, "the EHR's smart-configuration is not a JSON object")
    if "S256" not in (config.get("code_challenge_methods_supported") or ()):
        raise LaunchRefused(502, "the EHR does not offer PKCE S256")
    token = _endpoint(config, "token_endpoint", settings)
    parts = urlsplit(token)
    try:  # the service itself calls the token endpoint: the same guard as a FHIR server (allow-list)
        check_fhir_server(f"{parts.scheme}://{parts.netloc}", settings)
    except FhirServerNotAllowed as exc:
        raise LaunchRefused(403, f"token_endpoint: {exc}".replace("fhirServer", "the server")) from None
    return {"iss": base, "authorize": _endpoint(config, "authorization_endpoint", settings), "token": token}


def authorize_url(found: dict, client_id: str, redirect_uri: str, launch: str, state: str, challenge: str) -> str:
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                       "launch": launch, "scope": SCOPES, "state": state, "aud": found["iss"],
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    sep = "&" if urlsplit(found["authorize"]).query else "?"
    return f"{found['authorize']}{sep}{query}"


# --- after the EHR's sign-in: the token, the session, the save ------------------------------------------

SESSION_TTL_S = 3600.0  # at most; never longer than the access token's own expires_in
SESSION_ID_LENGTH = 43  # secrets.token_urlsafe(32): unlike a proposal id's 32 hex characters


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_id_well_formed(sid: str | None) -> bool:
    return (isinstance(sid, str) and len(sid) == SESSION_ID_LENGTH
            and all(c.isascii() and (c.isalnum() or c in "-_") for c in sid))


def exchange_code(held: dict, client_id: str, code: str, settings) -> dict:
    """The token response for ``code`` (authorization code grant with the PKCE verifier kept at the
    launch), through authlib's OAuth 2.0 client; LaunchRefused when the EHR refuses it."""
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.common.errors import AuthlibBaseError

    client = OAuth2Session(client_id, redirect_uri=held["redirect"], code_challenge_method="S256")
    client.trust_env = False  # no proxies or netrc credentials from the environment
    if settings.ca_bundle:
        client.verify = settings.ca_bundle
    try:
        token = client.fetch_token(held["token"], grant_type="authorization_code", code=code,
                                   code_verifier=held["verifier"], timeout=settings.fhir_timeout_s,
                                   allow_redirects=False)
    except (AuthlibBaseError, requests.RequestException, ValueError):
        # Only the kind of failure goes on the page: the EHR's text may echo the code.
        raise LaunchRefused(403, "the EHR refused the authorization code (wrong, reused or expired code, "
                                 "or a PKCE verifier that does not match)") from None
    finally:
        client.close()
    if not isinstance(token.get("access_token"), str) or str(token.get("token_type", "")).lower() != "bearer":
        raise LaunchRefused(502, "the EHR's token response has no bearer access token")
    return dict(token)


def save_transaction(session: dict, bundle: dict, settings) -> dict:
    """POST the transaction to the session's FHIR server with its token; the transaction-response."""
    base = check_fhir_server(session["iss"], settings)  # the allow-list may have changed since the launch
    http = requests.Session()
    http.trust_env = False
    if settings.ca_bundle:
        http.verify = settings.ca_bundle
    try:
        r = http.post(base, data=orjson.dumps(bundle), timeout=settings.fhir_timeout_s * 3, allow_redirects=False,
                      headers={"Authorization": f"Bearer {session['access_token']}",
                               "Content-Type": "application/fhir+json", "Accept": "application/fhir+json"})
        status, text = r.status_code, r.content[:MAX_CONFIG_BYTES * 16]
    except requests.RequestException:
        raise LaunchRefused(502, "the EHR's FHIR server could not be reached") from None
    finally:
        http.close()
    if status in (401, 403):
        raise LaunchRefused(403, "the EHR's FHIR server refused the session's token (expired or without the scopes)")
    if status != 200:
        raise LaunchRefused(502, f"the EHR's FHIR server did not save the plan (HTTP {status})")
    try:
        answer = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise LaunchRefused(502, "the EHR's FHIR server answered with no transaction-response") from None
    return answer if isinstance(answer, dict) else {}
