/*
 * The load generator of the login-flow benchmark, and two helpers of
 * bench/run.  Plain sockets, HTTP/1.1 keep-alive, one epoll loop per
 * thread; linked with the core for TOTP codes, sealing and cookies.
 *
 *   loginload seed KEYFILE PREFIX COUNT [ORG]
 *       RESP on stdout for `redis-cli --pipe`: COUNT enrolled users
 *       PREFIX0 .. PREFIX{COUNT-1} of ORG (default "default"), whose
 *       secrets are derived from their names, and the org's requirement.
 *
 *   loginload cookie KEYFILE [USER [ORG]]
 *       A session cookie value that passed TOTP now (for twofa_gate).
 *
 *   loginload bind KEYFILE SESSION NAME=VALUE...
 *       The bind cookie value (twofa_bind) of a session cookie and the
 *       app cookies, in the order of twofa_app_cookie.
 *
 *   loginload run [options]
 *       -p PORT      the edge (127.0.0.1)
 *       -m MODE      2fa: login held, then POST {pages}verify with the code,
 *                         the app's response released (one completed login)
 *                    held: the held login only (401 + hold cookie)
 *                    plain: the same login on a location without
 *                         twofa_login (the app's 303)
 *                    ab: the logins of even users as 2fa, of odd users
 *                         as plain, mixed in one run: the held login and
 *                         the plain one measured under the same load
 *       -u PREFIX -n COUNT   the seeded users (each logs in at most once)
 *       -s FIRST     start at user PREFIX{FIRST} (default 0)
 *       -c CONNS -t THREADS  connections, threads (epoll loops)
 *       -d SECONDS   measured time (after the warm-up)
 *       -w SECONDS   warm-up: run, but not counted
 *       -r RATE      logins started per second (open loop); 0: as fast as
 *                    the connections go (closed loop)
 *       -W SECONDS   -m ab: also the p99 difference per window of this
 *                    length (default 2), and the median of those
 *       -N MAX       stop after MAX logins were started (then -d is a cap)
 *       -l PATH      login path (default /login, or /login-plain for plain)
 *       -v PATH      verify path (default /2fa/verify)
 *
 *   Prints key=value lines: completed logins, logins/s, its own CPU time
 *   (cpu_ms, to tell what other processes took), and p50/p90/p99/max
 *   latencies (ms) of the login request, of the verify request and of the
 *   whole login.  Failures are counted, the first few printed to stderr.
 *   Exit status 1 when any login failed.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "twofa_base64.h"
#include "twofa_cookie.h"
#include "twofa_seal.h"
#include "twofa_totp.h"


#define LL_SECRET_SIZE   20
#define LL_BUF_SIZE      16384
#define LL_REQ_SIZE      2048
#define LL_DRAIN_SECONDS 3.0
#define LL_MAX_ERRORS    5


enum { MODE_2FA, MODE_HELD, MODE_PLAIN, MODE_AB };
enum { STAGE_IDLE, STAGE_LOGIN, STAGE_VERIFY };


typedef struct {
    double   *v;
    size_t    n;
    size_t    cap;
} lat_t;

typedef struct thread_s  thread_t;

typedef struct {
    thread_t  *th;
    int        fd;
    int        stage;
    int        mode;             /* of this login */
    long       user;
    double     t_login;          /* the login started */
    double     t_req;            /* this request started */
    char       req[LL_REQ_SIZE];
    size_t     req_len;
    size_t     req_sent;
    char       buf[LL_BUF_SIZE];
    size_t     buf_len;
    char       hold[128];
    char       csrf[64];
} conn_t;

struct thread_s {
    pthread_t  tid;
    int        ep;
    int        tfd;
    int        nconns;
    conn_t    *conns;
    conn_t   **idle;             /* connections waiting for a slot */
    int        nidle;
    double     rate;             /* this thread's logins per second */
    double     next_slot;
    lat_t      login, verify, total, plain;
    lat_t     *wlogin, *wplain;  /* -m ab: per window of -W seconds */
    long       completed;        /* in the measured window */
    long       plain_completed;  /* -m ab: the plain logins */
    long       started;
    long       errors;
    long       warm;             /* completed during the warm-up */
    double     last_done;
};


/* options */
static int          opt_port;
static int          opt_mode = MODE_2FA;
static const char  *opt_prefix = "u";
static long         opt_count;
static int          opt_conns = 64;
static int          opt_threads = 2;
static double       opt_duration = 10;
static double       opt_warmup = 1;
static double       opt_rate;
static double       opt_window = 2;
static int          nwindows;
static long         opt_max = -1;
static long         opt_first;
static const char  *opt_login_path;
static const char  *opt_verify_path = "/2fa/verify";

