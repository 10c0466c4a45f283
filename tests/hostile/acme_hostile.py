#!/usr/bin/python3
"""A scripted ACME server that misbehaves on purpose, for broker tests.

This is a mock, not a CA. It implements enough of RFC 8555 for
`custos issue` to get through directory, nonce, account, order,
authorization, challenge, finalize and certificate download, but it never
verifies a JWS signature, a nonce or an account, and it never validates a
challenge: every triggered challenge becomes valid.

It exists for CA behaviours that Pebble 2.4.0 cannot produce. Pebble
sends no Retry-After header, no 429 or 503 responses, no subproblems, no
redirects and no problem documents with odd members; it always formats
its chain the same way, always answers within a moment, never sends
malformed JSON, and rejects nonces only at random. Each --scenario below
replaces one step of a normal issuance with such a behaviour, and --value
chooses its variant:

  normal              a correct issuance
  retry-after-authz   the first authorization poll after the challenge
                      stays pending with "Retry-After: VALUE"
  retry-after-order   the first order poll after finalize stays
                      processing with "Retry-After: VALUE"
                      (VALUE "imf:+N", "rfc850:+N" and "asctime:+N" send
                      an HTTP-date N seconds from the response; -N is in
                      the past)
  status-order        newOrder answers STATUS:BODY, for example 503:html,
                      429:empty or 503:binary, with "Retry-After: 120";
                      STATUS:BODY:SECONDS:COUNT sends "Retry-After:
                      SECONDS" to the first COUNT newOrder requests only
                      and then lets the issuance go on
  problem-order       newOrder answers a problem document variant:
                      subproblems, plain, extra-members, wrong-types,
                      status-string, missing-type, json-content-type
  bad-nonce           the first N POSTs to newOrder get badNonce
  order-stuck         the order stays processing forever
  chain               the certificate chain is formatted as VALUE: crlf,
                      no-final-newline, blank-lines, text, chain-1,
                      chain-2, chain-3, no-content-type,
                      content-type-params, garbage, non-certificate
  redirect            VALUE is directory-301, directory-loop, order-307,
                      authz-302-loop or cert-301
  huge-body           VALUE is directory, directory-endless, order or cert
  stall               headers and part of the body, then silence, on
                      VALUE directory or order
  close-mid-body      headers and part of the body, then the connection
                      closes, on VALUE directory or order
  bad-json            the newOrder body is VALUE: invalid, status-number,
                      identifiers-object, authorizations-non-string,
                      deep-nesting, huge-string
  profiles            the directory advertises the ACME profiles
                      "classic" and "shortlived" in meta.profiles, and
                      each newOrder's profile is logged
  foreign-authz       every authorization names a domain outside the
                      order, with a terminal escape sequence in it
  many-headers        every response carries VALUE header fields in all
                      (Server, Date, the server's usual fields and
                      X-Filler-N fields added up to VALUE)
  renewal-info        the directory has renewalInfo (RFC 9773); VALUE
                      "START:END" suggests a window from START to END
                      seconds after the first renewalInfo request for each
                      certificate (negative: in the past), with
                      "Retry-After: 21600"; each newOrder's replaces is
                      logged
  renewal-info-bad    renewalInfo answers a malformed body: VALUE is
                      end-before-start, bad-time, huge, not-json or
                      missing-window
  already-replaced    as renewal-info, but a newOrder that carries replaces
                      gets the problem alreadyReplaced

Events (requests, measured waits, issued serials) go to --log, one per
line, for the tests to check.
"""

import argparse
import base64
import email.utils
import http.server
import json
import os
import secrets
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ACME_ERROR = "urn:ietf:params:acme:error:"
PEM_CHAIN = "application/pem-certificate-chain"
MIB = 1024 * 1024

