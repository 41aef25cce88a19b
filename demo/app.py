#!/usr/bin/python3
"""A small stand-in contact-center web app for the twofa-edge demo.

It knows nothing of two-factor authentication: it checks passwords, keeps its
own session and, after a good password, names the user in the X-User-Id and
X-Org-Id response headers.  nginx with the twofa module, in front of it, holds
that login response until the second factor is done, and tells the app how
the user signed in with the X-TwoFA request header.  Standard library only;
demo/run starts it.  To make a line of users.txt (password on stdin):

    python3 demo/app.py --hash-password acme:alice:admin
"""

import argparse
import base64
import getpass
import hashlib
import hmac
import html
import http.server
import json
import re
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

PBKDF2_ITERATIONS = 600_000          # OWASP's figure for PBKDF2-HMAC-SHA256
SESSION_TTL = 8 * 3600               # seconds: one working shift
MAX_BODY = 16 * 1024                 # our forms are tiny
ADMIN_API_TIMEOUT = 3                # seconds: never hang a page on it

# Names the module accepts in Redis keys and cookies (and stricter).
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")      # secrets.token_urlsafe(32)

AUTH_METHODS = {                     # X-TwoFA (nginx's $twofa_amr) -> text
    "totp": "with two-factor authentication",
    "recovery": "with two-factor authentication (a recovery code)",
    "pwd": "with password only",
    "": "with password only (no two-factor session at the edge)",
}

STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:0 .75rem;
 background:#f4f5f7;color:#1d2430}
main{max-width:32rem;margin:2rem auto;padding:1.5rem;background:#fff;
 border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin-top:0}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;
 padding:.6rem;font-size:1rem;border:1px solid #99a;border-radius:4px}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;border:0;
 border-radius:4px;background:#2456c6;color:#fff;cursor:pointer}