/* shared */
static long             next_user;
static long             printed_errors;
static int              exhausted;
static double           t_start;         /* the warm-up starts */
static double           t_measure;       /* the measurement starts */
static double           t_end;           /* no new logins after */
static pthread_mutex_t  err_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_in  edge;


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
die(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "loginload: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);

    exit(2);
}


static void
lat_add(lat_t *l, double v)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof(double));
        if (l->v == NULL) {
            die("out of memory");
        }
    }

    l->v[l->n++] = v;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static double
lat_pct(lat_t *l, double p)
{
    size_t  i;

    if (l->n == 0) {
        return 0;
    }

    i = (size_t) (p / 100.0 * (double) l->n);
    if (i >= l->n) {
        i = l->n - 1;
    }

    return l->v[i];
}


/* -m ab: latencies by the window of the measurement they completed in */

static void
window_add(lat_t *w, double t, double v)
{
    int  i;

    if (w == NULL) {
        return;
    }

    i = (int) ((t - t_measure) / opt_window);

    if (i >= 0 && i < nwindows) {
        lat_add(&w[i], v);
    }
}


/* ---- keys, secrets, users ------------------------------------------- */

static void
read_key(const char *path, twofa_key_t *key)
{
    FILE     *f;
    size_t    n;
    uint8_t   buf[4096];

    f = fopen(path, "rb");
    if (f == NULL) {
        die("%s: %s", path, strerror(errno));
    }

    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);

    /* as the module reads it: one trailing newline (CRLF too) ignored */
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r') {
            n--;
        }
    }

    if (twofa_key_init(key, buf, n) != 0) {
        die("%s: not a usable key (%zu bytes)", path, n);
    }
}


static void
user_secret(const char *user, size_t len, uint8_t secret[LL_SECRET_SIZE])
{
    uint8_t  mac[TWOFA_MAC_SIZE];

    if (twofa_hmac_sha256((const uint8_t *) "loginload secret", 16,
                          (const uint8_t *) user, len, mac) != 0)
    {
        die("hmac failed");
    }

    memcpy(secret, mac, LL_SECRET_SIZE);
}


static int
user_name(char *out, size_t size, long i)
{
    return snprintf(out, size, "%s%ld", opt_prefix, i);
}


static void
resp_arg(FILE *out, const char *s, size_t len)
{
    fprintf(out, "$%zu\r\n", len);
    fwrite(s, 1, len, out);
    fputs("\r\n", out);
}


static int
cmd_seed(int argc, char **argv)
{
    int           n, i;
    long          u, count;
    size_t        aad_len, ulen, olen;
    char          user[128], key[512], b64[256], when[32], recovery[32];
    char          aad[512];
    uint8_t       secret[LL_SECRET_SIZE];
    uint8_t       sealed[LL_SECRET_SIZE + TWOFA_SEAL_OVERHEAD];
    const char   *org, *args[12];
    size_t        lens[12];
    twofa_key_t   k;

    if (argc < 3) {
        die("usage: loginload seed KEYFILE PREFIX COUNT [ORG]");
    }

    read_key(argv[0], &k);
    opt_prefix = argv[1];
    count = atol(argv[2]);
    org = argc > 3 ? argv[3] : "default";
    olen = strlen(org);

    snprintf(when, sizeof(when), "%ld", (long) time(NULL));
    snprintf(recovery, sizeof(recovery), "%s:", k.kid);

    /* the org requires 2FA */
    snprintf(key, sizeof(key), "twofa:org:%s", org);
    fputs("*6\r\n", stdout);
    resp_arg(stdout, "HSET", 4);
    resp_arg(stdout, key, strlen(key));
    resp_arg(stdout, "require", 7);
    resp_arg(stdout, "1", 1);
    resp_arg(stdout, "updated", 7);
    resp_arg(stdout, when, strlen(when));

    for (u = 0; u < count; u++) {
        ulen = user_name(user, sizeof(user), u);
        user_secret(user, ulen, secret);

        /* as ngx_http_twofa_secret_aad(): "twofa secret v1\0{org}\0{user}" */
        memcpy(aad, "twofa secret v1", sizeof("twofa secret v1"));
        aad_len = sizeof("twofa secret v1");
        memcpy(aad + aad_len, org, olen);
        aad_len += olen;
        aad[aad_len++] = '\0';
        memcpy(aad + aad_len, user, ulen);
        aad_len += ulen;

        n = twofa_seal(&k, (const uint8_t *) aad, aad_len, secret,
                       sizeof(secret), sealed, sizeof(sealed));
        if (n < 0 || twofa_base64_encode(sealed, n, b64, sizeof(b64)) < 0) {
            die("seal failed");
        }

        snprintf(key, sizeof(key), "twofa:user:%s:%s", org, user);

        args[0] = "HSET";       args[1] = key;
        args[2] = "secret";     args[3] = b64;
        args[4] = "enabled";    args[5] = "1";
        args[6] = "enrolled_at"; args[7] = when;
        args[8] = "last_step";  args[9] = "0";
        args[10] = "recovery";  args[11] = recovery;

        fputs("*12\r\n", stdout);
        for (i = 0; i < 12; i++) {
            lens[i] = strlen(args[i]);
            resp_arg(stdout, args[i], lens[i]);
        }
    }

    twofa_key_free(&k);

    return fflush(stdout) == 0 ? 0 : 1;
}