# Extensions that the server adds to every leaf. The CSR supplies the public
# key and the subjectAltName, which the broker compares with its request.
LEAF_EXTENSIONS = """[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def http_date(form, offset):
    """Format now + offset seconds in one of the three HTTP-date forms."""
    when = time.time() + offset
    if form == "imf":
        return email.utils.formatdate(when, usegmt=True)
    if form == "rfc850":
        return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(when))
    return time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(when))


def retry_after_value(value):
    """Expand "imf:+2" and the like into a date; pass other values on."""
    form, sep, offset = value.partition(":")
    if sep and form in ("imf", "rfc850", "asctime"):
        return http_date(form, int(offset))
    return value


class State:
    """Orders, authorizations and counters shared by the handler threads."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.orders = {}
        self.authzs = {}
        # Ids start at HOSTILE_FIRST_ID so that a restarted server does
        # not hand out the order URLs of an earlier run again.
        self.next_id = int(os.environ.get("HOSTILE_FIRST_ID", "1"))
        self.new_order_posts = 0
        self.waits = {}
        self.windows = {}
        self.log_file = open(args.log, "a", encoding="utf-8") \
            if args.log else sys.stderr

    def log(self, text):
        with self.lock:
            self.log_file.write(text + "\n")
            self.log_file.flush()

    def new_id(self):
        with self.lock:
            value = self.next_id
            self.next_id += 1
            return value

    def mark_wait_start(self, kind):
        with self.lock:
            self.waits[kind] = time.monotonic()

    def measure_wait(self, kind):
        """Log the time since mark_wait_start(kind), once."""
        with self.lock:
            start = self.waits.pop(kind, None)
        if start is not None:
            self.log("wait %s %.3f" % (kind, time.monotonic() - start))


