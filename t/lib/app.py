#!/usr/bin/python3
"""The stand-in app of the integration tests: a login that names the user
in headers, like the apps twofa-edge protects, and a few endpoints the tests
need to provoke the module (big responses, odd headers, markup in ids).

POST /login  form: user, password, org (optional), id (optional: the
             identity to announce instead of user, for odd values).
             password == "pw-" + user  -> 303 /home, Set-Cookie app_session,
             X-User-Id, X-Org-Id, X-App-Extra; otherwise 200 with a form.
             ?size=N pads the success body to N bytes.
             Accept: application/json -> 200/401 JSON.
GET  /home   who the app session belongs to, and the X-TwoFA header seen.
GET  /echo   the request's headers, as JSON.
"""

import argparse
import json
import secrets
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SESSIONS = {}


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("app: " + (fmt % args) + "\n")

    def send(self, status, body, ctype="text/html; charset=utf-8",
             headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        # Latin-1: one character per byte, so that an identity goes back
        # out in the X-User-Id header byte for byte (UTF-8 or not)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("latin-1"),
                                     keep_blank_values=True,
                                     encoding="latin-1")
        field = lambda name: (form.get(name) or [""])[0]
        text = lambda s: s.encode("latin-1").decode("utf-8", "replace")

        # like many frameworks (Express by default): /Login and /login/ too
        if url.path.rstrip("/").lower() != "/login":
            return self.send(404, "not found\n", "text/plain")

        user, org = field("user"), field("org")
        as_json = "application/json" in (self.headers.get("Accept") or "")

        if not user or field("password") != "pw-" + user:
            if as_json:
                return self.send(401, '{"ok":false}', "application/json")
            return self.send(200, "<form>wrong password</form>\n")

        token = secrets.token_hex(16)
        SESSIONS[token] = (text(user), text(org))
        headers = [("Set-Cookie", "app_session=%s; Path=/; HttpOnly" % token),
                   ("X-User-Id", field("id") or user),
                   ("X-App-Extra", "kept")]
        if org:
            headers.append(("X-Org-Id", org))

        query = urllib.parse.parse_qs(url.query)
        size = int((query.get("size") or ["0"])[0])

        if as_json:
            body = json.dumps({"ok": True, "user": text(user),
                               "org": text(org)})
            return self.send(200, body, "application/json", headers)

        body = "welcome %s\n" % text(user)
        if size > len(body):
            body += "x" * (size - len(body) - 1) + "\n"
        headers.append(("Location", "/home"))
        return self.send(303, body, headers=headers)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)

        if url.path == "/echo":
            return self.send(200, json.dumps(dict(self.headers.items())),
                             "application/json")

        if url.path == "/home":
            cookies = {}
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                cookies[name] = value
            who = SESSIONS.get(cookies.get("app_session"))
            if not who:
                return self.send(401, "no app session\n", "text/plain")
            return self.send(200, "home of %s (%s) via %s\n" % (
                who[0], who[1] or "-", self.headers.get("X-TwoFA") or "-"),
                "text/plain")

        return self.send(404, "not found\n", "text/plain")

    do_HEAD = do_GET


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), App)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