static int
cmd_cookie(int argc, char **argv)
{
    char             out[TWOFA_COOKIE_MAX + 1];
    twofa_key_t      k;
    twofa_session_t  s;
    const char      *user, *org;

    if (argc < 1) {
        die("usage: loginload cookie KEYFILE [USER [ORG]]");
    }

    read_key(argv[0], &k);
    user = argc > 1 ? argv[1] : "bench-gate";
    org = argc > 2 ? argv[2] : "default";

    memset(&s, 0, sizeof(s));
    s.org_len = strlen(org);
    s.user_len = strlen(user);
    if (s.org_len > TWOFA_ID_MAX || s.user_len > TWOFA_ID_MAX) {
        die("identity too long");
    }

    memcpy(s.org, org, s.org_len);
    memcpy(s.user, user, s.user_len);
    s.iat = time(NULL);
    s.exp = s.iat + 86400;
    s.amr = TWOFA_AMR_TOTP;

    if (twofa_cookie_encode(&k, &s, out, sizeof(out)) < 0) {
        die("cookie encode failed");
    }

    puts(out);
    twofa_key_free(&k);

    return 0;
}


/* ---- the HTTP client -------------------------------------------------- */

static void conn_idle(conn_t *c);


static void
report_error(conn_t *c, const char *what)
{
    size_t  n;

    c->th->errors++;

    pthread_mutex_lock(&err_lock);

    if (printed_errors++ < LL_MAX_ERRORS) {
        n = c->buf_len < 400 ? c->buf_len : 400;
        fprintf(stderr, "loginload: user %s%ld, %s: %s\n%.*s\n---\n",
                opt_prefix, c->user,
                c->stage == STAGE_VERIFY ? "verify" : "login", what,
                (int) n, c->buf);
    }

    pthread_mutex_unlock(&err_lock);
}