.alert{padding:.6rem;border-radius:4px;background:#fde8e8;color:#8a1c1c}
.note{padding:.6rem;border-radius:4px;background:#e7f3ea;color:#1d5c2c}
.switch{display:flex;gap:.6rem;align-items:center}
.switch input{width:1.4rem;height:1.4rem;flex:none}
"""

PAGE_HEADERS = {                     # on every response of ours
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
                               " form-action 'self'; frame-ancestors 'none';"
                               " base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# --- passwords and users ---------------------------------------------------

def hash_password(password, iterations=PBKDF2_ITERATIONS):
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()
    return f"pbkdf2_sha256${iterations}${b64(salt)}${b64(digest)}"


def check_password(password, encoded):
    try:
        scheme, iterations, salt, expected = encoded.split("$")
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                     base64.b64decode(salt), int(iterations))
        expected = base64.b64decode(expected)
    except ValueError:
        return False
    return scheme == "pbkdf2_sha256" and hmac.compare_digest(digest, expected)


# Checked when the user name is unknown, so that an unknown name costs as
# much time as a wrong password: the timing does not tell who exists.
DUMMY_HASH = f"pbkdf2_sha256${PBKDF2_ITERATIONS}${'A' * 24}${'A' * 44}"


def valid_account(org, user, role):
    return bool(NAME.fullmatch(org) and NAME.fullmatch(user)
                and role in ("admin", "agent"))


def load_users(path):
    """org:user:role:hash lines -> {user: account}; user names are unique."""
    users = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            org, user, role, pwhash = (line.split(":", 3) + [""] * 3)[:4]
            if not valid_account(org, user, role) or not pwhash \
                    or user in users:
                sys.exit(f"{path}:{lineno}: expected org:user:role:hash, "
                         "a new user name, role admin or agent")
            users[user] = {"org": org, "user": user, "role": role,
                           "hash": pwhash}
    return users


# --- sessions --------------------------------------------------------------

class Sessions:
    """Server-side sessions: the cookie carries only a random token."""

    def __init__(self):
        self._lock = threading.Lock()
        self._data = {}

    def create(self, account):
        token, now = secrets.token_urlsafe(32), time.time()
        with self._lock:
            for old in [t for t, s in self._data.items() if s["expires"] < now]:
                del self._data[old]
            self._data[token] = {
                "user": account["user"], "org": account["org"],
                "role": account["role"], "csrf": secrets.token_urlsafe(32),
                "flash": None, "expires": now + SESSION_TTL}
        return token

    def get(self, token):
        with self._lock:
            session = self._data.get(token or "")
            return session if session and session["expires"] > time.time() \
                else None

    def delete(self, token):
        with self._lock:
            self._data.pop(token or "", None)


# --- the module's admin API, through nginx -----------------------------------

# No proxy from the environment: the admin API is on loopback.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def admin_api(config, org, require=None):
    """GET (or PUT, given require) the org's policy: (policy, error)."""
    url = config.admin_api + "orgs/" + urllib.parse.quote(org, safe="")
    headers = {"Authorization": "Bearer " + admin_token(config),
               "Accept": "application/json"}
    data = None
    if require is not None:
        data = json.dumps({"require": require}).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data, headers,
                                     method="GET" if data is None else "PUT")
    try:
        with _opener.open(request, timeout=ADMIN_API_TIMEOUT) as response:
            return json.load(response), None
    except urllib.error.HTTPError as e:
        try:
            detail = ": " + json.load(e)["message"]
        except (ValueError, KeyError, TypeError, OSError):
            detail = ""
        return None, f"The two-factor service answered {e.code}{detail}."
    except (OSError, ValueError) as e:      # URLError is an OSError
        reason = getattr(e, "reason", e)
        return None, f"The two-factor service cannot be reached ({reason})."


# --- pages -------------------------------------------------------------------

def esc(value):
    return html.escape(str(value), quote=True)


def page(title, body):
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{esc(title)} - Contact Center</title><style>{STYLE}</style></head>
<body><main>
{body}
</main></body></html>
"""


FORBIDDEN = page("Forbidden", '<h1>Forbidden</h1><p>This form or page is not '
                 'for you.</p><p><a href="/dashboard">Back</a></p>')


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "ContactCenterDemo/1.0"
    config = None                    # set by main()
    users = {}
    sessions = Sessions()
    session = None

    ROUTES = {("GET", "/"): "get_root",
              ("GET", "/login"): "get_login",
              ("POST", "/login"): "post_login",
              ("POST", "/logout"): "post_logout",
              ("GET", "/dashboard"): "get_dashboard",
              ("GET", "/admin/security"): "get_admin_security",
              ("POST", "/admin/security"): "post_admin_security"}

    def route(self):
        self.session = self.sessions.get(self.cookie("app_session"))
        path = urllib.parse.urlsplit(self.path).path
        method = "GET" if self.command == "HEAD" else self.command
        name = self.ROUTES.get((method, path))
        if name:
            getattr(self, name)()
        else:
            self.respond(404, page("Not found", "<h1>Not found</h1>"))

    do_GET = do_HEAD = do_POST = route

    # -- plumbing --

    def log_request(self, code="-", size="-"):
        who = self.session["user"] if self.session else "-"
        # JSON-quoted: no terminal escapes from clients reach the terminal
        path = json.dumps(getattr(self, "path", ""))
        sys.stderr.write(f"app: {self.command} {path} {code} {who}\n")

    def cookie(self, name):
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def form(self):
        """The urlencoded body as a dict; {} if there is none or too much."""
        length = self.headers.get("Content-Length", "0")
        if not re.fullmatch(r"[0-9]{1,9}", length) or int(length) > MAX_BODY:
            self.close_connection = True     # the body stays unread
            return {}
        body = self.rfile.read(int(length)).decode("utf-8", "replace")
        return {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}

    def wants_json(self):
        return "application/json" in self.headers.get("Accept", "")

    def respond(self, status, body="", content_type="text/html; charset=utf-8",
                headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in [*PAGE_HEADERS.items(), *headers]:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def respond_json(self, status, value, headers=()):
        self.respond(status, json.dumps(value, separators=(",", ":")),
                     "application/json", headers)

    def redirect(self, location, headers=()):
        self.respond(303, "", headers=[("Location", location), *headers])

    def csrf_ok(self, fields):
        return self.session is not None and hmac.compare_digest(
            fields.get("csrf", ""), self.session["csrf"])

    # -- sign in and out --

    def get_root(self):
        self.redirect("/dashboard" if self.session else "/login")

    def get_login(self, error=None, status=200):
        # Login CSRF: the form's token must equal a cookie that only this
        # site can set (double submit), so no other site can sign a victim
        # in to an account of its choosing.  JSON clients GET it first.
        token = self.cookie("app_login_csrf") or ""
        if not TOKEN.fullmatch(token):
            token = secrets.token_urlsafe(32)
        cookie = [("Set-Cookie", f"app_login_csrf={token}; Path=/login; "
                                 "HttpOnly; SameSite=Strict")]
        if self.wants_json():
            self.respond_json(status, {"csrf": token}, cookie)
            return
        alert = f'<p class="alert" role="alert">{esc(error)}</p>' if error else ""
        self.respond(status, page("Sign in", f"""<h1>Contact Center</h1>
{alert}
<form method="post" action="/login">
<label for="user">User name</label>
<input type="text" id="user" name="user" autocomplete="username"
 autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password"
 autocomplete="current-password" required>
<input type="hidden" name="csrf" value="{esc(token)}">
<button type="submit">Sign in</button>
</form>"""), headers=cookie)

    def post_login(self):
        fields = self.form()
        token = self.cookie("app_login_csrf") or ""
        if not token or not hmac.compare_digest(fields.get("csrf", ""), token):
            if self.wants_json():
                self.respond_json(403, {"ok": False, "error": "csrf"})
            else:
                self.get_login("The form expired, please try again.", 403)
            return

        account = self.users.get(fields.get("user", ""))
        good = check_password(fields.get("password", ""),
                              account["hash"] if account else DUMMY_HASH)
        if not (account and good):
            if self.wants_json():
                self.respond_json(401, {"ok": False})
            else:
                self.get_login("Wrong user name or password.")
            return

        # a new token at every sign-in: no session fixation
        self.sessions.delete(self.cookie("app_session"))
        token = self.sessions.create(account)
        self.session = self.sessions.get(token)
        headers = [
            ("Set-Cookie", f"app_session={token}; Path=/; HttpOnly; "
                           "SameSite=Lax"),
            # Who signed in, for nginx (twofa_user, twofa_org); the module
            # removes these headers before the response leaves nginx.
            ("X-User-Id", account["user"]),
            ("X-Org-Id", account["org"]),
        ]
        if self.wants_json():
            self.respond_json(200, {"ok": True, "user": account["user"],
                                    "org": account["org"]}, headers)
        else:
            self.redirect("/dashboard", headers)

    def post_logout(self):
        if self.session and not self.csrf_ok(self.form()):
            self.respond(403, FORBIDDEN)
            return
        self.sessions.delete(self.cookie("app_session"))
        self.session = None
        self.redirect("/login", [("Set-Cookie", "app_session=; Path=/; "
                                                "Max-Age=0; HttpOnly")])

    # -- the app --

    def get_dashboard(self):
        s = self.session
        if not s:
            self.redirect("/login")
            return
        amr = self.headers.get("X-TwoFA", "")
        how = AUTH_METHODS.get(amr, AUTH_METHODS[""])
        admin = ('<li><a href="/admin/security">Administration &gt; '
                 'Security</a></li>' if s["role"] == "admin" else "")
        self.respond(200, page("Dashboard", f"""<h1>Dashboard</h1>
<p id="who">Signed in as {esc(s["user"])} ({esc(s["org"])})</p>
<p id="auth-method" data-amr="{esc(amr)}">Signed in {esc(how)}.</p>
<p>Queue: 3 calls waiting, 12 agents available.</p>
<ul>
<li><a href="/2fa/settings">Two-factor settings</a></li>
{admin}
</ul>
<form method="post" action="/logout">
<input type="hidden" name="csrf" value="{esc(s["csrf"])}">
<button type="submit">Sign out</button>
</form>"""))

    def admin_session(self):
        """The session if it is an admin's; otherwise answers and None."""
        if not self.session:
            self.redirect("/login")
        elif self.session["role"] != "admin":
            self.respond(403, FORBIDDEN)
        else:
            return self.session
        return None

    def get_admin_security(self):
        s = self.admin_session()
        if not s:
            return
        flash, s["flash"] = s["flash"], None
        policy, error = admin_api(self.config, s["org"])
        parts = ["<h1>Administration &gt; Security</h1>"]
        if flash:
            parts.append(f'<p class="{flash[0]}" role="status">'
                         f'{esc(flash[1])}</p>')
        if error:
            parts.append(f'<p class="alert" role="alert">{esc(error)}</p>')
        else:
            required = bool(policy.get("require"))
            parts.append(f"""<p id="require-state">Two-factor authentication
is <strong>{"required" if required else "not required"}</strong> in
{esc(s["org"])}.</p>
<form method="post" action="/admin/security">
<label class="switch"><input type="checkbox" id="require-2fa" name="require"
 value="1" role="switch"{" checked" if required else ""}>
Require two-factor authentication</label>
<p>Users meet it at their next sign-in; open sessions are left alone.</p>
<input type="hidden" name="csrf" value="{esc(s["csrf"])}">
<button type="submit">Save</button>
</form>""")
        parts.append('<p><a href="/dashboard">Back to the dashboard</a></p>')
        self.respond(200, page("Security", "\n".join(parts)))

    def post_admin_security(self):
        s = self.admin_session()
        if not s:
            return
        fields = self.form()
        if not self.csrf_ok(fields):
            self.respond(403, FORBIDDEN)
            return
        policy, error = admin_api(self.config, s["org"],
                                  fields.get("require") == "1")
        if error:
            # after a timeout the change may still have been applied: the
            # page shows the state as it is now
            s["flash"] = ("alert", "The change could not be confirmed. "
                          + error)
        else:
            state = "required" if policy.get("require") else "not required"
            s["flash"] = ("note", "Saved: two-factor authentication is now "
                          + state + ".")
        self.redirect("/admin/security")


def admin_token(config):
    """The admin API token, read at each use: in a container the edge may
    write it after the app has started."""
    if not config.admin_token_file:
        return ""
    try:
        with open(config.admin_token_file, encoding="utf-8") as f:
            return f.readline().strip()
    except OSError:
        return ""


# --- main --------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--users", default="demo/users.txt")
    parser.add_argument("--admin-api",
                        default="http://127.0.0.1:8080/twofa-admin/")
    parser.add_argument("--admin-token-file")
    parser.add_argument("--hash-password", metavar="ORG:USER:ROLE",
                        help="print a users.txt line; password from stdin")
    config = parser.parse_args()

    if config.hash_password:
        if not valid_account(*(config.hash_password.split(":") + ["", ""])[:3]):
            sys.exit("--hash-password takes org:user:admin or org:user:agent")
        if sys.stdin.isatty():
            password = getpass.getpass()
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            sys.exit("empty password")
        print(f"{config.hash_password}:{hash_password(password)}")
        return

    config.admin_api = config.admin_api.rstrip("/") + "/"
    Handler.config = config
    Handler.users = load_users(config.users)
    server = http.server.ThreadingHTTPServer((config.host, config.port),
                                             Handler)
    server.daemon_threads = True

    # SIGTERM (from demo/run) ends serve_forever() as Ctrl-C does
    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)

    sys.stderr.write(f"app: listening on {config.host}:{config.port}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