def issue_certificate(args, csr_der):
    """Sign the CSR's key and names with the intermediate; return PEM."""
    serial = "0x" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory() as tmp:
        csr_path = os.path.join(tmp, "req.der")
        ext_path = os.path.join(tmp, "leaf.ext")
        with open(csr_path, "wb") as f:
            f.write(csr_der)
        with open(ext_path, "w", encoding="ascii") as f:
            f.write(LEAF_EXTENSIONS)
        result = subprocess.run(
            ["openssl", "x509", "-req", "-inform", "DER", "-in", csr_path,
             "-CA", os.path.join(args.ca_dir, "intermediate.pem"),
             "-CAkey", os.path.join(args.ca_dir, "intermediate.key"),
             "-set_serial", serial, "-days", "7",
             "-copy_extensions", "copyall",
             "-extfile", ext_path, "-extensions", "leaf"],
            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError("openssl x509 -req failed: " +
                           result.stderr.decode(errors="replace"))
    return result.stdout.decode("ascii"), serial


def read_pem(args, name):
    with open(os.path.join(args.ca_dir, name), encoding="ascii") as f:
        return f.read()


def openssl_text(pem):
    """Return `openssl x509 -text` output for one certificate."""
    result = subprocess.run(["openssl", "x509", "-text"], input=pem.encode(),
                            capture_output=True, check=True)
    return result.stdout.decode("ascii")


def format_chain(args, leaf, variant):
    """Build the certificate download body in the chosen variant."""
    intermediate = read_pem(args, "intermediate.pem")
    root = read_pem(args, "root.pem")
    chain = leaf + intermediate
    if variant == "chain-1":
        return leaf
    if variant == "chain-3":
        return chain + root
    if variant == "crlf":
        return chain.replace("\n", "\r\n")
    if variant == "no-final-newline":
        return chain.rstrip("\n")
    if variant == "blank-lines":
        return "\n\n" + leaf + "\n\n\n" + intermediate + "\n\n"
    if variant == "text":
        return openssl_text(leaf) + "Issuer certificate:\n" + \
            openssl_text(intermediate)
    if variant == "garbage":
        lines = intermediate.splitlines()
        lines[3] = "!!!! this line is not base64 !!!!"
        return leaf + "\n".join(lines) + "\n"
    if variant == "non-certificate":
        body = base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
        return leaf + "-----BEGIN PRIVATE KEY-----\n" + body + \
            "\n-----END PRIVATE KEY-----\n" + intermediate
    return chain


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "acme-hostile"
    state = None

    # -- plumbing ---------------------------------------------------------

    def log_message(self, format, *args):  # noqa: A002 (base class name)
        pass

    @property
    def args(self):
        return self.state.args

    def url(self, path):
        return "https://%s:%d%s" % (self.args.host_name, self.args.port, path)

    def send(self, status, body=b"", content_type="application/json",
             headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Replay-Nonce", secrets.token_urlsafe(16))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.scenario("many-headers"):
            self.send_fillers()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_response(self, code, message=None):
        self.header_fields = 0
        super().send_response(code, message)

    def send_header(self, keyword, value):
        # Counts every field, Server and Date from send_response too.
        self.header_fields += 1
        super().send_header(keyword, value)

    def send_fillers(self):
        """Add X-Filler-N fields until the response has VALUE fields."""
        for number in range(int(self.args.value) - self.header_fields):
            self.send_header("X-Filler-%d" % number, "x")

    def send_json(self, status, doc, headers=None):
        self.send(status, json.dumps(doc), headers=headers)

    def send_problem(self, status, acme_type, detail, content_type=None):
        doc = {"type": ACME_ERROR + acme_type, "detail": detail,
               "status": status}
        self.send(status, json.dumps(doc),
                  content_type or "application/problem+json")

    def send_partial(self, body, close):
        """Send headers and the first tenth of body, then stall or close."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Replay-Nonce", secrets.token_urlsafe(16))
        self.end_headers()
        self.wfile.write(body[:len(body) // 10])
        self.wfile.flush()
        if close:
            self.close_connection = True
            return
        time.sleep(self.args.stall_seconds)
        self.close_connection = True

    def send_endless(self):
        """Stream a chunked body until the client hangs up."""
        chunk = b" " * 65536
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            while sent < 1024 * MIB:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        self.state.log("endless body stopped after %d bytes" % sent)
        self.close_connection = True

    def redirect(self, status, target):
        self.send(status, b"", None, {"Location": self.url(target)})

    def read_payload(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            jws = json.loads(raw)
            payload = jws.get("payload", "")
            return json.loads(b64url_decode(payload)) if payload else None
        except ValueError:
            return None

    def scenario(self, name):
        return self.args.scenario == name

    def has_ari(self):
        return self.args.scenario in ("renewal-info", "renewal-info-bad",
                                      "already-replaced")

    # -- dispatch ---------------------------------------------------------

    def do_HEAD(self):
        self.state.log("HEAD %s" % self.path)
        if self.path == "/nonce":
            self.send(200, b"", None)
        else:
            self.send(404, b"", None)

    def do_GET(self):
        self.state.log("GET %s" % self.path)
        if self.path == "/dir":
            self.get_directory()
        elif self.path == "/nonce":
            self.send(204, b"", None)
        elif self.path == "/moved-dir":
            self.get_directory(moved=True)
        elif self.path.startswith("/renewal-info/") and self.has_ari():
            self.get_renewal_info(self.path[len("/renewal-info/"):])
        else:
            self.send(404, b"not found\n", "text/plain")

    def do_POST(self):
        self.state.log("POST %s" % self.path)
        payload = self.read_payload()
        parts = self.path.strip("/").split("/")
        routes = {
            "account": self.post_account, "new-order": self.post_new_order,
            "order": self.post_order, "authz": self.post_authz,
            "chall": self.post_challenge, "finalize": self.post_finalize,
            "cert": self.post_certificate,
        }
        route = routes.get(parts[0])
        if route is None:
            self.send_problem(404, "malformed", "no such resource")
            return
        route(parts[1:], payload)

    # -- resources --------------------------------------------------------

    def get_directory(self, moved=False):
        value = self.args.value
        doc = {
            "newNonce": self.url("/nonce"),
            "newAccount": self.url("/account"),
            "newOrder": self.url("/new-order"),
            "meta": {"termsOfService": self.url("/terms")},
        }
        if self.scenario("profiles"):
            doc["meta"]["profiles"] = {
                "classic": "the default profile",
                "shortlived": "certificates valid for six days",
            }
        if self.has_ari():
            doc["renewalInfo"] = self.url("/renewal-info")
        if self.scenario("redirect") and not moved:
            if value == "directory-301":
                self.redirect(301, "/moved-dir")
                return
            if value == "directory-loop":
                self.redirect(302, "/dir")
                return
        if self.scenario("huge-body") and value == "directory":
            doc["padding"] = "x" * (8 * MIB)
        if self.scenario("huge-body") and value == "directory-endless":
            self.send_endless()
            return
        body = json.dumps(doc).encode()
        if self.scenario("stall") and value == "directory":
            self.send_partial(body, close=False)
            return
        if self.scenario("close-mid-body") and value == "directory":
            self.send_partial(body, close=True)
            return
        self.send_json(200, doc)

    def post_account(self, _parts, _payload):
        self.send_json(201, {"status": "valid", "contact": []},
                       {"Location": self.url("/acct/1")})

    def new_order_hostile(self):
        """Answer newOrder with the scenario's behaviour; True if done."""
        value = self.args.value
        if self.scenario("bad-nonce"):
            with self.state.lock:
                self.state.new_order_posts += 1
                count = self.state.new_order_posts
            if count <= int(value):
                self.send_problem(400, "badNonce",
                                  "nonce %d of the test was rejected" % count)
                return True
        if self.scenario("status-order"):
            return self.send_status_body(value)
        if self.scenario("problem-order"):
            self.send_problem_variant(value)
            return True
        if self.scenario("redirect") and value == "order-307":
            self.redirect(307, "/elsewhere/new-order")
            return True
        if self.scenario("bad-json"):
            self.send_bad_json(value)
            return True
        return False

    def new_order_replaces(self, payload):
        """Log the order's replaces. Return True after an alreadyReplaced."""
        replaces = (payload or {}).get("replaces")
        if self.scenario("already-replaced") and replaces is not None:
            self.state.log("new-order already-replaced %s" % replaces)
            self.send_problem(409, "alreadyReplaced",
                              "certificate %s is already replaced" % replaces)
            return True
        self.state.log("new-order at %d replaces %s" %
                       (int(time.time()), replaces or "(none)"))
        return False

    def post_new_order(self, _parts, payload):
        if self.new_order_hostile():
            return
        if self.has_ari() and self.new_order_replaces(payload):
            return
        identifiers = (payload or {}).get("identifiers", [])
        if self.scenario("profiles"):
            self.state.log("new-order profile %s" %
                           (payload or {}).get("profile", "(none)"))
        order_id = self.state.new_id()
        authz_ids = []
        for identifier in identifiers:
            authz_id = self.state.new_id()
            self.state.authzs[authz_id] = {
                "identifier": identifier, "status": "pending",
                "token": secrets.token_urlsafe(32), "polls": 0,
                "challenge": "pending",
            }
            authz_ids.append(authz_id)
        self.state.orders[order_id] = {
            "identifiers": identifiers, "authzs": authz_ids,
            "status": "pending", "polls": 0, "certificate": None,
        }
        doc = self.order_doc(order_id)
        if self.scenario("huge-body") and self.args.value == "order":
            doc["padding"] = "x" * (6 * MIB)
        self.send_json(201, doc,
                       {"Location": self.url("/order/%d" % order_id)})

    def order_doc(self, order_id):
        order = self.state.orders[order_id]
        if order["status"] == "pending" and all(
                self.state.authzs[a]["status"] == "valid"
                for a in order["authzs"]):
            order["status"] = "ready"
        doc = {
            "status": order["status"],
            "expires": "2099-01-01T00:00:00Z",
            "identifiers": order["identifiers"],
            "authorizations": [self.url("/authz/%d" % a)
                               for a in order["authzs"]],
            "finalize": self.url("/finalize/%d" % order_id),
        }
        if order["status"] == "valid":
            doc["certificate"] = self.url("/cert/%d" % order_id)
        return doc

    def post_order(self, parts, _payload):
        order_id = int(parts[0])
        order = self.state.orders.get(order_id)
        if order is None:
            self.send_problem(404, "malformed", "no such order")
            return
        headers = {}
        cut = False
        if order["status"] == "processing":
            self.state.measure_wait("order")
            order["polls"] += 1
            cut = self.args.value == "order" and (
                self.scenario("stall") or self.scenario("close-mid-body"))
            if self.scenario("retry-after-order") and order["polls"] == 1:
                headers["Retry-After"] = retry_after_value(self.args.value)
                self.state.mark_wait_start("order")
            elif not self.scenario("order-stuck"):
                order["status"] = "valid"
        body = json.dumps(self.order_doc(order_id)).encode()
        if cut:
            self.send_partial(body, close=self.scenario("close-mid-body"))
            return
        self.send(200, body, headers=headers)

    def authz_doc(self, authz_id):
        authz = self.state.authzs[authz_id]
        identifier = authz["identifier"]
        if self.scenario("foreign-authz"):
            # A name the client never asked for, with a terminal escape.
            identifier = {"type": "dns", "value": "evil\x1b[2J.test"}
        return {
            "status": authz["status"],
            "expires": "2099-01-01T00:00:00Z",
            "identifier": identifier,
            "challenges": [{
                "type": "http-01", "status": authz["challenge"],
                "url": self.url("/chall/%d" % authz_id),
                "token": authz["token"],
            }],
        }

    def post_authz(self, parts, _payload):
        authz_id = int(parts[0])
        authz = self.state.authzs.get(authz_id)
        if authz is None:
            self.send_problem(404, "malformed", "no such authorization")
            return
        if self.scenario("redirect") and self.args.value == "authz-302-loop":
            self.redirect(302, self.path)
            return
        headers = {}
        if authz["challenge"] != "pending" and authz["status"] == "pending":
            self.state.measure_wait("authz")
            authz["polls"] += 1
            if self.scenario("retry-after-authz") and authz["polls"] == 1:
                headers["Retry-After"] = retry_after_value(self.args.value)
                self.state.mark_wait_start("authz")
            else:
                authz["status"] = "valid"
                authz["challenge"] = "valid"
        self.send_json(200, self.authz_doc(authz_id), headers)

    def post_challenge(self, parts, _payload):
        authz_id = int(parts[0])
        authz = self.state.authzs.get(authz_id)
        if authz is None:
            self.send_problem(404, "malformed", "no such challenge")
            return
        if authz["challenge"] == "pending":
            authz["challenge"] = "processing"
        self.send_json(200, self.authz_doc(authz_id)["challenges"][0],
                       {"Link": "<%s>;rel=\"up\"" %
                        self.url("/authz/%d" % authz_id)})

    def post_finalize(self, parts, payload):
        order_id = int(parts[0])
        order = self.state.orders.get(order_id)
        if order is None or order["status"] != "ready":
            self.send_problem(403, "orderNotReady", "order is not ready")
            return
        try:
            csr = b64url_decode((payload or {}).get("csr", ""))
            order["certificate"], serial = issue_certificate(self.args, csr)
        except (RuntimeError, ValueError) as error:
            self.send_problem(400, "badCSR", str(error))
            return
        self.state.log("issued serial %s" % serial)
        order["status"] = "processing"
        self.send_json(200, self.order_doc(order_id),
                       {"Location": self.url("/order/%d" % order_id)})

    def post_certificate(self, parts, _payload):
        order = self.state.orders.get(int(parts[0]))
        value = self.args.value
        if order is None or order["certificate"] is None:
            self.send_problem(404, "malformed", "no such certificate")
            return
        if self.scenario("redirect") and value == "cert-301":
            self.redirect(301, "/elsewhere/cert")
            return
        content_type = PEM_CHAIN
        body = format_chain(self.args, order["certificate"],
                            value if self.scenario("chain") else "")
        if self.scenario("chain") and value == "no-content-type":
            content_type = None
        if self.scenario("chain") and value == "content-type-params":
            content_type = PEM_CHAIN + '; charset="utf-8"; profile=x'
        if self.scenario("huge-body") and value == "cert":
            body += "# padding\n" * (MIB // 2)
        self.send(200, body, content_type)

    def get_renewal_info(self, cert_id):
        """Send the scenario's renewalInfo window for cert_id."""
        if self.scenario("renewal-info-bad"):
            self.state.log("renewal-info %s malformed %s" %
                           (cert_id, self.args.value))
            self.send_bad_renewal_info(self.args.value)
            return
        start, end = (int(x) for x in self.args.value.split(":"))
        with self.state.lock:
            first = self.state.windows.setdefault(cert_id, int(time.time()))
        start, end = first + start, first + end
        self.state.log("renewal-info %s window %d %d" % (cert_id, start, end))
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        self.send_json(200, {
            "suggestedWindow": {
                "start": time.strftime(stamp, time.gmtime(start)),
                "end": time.strftime(stamp, time.gmtime(end)),
            },
            "explanationURL": self.url("/why-renew"),
        }, {"Retry-After": "21600"})

    # -- hostile bodies ---------------------------------------------------

    def send_bad_renewal_info(self, value):
        window = {"start": "2030-01-02T00:00:00Z",
                  "end": "2030-01-03T00:00:00Z"}
        if value == "end-before-start":
            window["end"] = "2030-01-01T00:00:00Z"
            body = json.dumps({"suggestedWindow": window})
        elif value == "bad-time":
            window["start"] = "next tuesday"
            body = json.dumps({"suggestedWindow": window})
        elif value == "huge":
            body = json.dumps({"suggestedWindow": window,
                               "explanationURL": "x" * (100 * 1024)})
        elif value == "not-json":
            body = "<html><body>renewal info</body></html>"
        elif value == "missing-window":
            body = json.dumps({"explanationURL": self.url("/why-renew")})
        else:
            raise ValueError("unknown renewal-info-bad variant " + value)
        self.send(200, body, headers={"Retry-After": "21600"})

    def send_status_body(self, value):
        """Send the status-order error; False once COUNT were sent."""
        status, kind, retry_after, count = (value.split(":") + ["", ""])[:4]
        with self.state.lock:
            self.state.new_order_posts += 1
            posts = self.state.new_order_posts
        if count and posts > int(count):
            return False
        bodies = {
            "html": ("<html><body><h1>Service Unavailable</h1>\n"
                     "<p>Try later.</p></body></html>\n", "text/html"),
            "empty": ("", None),
            "binary": (bytes(range(256)) * 4, "application/octet-stream"),
        }
        body, content_type = bodies[kind]
        self.send(int(status), body, content_type,
                  {"Retry-After": retry_after or "120"})
        return True

    def send_problem_variant(self, value):
        rejected = ACME_ERROR + "rejectedIdentifier"
        sub = [{
            "type": rejected, "detail": "bad.hostile.test is forbidden",
            "identifier": {"type": "dns", "value": "bad.hostile.test"},
        }, {
            "type": ACME_ERROR + "caa", "detail": "CAA forbids issuance",
            "identifier": {"type": "dns", "value": "caa.hostile.test"},
        }]
        docs = {
            "subproblems": {"type": rejected, "status": 400,
                            "detail": "2 identifiers were rejected",
                            "subproblems": sub},
            "plain": {"type": rejected, "status": 400,
                      "detail": "the name is on a blocklist"},
            "extra-members": {"type": rejected, "status": 400,
                              "detail": "extra members follow",
                              "instance": "https://ca.test/p/1",
                              "title": "Rejected", "algorithms": ["ES256"],
                              "x-trace": {"id": 7}},
            "wrong-types": {"type": rejected, "status": [400],
                            "detail": 42, "subproblems": {"not": "a list"}},
            "status-string": {"type": rejected, "status": "400",
                              "detail": "status is a string"},
            "missing-type": {"status": 400, "detail": "no type member"},
            "json-content-type": {"type": rejected, "status": 400,
                                  "detail": "sent as application/json",
                                  "subproblems": sub[:1]},
        }
        content_type = "application/json" \
            if value == "json-content-type" else "application/problem+json"
        self.send(400, json.dumps(docs[value]), content_type)

    def send_bad_json(self, value):
        good = {"status": "pending", "identifiers": [],
                "authorizations": [], "finalize": self.url("/finalize/0")}
        if value == "invalid":
            body = '{"status": "pending", "identifiers": [,]}'
        elif value == "status-number":
            body = json.dumps(dict(good, status=3))
        elif value == "identifiers-object":
            body = json.dumps(dict(good, identifiers={"type": "dns"}))
        elif value == "authorizations-non-string":
            body = json.dumps(dict(
                good, identifiers=[{"type": "dns", "value": "a.test"}],
                authorizations=[self.url("/authz/1"), 7, None]))
        elif value == "deep-nesting":
            body = '{"status": ' + "[" * 100000 + "]" * 100000 + "}"
        elif value == "huge-string":
            body = json.dumps(dict(good, status="s" * (3 * MIB)))
        else:
            raise ValueError("unknown bad-json variant " + value)
        self.send(201, body, headers={
            "Location": self.url("/order/999")})


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host-name", default="localhost",
                        help="host name used in the URLs the server sends")
    parser.add_argument("--cert", required=True,
                        help="PEM file of the TLS certificate")
    parser.add_argument("--key", required=True,
                        help="PEM file of the TLS private key")
    parser.add_argument("--ca-dir", required=True,
                        help="directory of root.pem, intermediate.pem and "
                        "intermediate.key, the issuing CA")
    parser.add_argument("--scenario", default="normal")
    parser.add_argument("--value", default="",
                        help="variant of the scenario")
    parser.add_argument("--stall-seconds", type=float, default=120.0,
                        help="how long a stalled response stays silent")
    parser.add_argument("--log", help="file that events are appended to")
    return parser.parse_args()


def main():
    args = parse_args()
    Handler.state = State(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port),
                                             Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    Handler.state.log("listening on 127.0.0.1:%d scenario %s value %r" %
                      (args.port, args.scenario, args.value))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