static void
conn_open(conn_t *c)
{
    int                 one = 1;
    struct epoll_event  ev;

    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        die("socket: %s", strerror(errno));
    }

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    /* loopback: a blocking connect is immediate */
    if (connect(c->fd, (struct sockaddr *) &edge, sizeof(edge)) != 0) {
        die("connect 127.0.0.1:%d: %s", opt_port, strerror(errno));
    }

    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);

    ev.events = EPOLLIN;
    ev.data.ptr = c;

    if (epoll_ctl(c->th->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
}


static void
conn_reopen(conn_t *c)
{
    epoll_ctl(c->th->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_open(c);
}


static void
conn_want_write(conn_t *c, int on)
{
    struct epoll_event  ev;

    ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(c->th->ep, EPOLL_CTL_MOD, c->fd, &ev);
}


static void
conn_flush(conn_t *c)
{
    ssize_t  n;

    while (c->req_sent < c->req_len) {
        n = write(c->fd, c->req + c->req_sent, c->req_len - c->req_sent);

        if (n < 0) {
            if (errno == EAGAIN) {
                conn_want_write(c, 1);
                return;
            }

            if (errno == EINTR) {
                continue;
            }

            report_error(c, strerror(errno));
            conn_reopen(c);
            conn_idle(c);
            return;
        }

        c->req_sent += n;
    }
}


static void
conn_send(conn_t *c)
{
    c->req_sent = 0;
    c->buf_len = 0;
    c->t_req = now_s();
    conn_flush(c);
}


static int
request_login(conn_t *c)
{
    int     n, ulen;
    char    user[128], body[300];
    const char  *path;

    ulen = user_name(user, sizeof(user), c->user);
    n = snprintf(body, sizeof(body), "user=%.*s&password=pw-%.*s",
                 ulen, user, ulen, user);

    path = opt_login_path ? opt_login_path
                          : c->mode == MODE_PLAIN ? "/login-plain"
                                                   : "/login";

    c->req_len = snprintf(c->req, sizeof(c->req),
        "POST %s?user=%s HTTP/1.1\r\n"
        "Host: bench\r\n"
        "User-Agent: loginload\r\n"
        "Accept: application/json\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: %d\r\n"
        "\r\n"
        "%s", path, user, n, body);

    return 0;
}


static int
request_verify(conn_t *c)
{
    int       n, ulen;
    char      user[128], code[16], body[200];
    uint8_t   secret[LL_SECRET_SIZE];
    uint32_t  v;

    ulen = user_name(user, sizeof(user), c->user);
    user_secret(user, ulen, secret);

    if (twofa_totp(TWOFA_SHA1, secret, sizeof(secret), (uint64_t) time(NULL),
                   30, 6, &v) != 0
        || twofa_code_format(v, 6, code, sizeof(code)) != 0)
    {
        die("totp failed");
    }

    n = snprintf(body, sizeof(body), "code=%s&csrf=%s", code, c->csrf);

    c->req_len = snprintf(c->req, sizeof(c->req),
        "POST %s HTTP/1.1\r\n"
        "Host: bench\r\n"
        "User-Agent: loginload\r\n"
        "Accept: application/json\r\n"
        "Cookie: twofa_hold=%s\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: %d\r\n"
        "\r\n"
        "%s", opt_verify_path, c->hold, n, body);

    return 0;
}


/* Starts the next user's login on c, or leaves c idle: 1 started. */

static int
conn_start(conn_t *c)
{
    long    u;
    double  t;

    t = now_s();

    if (t >= t_end) {
        return 0;
    }

    u = __atomic_fetch_add(&next_user, 1, __ATOMIC_RELAXED);

    if (u >= opt_count || (opt_max >= 0 && u >= opt_max)) {
        __atomic_store_n(&exhausted, 1, __ATOMIC_RELAXED);
        return 0;
    }

    c->user = opt_first + u;
    c->mode = opt_mode != MODE_AB ? opt_mode
                                  : (u % 2 == 0 ? MODE_2FA : MODE_PLAIN);
    c->stage = STAGE_LOGIN;
    c->t_login = t;
    c->th->started++;

    request_login(c);
    conn_send(c);

    return 1;
}


static void
conn_idle(conn_t *c)
{
    thread_t  *th = c->th;

    c->stage = STAGE_IDLE;

    if (th->rate > 0) {
        th->idle[th->nidle++] = c;
        return;
    }

    conn_start(c);
}


/* A header's value in the header block [p, end), or NULL. */

static const char *
header_find(const char *p, const char *end, const char *name,
    const char *after, size_t *len)
{
    size_t       nlen = strlen(name);
    const char  *eol, *v;

    while (p < end) {
        eol = memmem(p, end - p, "\r\n", 2);
        if (eol == NULL) {
            eol = end;
        }

        if ((size_t) (eol - p) > nlen + 1 && p[nlen] == ':'
            && strncasecmp(p, name, nlen) == 0)
        {
            v = p + nlen + 1;
            while (v < eol && *v == ' ') {
                v++;
            }

            if (after == NULL || (size_t) (eol - v) >= strlen(after)) {
                if (after == NULL || strncmp(v, after, strlen(after)) == 0) {
                    *len = eol - v;
                    return v;
                }
            }
        }

        p = eol + 2;
    }

    return NULL;
}


/*
 * The response's length when it is complete in buf, 0 when more is
 * needed, -1 when it cannot be parsed.
 */

static ssize_t
response_complete(conn_t *c, const char **body, size_t *body_len)
{
    char        *hend, *p, *e;
    size_t       len, n, hl;
    const char  *v;

    hend = memmem(c->buf, c->buf_len, "\r\n\r\n", 4);
    if (hend == NULL) {
        return c->buf_len >= sizeof(c->buf) ? -1 : 0;
    }

    hl = hend + 4 - c->buf;

    v = header_find(c->buf, hend + 2, "Content-Length", NULL, &len);
    if (v) {
        n = strtoul(v, NULL, 10);
        if (hl + n > sizeof(c->buf)) {
            return -1;
        }

        if (c->buf_len < hl + n) {
            return 0;
        }

        *body = c->buf + hl;
        *body_len = n;
        return hl + n;
    }

    v = header_find(c->buf, hend + 2, "Transfer-Encoding", "chunked", &len);
    if (v == NULL) {
        *body = c->buf + hl;
        *body_len = 0;
        return hl;          /* no body (e.g. 204/304) */
    }

    /* chunked: walk the chunks; the body is left encoded (small JSON) */
    p = c->buf + hl;
    e = c->buf + c->buf_len;

    for ( ;; ) {
        char  *eol = memmem(p, e - p, "\r\n", 2);

        if (eol == NULL) {
            return c->buf_len >= sizeof(c->buf) ? -1 : 0;
        }

        n = strtoul(p, NULL, 16);
        p = eol + 2;

        if (n == 0) {
            if (e - p < 2) {
                return 0;
            }

            *body = c->buf + hl;
            *body_len = p - (c->buf + hl);
            return p + 2 - c->buf;
        }

        if ((size_t) (e - p) < n + 2) {
            return c->buf_len >= sizeof(c->buf) ? -1 : 0;
        }

        p += n + 2;
    }
}


static int
json_string(const char *body, size_t len, const char *name, char *out,
    size_t size)
{
    char         pat[64];
    const char  *p, *q, *end = body + len;

    snprintf(pat, sizeof(pat), "\"%s\":\"", name);

    p = memmem(body, len, pat, strlen(pat));
    if (p == NULL) {
        return -1;
    }

    p += strlen(pat);
    q = memchr(p, '"', end - p);
    if (q == NULL || (size_t) (q - p) >= size) {
        return -1;
    }

    memcpy(out, p, q - p);
    out[q - p] = '\0';

    return 0;
}


static void
conn_response(conn_t *c, const char *body, size_t body_len)
{
    int          status;
    size_t       len;
    double       t;
    const char  *v, *hend, *semi;
    thread_t    *th = c->th;

    t = now_s();
    status = (c->buf_len > 12) ? atoi(c->buf + 9) : 0;
    hend = memmem(c->buf, c->buf_len, "\r\n\r\n", 4);

    if (c->stage == STAGE_LOGIN) {

        if (c->mode == MODE_PLAIN) {
            if (status != 303) {
                report_error(c, "expected the app's 303");
                conn_idle(c);
                return;
            }

            goto completed;
        }

        if (status != 401) {
            report_error(c, "expected 401 (held, JSON)");
            conn_idle(c);
            return;
        }

        v = header_find(c->buf, hend + 2, "Set-Cookie", "twofa_hold=", &len);
        if (v == NULL
            || json_string(body, body_len, "csrf", c->csrf, sizeof(c->csrf))
               != 0
            || json_string(body, body_len, "twofa", c->hold, sizeof(c->hold))
               != 0
            || strcmp(c->hold, "verify") != 0)
        {
            report_error(c, "no hold cookie, csrf or twofa:verify");
            conn_idle(c);
            return;
        }

        v += sizeof("twofa_hold=") - 1;
        len -= sizeof("twofa_hold=") - 1;
        semi = memchr(v, ';', len);
        if (semi) {
            len = semi - v;
        }

        if (len == 0 || len >= sizeof(c->hold)) {
            report_error(c, "bad hold cookie");
            conn_idle(c);
            return;
        }

        memcpy(c->hold, v, len);
        c->hold[len] = '\0';

        if (t >= t_measure && t < t_end) {
            lat_add(&th->login, (t - c->t_req) * 1e3);
            window_add(th->wlogin, t, (t - c->t_req) * 1e3);
        }

        if (c->mode == MODE_HELD) {
            goto completed;
        }

        c->stage = STAGE_VERIFY;
        request_verify(c);
        conn_send(c);
        return;
    }

    /* the verify: the app's login response, released */

    if (status != 303
        || header_find(c->buf, hend + 2, "Set-Cookie", "twofa_session=", &len)
           == NULL)
    {
        report_error(c, "expected the released 303 with twofa_session");
        conn_idle(c);
        return;
    }

    if (t >= t_measure && t < t_end) {
        lat_add(&th->verify, (t - c->t_req) * 1e3);
    }

completed:

    if (t >= t_measure && t < t_end && c->mode == MODE_PLAIN
        && opt_mode == MODE_AB)
    {
        /* -m ab: the plain half, measured at the same time */
        lat_add(&th->plain, (t - c->t_req) * 1e3);
        window_add(th->wplain, t, (t - c->t_req) * 1e3);
        th->plain_completed++;
        conn_idle(c);
        return;
    }

    if (t >= t_measure && t < t_end) {
        if (c->mode == MODE_PLAIN) {
            lat_add(&th->login, (t - c->t_req) * 1e3);
        }

        lat_add(&th->total, (t - c->t_login) * 1e3);
        th->completed++;
        th->last_done = t;

    } else if (t < t_measure) {
        th->warm++;
    }

    conn_idle(c);
}


static void
conn_readable(conn_t *c)
{
    int          closed = 0;
    ssize_t      n, done;
    size_t       body_len = 0;
    const char  *body = NULL;

    for ( ;; ) {
        if (c->buf_len == sizeof(c->buf)) {
            break;
        }

        n = read(c->fd, c->buf + c->buf_len, sizeof(c->buf) - c->buf_len);

        if (n > 0) {
            c->buf_len += n;
            continue;
        }

        if (n == 0) {
            closed = 1;
            break;
        }

        if (errno == EINTR) {
            continue;
        }

        if (errno != EAGAIN) {
            closed = 1;
        }

        break;
    }

    if (c->stage == STAGE_IDLE) {
        if (closed) {
            conn_reopen(c);
        }

        return;
    }

    done = response_complete(c, &body, &body_len);

    if (done < 0 || (done == 0 && closed)) {
        report_error(c, closed ? "connection closed" : "unparsable response");
        conn_reopen(c);
        conn_idle(c);
        return;
    }

    if (done == 0) {
        return;
    }

    {
        size_t  vlen;
        char   *hend = memmem(c->buf, c->buf_len, "\r\n\r\n", 4);

        if (header_find(c->buf, hend + 2, "Connection", "close", &vlen)) {
            closed = 1;
        }
    }

    if (closed) {
        /* the response stays in buf: a new connection for what follows */
        conn_reopen(c);
    }

    conn_response(c, body, body_len);
}


/* ---- the threads ------------------------------------------------------ */

static void
timer_arm(thread_t *th, double at)
{
    struct itimerspec  its;

    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t) at;
    its.it_value.tv_nsec = (long) ((at - (double) (time_t) at) * 1e9);

    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) {
        its.it_value.tv_nsec = 1;
    }

    timerfd_settime(th->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}


/* Open loop: starts the logins whose slots are due on idle connections. */

static void
slots_run(thread_t *th)
{
    conn_t  *c;
    double   t;

    t = now_s();

    while (th->nidle > 0 && t >= th->next_slot && t < t_end) {
        c = th->idle[--th->nidle];

        if (!conn_start(c)) {
            th->idle[th->nidle++] = c;
            return;
        }

        th->next_slot += 1.0 / th->rate;
    }

    if (th->nidle > 0 && th->next_slot < t_end) {
        timer_arm(th, th->next_slot);
    }
}


static void *
thread_main(void *arg)
{
    thread_t            *th = arg;
    int                  i, n, busy;
    uint64_t             ticks;
    double               t;
    conn_t              *c;
    struct epoll_event   evs[256];

    if (th->rate > 0) {
        for (i = 0; i < th->nconns; i++) {
            th->idle[th->nidle++] = &th->conns[i];
        }

        th->next_slot = t_start;
        slots_run(th);

    } else {
        for (i = 0; i < th->nconns; i++) {
            conn_start(&th->conns[i]);
        }
    }

    for ( ;; ) {
        t = now_s();

        busy = 0;
        for (i = 0; i < th->nconns; i++) {
            busy += (th->conns[i].stage != STAGE_IDLE);
        }

        if (busy == 0
            && (t >= t_end || __atomic_load_n(&exhausted, __ATOMIC_RELAXED)))
        {
            break;
        }

        if (t >= t_end + LL_DRAIN_SECONDS) {
            th->errors += busy;
            fprintf(stderr, "loginload: %d requests unanswered at the end\n",
                    busy);
            break;
        }

        n = epoll_wait(th->ep, evs, 256, 100);

        for (i = 0; i < n; i++) {

            if (evs[i].data.ptr == th) {
                if (read(th->tfd, &ticks, sizeof(ticks)) < 0) {
                    /* spurious */
                }

                continue;
            }

            c = evs[i].data.ptr;

            if (evs[i].events & EPOLLOUT) {
                conn_flush(c);
                if (c->req_sent == c->req_len) {
                    conn_want_write(c, 0);
                }
            }

            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                conn_readable(c);
            }
        }

        if (th->rate > 0) {
            slots_run(th);
        }
    }

    return NULL;
}


