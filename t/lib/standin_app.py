#!/usr/bin/python3
"""A stand-in for an app that cannot be changed: it never names the user in
a header; nginx must read who logs in from the login request's body and
whether the password was right from the answer (t/46-any-app.t).

GET  /login, /m/MODE/login   the login page; a client without a session
                              gets an anonymous one (Set-Cookie sid=...),
                              as PHP and most frameworks do
POST /login, /m/MODE/login   fields `user` and `password` from the body:
                              application/x-www-form-urlencoded,
                              multipart/form-data or a JSON object (the app
                              is lenient: a field the body does not give
                              (or gives empty) is taken from the query string, a repeated
                              one is the last, the charset is ignored, as
                              many frameworks do).  The account is the
                              user trimmed and lower-cased; the password is
                              right when it is "pw-" + that account.
    right: 302 to /home, body "welcome ACCOUNT", and per MODE:
      rotate   (and /login)  a fresh session id: Set-Cookie sid=NEW
      fix      session fixation: the id the client sent is signed in,
               no Set-Cookie
      fixsame  the id the client sent is signed in, Set-Cookie sid= that
               same id again
      del      the id the client sent is signed in, Set-Cookie sid=;
               Max-Age=0 (a deletion)
      expired  the id the client sent is signed in, Set-Cookie sid=NEW
               with an Expires in the past (a deletion too)
      newdel   Set-Cookie sid=NEW, then sid=; Max-Age=0: the last counts
      delnew   Set-Cookie sid=; Max-Age=0, then sid=NEW (signed in)
      hdr      as rotate, plus X-User: the user field as typed (the header
               style of apps that can name the user)
    wrong: 200 "<form>wrong password</form>"
GET  /home    200 "hello ACCOUNT" for a signed-in sid, else 302 to /login
GET  /logout  signs the sid out
"""

import argparse
import email.parser
import email.policy
import json
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SESSIONS = {}           # sid -> account, or "" for an anonymous session
LOCK = threading.Lock()

MODES = ("rotate", "fix", "fixsame", "del", "expired", "newdel", "delnew",
         "hdr")


def new_sid():
    return secrets.token_hex(16)


def parse_cookies(header):
    jar = {}
    for part in (header or "").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq:
            jar[name] = value
    return jar


def body_fields(ctype, body):
    """The body's fields as the app reads them: {} when it cannot."""
    media = (ctype or "").split(";")[0].strip().lower()
    try:
        if media == "application/x-www-form-urlencoded":
            pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                           keep_blank_values=True)
            return dict(pairs)          # a repeated field: the last
        if media == "multipart/form-data":
            msg = email.parser.BytesParser(policy=email.policy.HTTP) \
                .parsebytes(b"Content-Type: " + ctype.encode("latin-1")
                            + b"\r\n\r\n" + body)
            if not msg.is_multipart():
                return {}
            fields = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name is not None:
                    payload = part.get_payload(decode=True) or b""
                    fields[name] = payload.decode("utf-8", "replace")
            return fields
        if media == "application/json":
            doc = json.loads(body.decode("utf-8", "replace"))
            if isinstance(doc, dict):   # a repeated key: the last
                return {k: v for k, v in doc.items() if isinstance(v, str)}
    except Exception:                   # noqa: BLE001 (lenient by design)
        pass
    return {}


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("standin: " + (fmt % args) + "\n")

    def send(self, status, body, headers=(), ctype="text/html; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def mode(self, path):
        """The login's mode for a login path, else None."""
        if path == "/login":
            return "rotate"
        parts = path.split("/")
        if len(parts) == 4 and parts[0] == "" and parts[1] == "m" \
                and parts[2] in MODES and parts[3] == "login":
            return parts[2]
        return None

    def sid(self):
        return parse_cookies(self.headers.get("Cookie")).get("sid")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        sid = self.sid()
        with LOCK:
            account = SESSIONS.get(sid) if sid else None

        if url.path == "/home":
            if account:
                return self.send(200, "hello %s\n" % account)
            return self.send(302, "sign in first\n", [("Location", "/login")])

        if url.path == "/logout":
            with LOCK:
                SESSIONS.pop(sid, None)
            return self.send(302, "bye\n", [
                ("Location", "/login"),
                ("Set-Cookie", "sid=; Path=/; Max-Age=0")])

        if self.mode(url.path):
            headers = []
            if account is None:
                sid = new_sid()
                with LOCK:
                    SESSIONS[sid] = ""
                headers.append(("Set-Cookie", "sid=%s; Path=/; HttpOnly" % sid))
            return self.send(200, "<form method=post>login</form>\n", headers)

        return self.send(404, "not found\n", ctype="text/plain")

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        mode = self.mode(url.path)
        if not mode:
            return self.send(404, "not found\n", ctype="text/plain")

        fields = body_fields(self.headers.get("Content-Type"), body)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        for name in ("user", "password"):
            if not fields.get(name) and name in query:
                fields[name] = query[name]

        typed = fields.get("user", "")
        account = typed.strip().lower()
        if not account or fields.get("password") != "pw-" + account:
            return self.send(200, "<form>wrong password</form>\n")

        old = self.sid()
        fresh = new_sid()
        cookie = "sid=%s; Path=/; HttpOnly"
        deletion = "sid=; Path=/; Max-Age=0"
        headers = [("Location", "/home")]
        signed_in = None

        if mode in ("rotate", "hdr"):
            signed_in = fresh
            headers.append(("Set-Cookie", cookie % fresh))
            if mode == "hdr":
                headers.append(("X-User", typed))
        elif mode == "fix":
            signed_in = old
        elif mode == "fixsame":
            signed_in = old
            if old:
                headers.append(("Set-Cookie", cookie % old))
        elif mode == "del":
            signed_in = old
            headers.append(("Set-Cookie", deletion))
        elif mode == "expired":
            signed_in = old
            headers.append(("Set-Cookie", (cookie % fresh)
                            + "; Expires=Thu, 01 Jan 1970 00:00:01 GMT"))
        elif mode == "newdel":
            signed_in = old
            headers.append(("Set-Cookie", cookie % fresh))
            headers.append(("Set-Cookie", deletion))
        elif mode == "delnew":
            signed_in = fresh
            headers.append(("Set-Cookie", deletion))
            headers.append(("Set-Cookie", cookie % fresh))

        with LOCK:
            if old and mode in ("rotate", "hdr", "delnew"):
                SESSIONS.pop(old, None)     # the anonymous session is over
            if signed_in:
                SESSIONS[signed_in] = account

        return self.send(302, "welcome %s\n" % account, headers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", args.port), App).serve_forever()


if __name__ == "__main__":
    main()
