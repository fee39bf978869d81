"""cfssl_issuer: a sceptic issuer adapter for a CFSSL CA, written in Python.

Built with componentize-py against sceptic's WIT v0.2 `issuer-plugin` world (see
README.md beside this file). sceptic does the SCEP protocol, the policy chain and
the storage; this plugin only forwards an authorised CSR to CFSSL's HTTP API and
returns the certificate CFSSL signed.

Every call runs in a fresh instance, after `init`: nothing is kept between calls.
CFSSL is reached through the host's `sceptic:net/http` interface, which allows
only the hosts the operator listed in this issuer's `allowed-hosts` setting and
bounds every request in time and size, so an unreachable or hung CFSSL ends in a
rejection within seconds, never in a hanging client.
"""

import binascii
import json
from urllib.parse import urlsplit

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config, http, log, types

# The settings this issuer reads. Any other key is refused by `init`: a typo must
# not pass silently. `allowed-hosts` belongs to the host, which enforces it; it is
# read here only to tell the operator at configuration time.
SETTINGS = ("url", "profile", "allowed-hosts")
ALLOWED_HOSTS = "allowed-hosts"

# CFSSL's API (cfssl serve): `info` returns the signing CA's certificate, `sign`
# signs a PEM CSR. Both answer {"success", "result", "errors", "messages"}.
INFO_PATH = "/api/v1/cfssl/info"
SIGN_PATH = "/api/v1/cfssl/sign"

# A reason reaches the client as failInfoText and the operator's audit log: long
# enough for CFSSL's message, short enough for a log line.
MAX_REASON_CHARS = 300

PEM_CERTIFICATE = ("-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----")


class Refused(Exception):
    """Why CFSSL gave no certificate, in words for the operator."""


def allowed_entries(text):
    """`allowed-hosts` as the host reads it: host:port entries, commas or spaces."""
    return {entry.lower() for entry in text.replace(",", " ").split()}


def read_settings():
    """(base url, profile or None) from the configuration, or Err with the reason."""
    unknown = sorted(set(config.keys()) - set(SETTINGS))
    if unknown:
        raise Err(f"unknown setting(s) {', '.join(unknown)}; this issuer reads {', '.join(SETTINGS)}")
    url = (config.get("url") or "").strip()
    if not url:
        raise Err("set url to CFSSL's address, e.g. url=http://127.0.0.1:8888")
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise Err(f"url {url!r} must start with http:// (the host's HTTP client speaks no TLS: run CFSSL on loopback or a trusted network)")
    if not parts.hostname or parts.username or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise Err(f"url {url!r} must be http://HOST[:PORT] (CFSSL serves its API at the root)")
    try:
        port = parts.port or 80
    except ValueError:
        raise Err(f"url {url!r} has an invalid port")
    host = parts.hostname.lower()
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    allowed = allowed_entries(config.get(ALLOWED_HOSTS) or "")
    if authority not in allowed:
        raise Err(f"url {url!r}: the host lets this issuer reach only the hosts in its {ALLOWED_HOSTS} setting, "
                  f"and {authority} is not among them; add {ALLOWED_HOSTS}={authority}")
    profile = config.get("profile")
    if profile is not None and not profile.strip():
        raise Err("profile is empty; leave it out for CFSSL's default profile")
    return f"http://{authority}", profile


def call_cfssl(base, path, payload):
    """POSTs JSON to CFSSL and returns its `result`, or raises Refused."""
    try:
        response = http.request(
            "POST",
            base + path,
            [("content-type", "application/json"), ("accept", "application/json")],
            json.dumps(payload).encode(),
        )
    except Err as e:
        raise Refused(f"CFSSL at {base} cannot be reached: {e.value}")
    try:
        answer = json.loads(response.body)
    except ValueError:
        raise Refused(f"CFSSL at {base} answered HTTP {response.status} without JSON")
    if not isinstance(answer, dict) or not answer.get("success"):
        errors = answer.get("errors") if isinstance(answer, dict) else None
        messages = [f"{e.get('message')} (code {e.get('code')})" for e in errors or [] if isinstance(e, dict)]
        raise Refused(f"CFSSL refused ({response.status}): {'; '.join(messages) or 'no reason given'}")
    result = answer.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("certificate"), str):
        raise Refused(f"CFSSL at {base} answered without a certificate")
    return result


def pem_certificates(text):
    """The DER of every PEM certificate in `text`, in order."""
    begin, end = PEM_CERTIFICATE
    found = []
    for chunk in text.split(begin)[1:]:
        body, sep, _ = chunk.partition(end)
        if not sep:
            raise Refused("CFSSL returned a truncated PEM certificate")
        try:
            found.append(binascii.a2b_base64("".join(body.split())))
        except binascii.Error:
            raise Refused("CFSSL returned a PEM certificate that is not base64")
    if not found:
        raise Refused("CFSSL returned no PEM certificate")
    return found


def pem_csr(der):
    b64 = binascii.b2a_base64(der, newline=False).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE REQUEST-----\n"


def rejected(reason, fail_info=types.FailInfo.BAD_REQUEST):
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS - 1] + "…"
    return types.IssueResult_Rejected(types.Denial(fail_info=fail_info, reason=reason))


def with_profile(payload, profile):
    if profile is not None:
        payload["profile"] = profile
    return payload


class Issuer(exports.Issuer):
    def init(self):
        read_settings()

    def ca_certificates(self):
        base, profile = read_settings()
        try:
            return pem_certificates(call_cfssl(base, INFO_PATH, with_profile({}, profile))["certificate"])
        except Refused as e:
            # The host refuses a service whose issuer names no CA; this says why.
            log.log(log.Level.ERROR, f"cannot fetch the CA certificate: {e}")
            return []

    def issue(self, request):
        base, profile = read_settings()
        payload = with_profile({"certificate_request": pem_csr(request.csr.der)}, profile)
        try:
            certificate = pem_certificates(call_cfssl(base, SIGN_PATH, payload)["certificate"])[0]
        except Refused as e:
            log.log(log.Level.WARN, f"{request.transaction_id}: {e}")
            return rejected(str(e))
        log.log(log.Level.INFO, f"{request.transaction_id}: CFSSL signed {request.csr.subject}")
        return types.IssueResult_Issued(certificate)

    def poll(self, ticket):
        return rejected("this issuer never answers pending, so there is nothing to poll", types.FailInfo.BAD_CERT_ID)