static void
merge(lat_t *to, lat_t *from)
{
    size_t  i;

    for (i = 0; i < from->n; i++) {
        lat_add(to, from->v[i]);
    }
}


static void
print_lat(const char *name, lat_t *l)
{
    qsort(l->v, l->n, sizeof(double), cmp_double);

    printf("%s_n=%zu\n", name, l->n);
    printf("%s_p50_ms=%.3f\n", name, lat_pct(l, 50));
    printf("%s_p90_ms=%.3f\n", name, lat_pct(l, 90));
    printf("%s_p99_ms=%.3f\n", name, lat_pct(l, 99));
    printf("%s_max_ms=%.3f\n", name, l->n ? l->v[l->n - 1] : 0.0);
}


/*
 * -m ab: p99 of the held login minus p99 of the plain one in each window,
 * and their median: robust to a burst of noise from other processes.
 */

static void
print_windows(thread_t *ths)
{
    int     i, j, n;
    double  d[1024];
    lat_t   a, b;

    n = 0;
    printf("window_s=%.1f\nwindow_diffs_ms=", opt_window);

    for (i = 0; i < nwindows && n < 1024; i++) {
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));

        for (j = 0; j < opt_threads; j++) {
            merge(&a, &ths[j].wlogin[i]);
            merge(&b, &ths[j].wplain[i]);
        }

        if (a.n < 100 || b.n < 100) {
            free(a.v);
            free(b.v);
            continue;
        }

        qsort(a.v, a.n, sizeof(double), cmp_double);
        qsort(b.v, b.n, sizeof(double), cmp_double);

        d[n] = lat_pct(&a, 99) - lat_pct(&b, 99);
        printf("%s%.3f", n ? "," : "", d[n]);
        n++;

        free(a.v);
        free(b.v);
    }

    qsort(d, n, sizeof(double), cmp_double);

    printf("\nwindows=%d\n", n);
    printf("hold_p99_added_median_ms=%.3f\n",
           n == 0 ? 0.0 : n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2);
}


static int
cmd_run(int argc, char **argv)
{
    int                  i, j, o, per;
    long                 completed = 0, started = 0, errors = 0, warm = 0;
    double               last = 0, seconds;
    long                 plain_completed = 0;
    lat_t                login = {0}, verify = {0}, total = {0},
                         plain = {0};
    thread_t            *ths;
    struct epoll_event   ev;

    optind = 0;

    while ((o = getopt(argc + 1, argv - 1, "p:m:u:n:s:c:t:d:w:r:W:N:l:v:"))
           != -1)
    {
        switch (o) {
        case 'p': opt_port = atoi(optarg); break;
        case 'm':
            opt_mode = strcmp(optarg, "2fa") == 0 ? MODE_2FA
                       : strcmp(optarg, "held") == 0 ? MODE_HELD
                       : strcmp(optarg, "plain") == 0 ? MODE_PLAIN
                       : strcmp(optarg, "ab") == 0 ? MODE_AB : -1;
            if (opt_mode < 0) {
                die("mode: 2fa, held, plain or ab");
            }
            break;
        case 'u': opt_prefix = optarg; break;
        case 'n': opt_count = atol(optarg); break;
        case 's': opt_first = atol(optarg); break;
        case 'c': opt_conns = atoi(optarg); break;
        case 't': opt_threads = atoi(optarg); break;
        case 'd': opt_duration = atof(optarg); break;
        case 'w': opt_warmup = atof(optarg); break;
        case 'r': opt_rate = atof(optarg); break;
        case 'W': opt_window = atof(optarg); break;
        case 'N': opt_max = atol(optarg); break;
        case 'l': opt_login_path = optarg; break;
        case 'v': opt_verify_path = optarg; break;
        default: die("run: bad option");
        }
    }

    if (opt_port <= 0 || opt_count <= 0 || opt_conns <= 0
        || opt_threads <= 0 || opt_threads > opt_conns)
    {
        die("run: -p PORT -n COUNT needed; 0 < threads <= conns");
    }

    memset(&edge, 0, sizeof(edge));
    edge.sin_family = AF_INET;
    edge.sin_port = htons(opt_port);
    edge.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (opt_window <= 0) {
        die("run: -W must be positive");
    }

    /* whole windows only */
    nwindows = (int) (opt_duration / opt_window + 1e-9);
    if (nwindows < 1) {
        nwindows = 1;
    }

    ths = calloc(opt_threads, sizeof(thread_t));
    if (ths == NULL) {
        die("out of memory");
    }

    for (i = 0; i < opt_threads; i++) {
        thread_t  *th = &ths[i];

        per = opt_conns / opt_threads + (i < opt_conns % opt_threads);

        th->nconns = per;
        th->conns = calloc(per, sizeof(conn_t));
        th->idle = calloc(per, sizeof(conn_t *));
        th->rate = opt_rate / opt_threads;

        if (opt_mode == MODE_AB) {
            th->wlogin = calloc(nwindows, sizeof(lat_t));
            th->wplain = calloc(nwindows, sizeof(lat_t));
            if (th->wlogin == NULL || th->wplain == NULL) {
                die("out of memory");
            }
        }
        th->ep = epoll_create1(0);
        th->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);

        if (th->conns == NULL || th->idle == NULL || th->ep < 0
            || th->tfd < 0)
        {
            die("thread setup: %s", strerror(errno));
        }

        ev.events = EPOLLIN;
        ev.data.ptr = th;
        epoll_ctl(th->ep, EPOLL_CTL_ADD, th->tfd, &ev);

        for (j = 0; j < per; j++) {
            th->conns[j].th = th;
            th->conns[j].stage = STAGE_IDLE;
            conn_open(&th->conns[j]);
        }
    }

    t_start = now_s();
    t_measure = t_start + opt_warmup;
    t_end = t_measure + opt_duration;

    for (i = 0; i < opt_threads; i++) {
        if (pthread_create(&ths[i].tid, NULL, thread_main, &ths[i]) != 0) {
            die("pthread_create failed");
        }
    }

    for (i = 0; i < opt_threads; i++) {
        pthread_join(ths[i].tid, NULL);

        completed += ths[i].completed;
        started += ths[i].started;
        errors += ths[i].errors;
        warm += ths[i].warm;
        plain_completed += ths[i].plain_completed;
        if (ths[i].last_done > last) {
            last = ths[i].last_done;
        }

        merge(&login, &ths[i].login);
        merge(&verify, &ths[i].verify);
        merge(&total, &ths[i].total);
        merge(&plain, &ths[i].plain);
    }

    /* users ran out before the end: the window ends at the last login */
    seconds = opt_duration;
    if (exhausted && last > t_measure && last < t_end) {
        seconds = last - t_measure;
    }

    printf("mode=%s\n", opt_mode == MODE_2FA ? "2fa"
                        : opt_mode == MODE_HELD ? "held"
                        : opt_mode == MODE_AB ? "ab" : "plain");
    printf("conns=%d\nthreads=%d\nrate=%.0f\n", opt_conns, opt_threads,
           opt_rate);
    printf("started=%ld\nwarmup_completed=%ld\ncompleted=%ld\nerrors=%ld\n",
           started, warm, completed, errors);
    printf("exhausted=%d\nseconds=%.3f\n", exhausted, seconds);
    printf("logins_per_s=%.1f\n", seconds > 0 ? completed / seconds : 0.0);

    {
        struct rusage  ru;

        getrusage(RUSAGE_SELF, &ru);
        printf("cpu_ms=%.0f\n", (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
                                 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)
                                   / 1e3);
    }

    print_lat("login", &login);
    if (opt_mode == MODE_2FA || opt_mode == MODE_AB) {
        print_lat("verify", &verify);
    }
    print_lat("total", &total);
    if (opt_mode == MODE_AB) {
        printf("plain_completed=%ld\n", plain_completed);
        print_lat("plain", &plain);
        print_windows(ths);
    }

    return errors ? 1 : 0;
}


/* what ngx_http_twofa_bind.c MACs: "bind:" SESSION ("\n" NAME=VALUE)... */

static int
cmd_bind(int argc, char **argv)
{
    int          i;
    char         token[TWOFA_CSRF_LEN + 1], binding[8192];
    size_t       len, n;
    twofa_key_t  k;

    if (argc < 3) {
        die("usage: loginload bind KEYFILE SESSION NAME=VALUE...");
    }

    read_key(argv[0], &k);

    len = (size_t) snprintf(binding, sizeof(binding), "bind:%s", argv[1]);

    for (i = 2; i < argc; i++) {
        n = strlen(argv[i]);
        if (len + 1 + n >= sizeof(binding)) {
            die("binding too long");
        }

        binding[len++] = '\n';
        memcpy(binding + len, argv[i], n);
        len += n;
    }

    if (twofa_csrf_token(&k, binding, len, token) != 0) {
        die("bind token failed");
    }

    puts(token);
    twofa_key_free(&k);

    return 0;
}


int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "seed") == 0) {
        return cmd_seed(argc - 2, argv + 2);
    }

    if (argc >= 2 && strcmp(argv[1], "cookie") == 0) {
        return cmd_cookie(argc - 2, argv + 2);
    }

    if (argc >= 2 && strcmp(argv[1], "bind") == 0) {
        return cmd_bind(argc - 2, argv + 2);
    }

    if (argc >= 2 && strcmp(argv[1], "run") == 0) {
        return cmd_run(argc - 2, argv + 2);
    }

    fprintf(stderr, "usage: loginload seed|cookie|bind|run ... "
                    "(see the comment at the top of bench/loginload.c)\n");
    return 2;
}
