/*
 * twofa-admin: the operator's command line for twofa-edge.
 *
 * It reads and writes the Redis keys of the module, with the meaning the
 * module gives them (src/ngx_http_twofa_store.c):
 *
 *   {prefix}org:{org}          hash     require "1"/"0", updated (unix)
 *   {prefix}user:{org}:{user}  hash     secret, enabled, enrolled_at,
 *                                       last_step, recovery
 *   {prefix}fail:{org}:{user}  counter  failed codes, the window as TTL
 *
 * Synchronous hiredis is right here: a command-line tool has nothing else
 * to do while it waits, and --timeout bounds every wait.  The secret and
 * the recovery hashes never leave Redis: a script counts them there.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include "twofa_cookie.h"


/* exit codes: part of the interface, documented in --help */
#define TWOFA_ADMIN_OK           0
#define TWOFA_ADMIN_EREDIS       1
#define TWOFA_ADMIN_EUSAGE       2
#define TWOFA_ADMIN_HELP         (-1)    /* internal: --help was asked */

#define TWOFA_ADMIN_PREFIX_MAX   64      /* as twofa_redis prefix= */
#define TWOFA_ADMIN_PASSWORD_MAX 4096    /* as twofa_redis password_file= */
#define TWOFA_ADMIN_HOST_MAX     255
#define TWOFA_ADMIN_KEY_MAX                                                  \
    (TWOFA_ADMIN_PREFIX_MAX + sizeof("user:") - 1 + 2 * TWOFA_ID_MAX + 1)
#define TWOFA_ADMIN_TIME_LEN     sizeof("2026-11-27T22:33:39Z")
#define TWOFA_ADMIN_INT_LEN      24
#define TWOFA_ADMIN_AUDIT_MAX    512

#define TWOFA_ADMIN_UNIX_MAX                                                 \
    sizeof(((struct sockaddr_un *) 0)->sun_path)


typedef struct {
    /* options */
    const char      *addr;           /* as given, for messages */
    char             host[TWOFA_ADMIN_HOST_MAX + 1];
    int              port;
    char             unix_path[TWOFA_ADMIN_UNIX_MAX];
    const char      *password_file;
    long             db;
    const char      *prefix;
    size_t           prefix_len;
    long             timeout;        /* ms */
    long             lockout;
    int              json;

    /* the command */
    const char      *cmd;            /* "org require", "user show", ... */
    const char      *org;
    const char      *user;
    int              require;

    /* run time */
    redisContext    *c;
    char             password[TWOFA_ADMIN_PASSWORD_MAX + 1];
    size_t           password_len;
    int              fields;         /* output fields written so far */
} twofa_admin_t;


static int twofa_admin_options(twofa_admin_t *adm, int argc, char **argv,
    int *next);
static int twofa_admin_is(const char *arg, size_t len, const char *name);
static int twofa_admin_command_line(twofa_admin_t *adm, int argc,
    char **argv);
static int twofa_admin_parse_addr(twofa_admin_t *adm, const char *addr);
static int twofa_admin_parse_long(const char *s, long min, long max,
    long *out);
static int twofa_admin_parse_timeout(const char *s, long *out);
static int twofa_admin_parse_int64(const char *s, size_t len, int64_t *out);
static int twofa_admin_check_ident(const char *what, const char *value);
static int twofa_admin_read_password(twofa_admin_t *adm);

static int twofa_admin_connect(twofa_admin_t *adm);
static redisReply *twofa_admin_redis(twofa_admin_t *adm, const char *what,
    int argc, const char **argv, const size_t *lens);
static size_t twofa_admin_key(twofa_admin_t *adm, char *buf,
    const char *kind, const char *org, const char *user);

static int twofa_admin_org_require(twofa_admin_t *adm);
static int twofa_admin_init(twofa_admin_t *adm);
static int twofa_admin_org_show(twofa_admin_t *adm);
static int twofa_admin_user_show(twofa_admin_t *adm);
static int twofa_admin_user_reset(twofa_admin_t *adm);

static void twofa_admin_audit(twofa_admin_t *adm, time_t now,
    const char *what);
static void twofa_admin_time(int64_t t, char *buf);
static void twofa_admin_out_begin(twofa_admin_t *adm);
static void twofa_admin_out_key(twofa_admin_t *adm, const char *key);
static void twofa_admin_out_str(twofa_admin_t *adm, const char *key,
    const char *value);
static void twofa_admin_out_flag(twofa_admin_t *adm, const char *key,
    int value, const char *yes, const char *no);
static void twofa_admin_out_int(twofa_admin_t *adm, const char *key,
    long long value);
static void twofa_admin_out_time(twofa_admin_t *adm, const char *key,
    int64_t t);
static int twofa_admin_out_end(twofa_admin_t *adm);
static void twofa_admin_json_string(const char *s);
static void twofa_admin_print_value(FILE *f, const char *s);
static int twofa_admin_usage(const char *fmt, const char *arg);
static void twofa_admin_help(void);


/*
 * KEYS: user, fail, org.  The state of one user in one atomic read; only
 * whether a secret exists and how many recovery hashes are left come back,
 * counted as the module counts them.
 */

static const char  twofa_admin_lua_show[] =
    "local f = redis.call('HMGET', KEYS[1], 'enabled', 'enrolled_at',"
                          " 'recovery')\n"
    "local has = redis.call('EXISTS', KEYS[1])\n"
    "local sec = redis.call('HEXISTS', KEYS[1], 'secret')\n"
    "local left = 0\n"
    "if f[1] == '1' and f[3] then\n"
    "  local k, list = string.match(f[3], '^([^:]*):(.*)$')\n"
    "  if k then\n"
    "    for _ in string.gmatch(list, '[^,]+') do left = left + 1 end\n"
    "  end\n"
    "end\n"
    "local fails = redis.call('GET', KEYS[2]) or ''\n"
    "local ttl = redis.call('PTTL', KEYS[2])\n"
    "local req = redis.call('HGET', KEYS[3], 'require') or ''\n"
    "return {has, f[1] or '', sec, f[2] or '', left, fails, ttl, req}\n";


/*
 * KEYS: user, fail, holds, revocations.  ARGV: hold key prefix, now,
 * "org\nuser", channel.  The module's reset: the user's TOTP state, live
 * holds and failures go, and the sessions made before now are revoked on
 * every edge; what was there before is read in the same atomic step.
 */

static const char  twofa_admin_lua_reset[] =
    "local existed = redis.call('EXISTS', KEYS[1])\n"
    "local en = redis.call('HGET', KEYS[1], 'enabled') == '1'\n"
    "for _, t in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do\n"
    "  redis.call('DEL', ARGV[1] .. t)\n"
    "end\n"
    "redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])\n"
    "redis.call('HSET', KEYS[4], ARGV[3], ARGV[2])\n"
    "redis.call('PUBLISH', ARGV[4], ARGV[2] .. '\\n' .. ARGV[3])\n"
    "return {existed, en and 1 or 0}\n";


/*
 * KEYS: org, deployment.  ARGV: require, now.  A Redis without the
 * deployment marker lost its data: no policy is written into it.
 */

static const char  twofa_admin_lua_require[] =
    "if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end\n"
    "return redis.call('HSET', KEYS[1], 'require', ARGV[1], 'updated',"
                      " ARGV[2])\n";


/* KEYS: deployment.  ARGV: now, by.  1 when it was made now. */

static const char  twofa_admin_lua_init[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'created', ARGV[1], 'by', ARGV[2])\n"
    "return 1\n";


int
main(int argc, char **argv)
{
    int            rc, next;
    twofa_admin_t  adm;

    memset(&adm, 0, sizeof(twofa_admin_t));

    /* a peer gone mid-write (Redis, or stdout's reader) is an error */
    signal(SIGPIPE, SIG_IGN);

    rc = twofa_admin_options(&adm, argc, argv, &next);
    if (rc == TWOFA_ADMIN_HELP) {
        twofa_admin_help();
        rc = TWOFA_ADMIN_OK;
        goto done;
    }

    if (rc != TWOFA_ADMIN_OK) {
        goto done;
    }

    /* everything is checked before anything touches Redis */

    rc = twofa_admin_command_line(&adm, argc - next, argv + next);
    if (rc != TWOFA_ADMIN_OK) {
        goto done;
    }

    if (adm.password_file) {
        rc = twofa_admin_read_password(&adm);
        if (rc != TWOFA_ADMIN_OK) {
            goto done;
        }
    }

    rc = twofa_admin_connect(&adm);
    if (rc != TWOFA_ADMIN_OK) {
        goto done;
    }

    if (strcmp(adm.cmd, "init") == 0) {
        rc = twofa_admin_init(&adm);

    } else if (strcmp(adm.cmd, "org require") == 0) {
        rc = twofa_admin_org_require(&adm);

    } else if (strcmp(adm.cmd, "org show") == 0) {
        rc = twofa_admin_org_show(&adm);

    } else if (strcmp(adm.cmd, "user show") == 0) {
        rc = twofa_admin_user_show(&adm);

    } else {
        rc = twofa_admin_user_reset(&adm);
    }

done:

    if (adm.c) {
        redisFree(adm.c);
    }

    OPENSSL_cleanse(adm.password, sizeof(adm.password));

    return rc;
}


/*
 * Options come before COMMAND and stop at the first word that is not one:
 * identity values may start with "-", so what follows COMMAND is taken
 * literally.  "--name value" and "--name=value" are both accepted.
 */

static int
twofa_admin_options(twofa_admin_t *adm, int argc, char **argv, int *next)
{
    int          i;
    size_t       nlen;
    const char  *arg, *eq, *value;

    *next = argc;

    adm->addr = "127.0.0.1:6379";
    adm->prefix = "twofa:";
    adm->timeout = 2000;
    adm->lockout = 5;

    for (i = 1; i < argc; i++) {
        arg = argv[i];

        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }

        if (arg[0] != '-' || arg[1] == '\0') {
            break;
        }

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            return TWOFA_ADMIN_HELP;
        }

        if (strcmp(arg, "--json") == 0) {
            adm->json = 1;
            continue;
        }

        eq = strchr(arg, '=');
        nlen = eq ? (size_t) (eq - arg) : strlen(arg);

        if (eq) {
            value = eq + 1;

        } else if (i + 1 < argc) {
            value = argv[++i];

        } else {
            return twofa_admin_usage("option \"%s\" needs a value", arg);
        }

        if (twofa_admin_is(arg, nlen, "--redis")) {
            adm->addr = value;

        } else if (twofa_admin_is(arg, nlen, "--password-file")) {
            if (value[0] == '\0') {
                return twofa_admin_usage("--password-file needs a file name",
                                         NULL);
            }

            adm->password_file = value;

        } else if (twofa_admin_is(arg, nlen, "--db")) {
            if (twofa_admin_parse_long(value, 0, 65535, &adm->db) != 0) {
                return twofa_admin_usage("invalid --db \"%s\": 0 to 65535",
                                         value);
            }

        } else if (twofa_admin_is(arg, nlen, "--prefix")) {
            adm->prefix = value;

        } else if (twofa_admin_is(arg, nlen, "--timeout")) {
            if (twofa_admin_parse_timeout(value, &adm->timeout) != 0) {
                return twofa_admin_usage("invalid --timeout \"%s\": "
                                         "1 to 3600000 ms (\"500\", "
                                         "\"500ms\", \"2s\")", value);
            }

        } else if (twofa_admin_is(arg, nlen, "--lockout")) {
            if (twofa_admin_parse_long(value, 1, 1000000, &adm->lockout)
                != 0)
            {
                return twofa_admin_usage("invalid --lockout \"%s\": "
                                         "1 to 1000000", value);
            }

        } else {
            return twofa_admin_usage("unknown option \"%s\"", arg);
        }
    }

    *next = i;

    if (twofa_admin_parse_addr(adm, adm->addr) != 0) {
        return twofa_admin_usage("invalid --redis \"%s\": host:port, "
                                 "[ipv6]:port or unix:/path", adm->addr);
    }

    /* the module's rule for prefix=, so both name the same keys */

    adm->prefix_len = strlen(adm->prefix);

    if (adm->prefix_len == 0 || adm->prefix_len > TWOFA_ADMIN_PREFIX_MAX) {
        return twofa_admin_usage("invalid --prefix \"%s\": 1 to 64 "
                                 "printable characters, no spaces",
                                 adm->prefix);
    }

    for (i = 0; i < (int) adm->prefix_len; i++) {
        if ((unsigned char) adm->prefix[i] <= ' '
            || (unsigned char) adm->prefix[i] >= 0x7f)
        {
            return twofa_admin_usage("invalid --prefix \"%s\": 1 to 64 "
                                     "printable characters, no spaces",
                                     adm->prefix);
        }
    }

    return TWOFA_ADMIN_OK;
}


static int
twofa_admin_is(const char *arg, size_t len, const char *name)
{
    return strlen(name) == len && strncmp(arg, name, len) == 0;
}


static int
twofa_admin_command_line(twofa_admin_t *adm, int argc, char **argv)
{
    int          want;
    const char  *obj, *verb;

    if (argc == 1 && strcmp(argv[0], "init") == 0) {
        adm->cmd = "init";
        return TWOFA_ADMIN_OK;
    }

    if (argc < 2) {
        return twofa_admin_usage(argc ? "\"%s\" needs a subcommand"
                                      : "no command given", argv[0]);
    }

    obj = argv[0];
    verb = argv[1];

    if (strcmp(obj, "org") == 0 && strcmp(verb, "require") == 0) {
        adm->cmd = "org require";
        want = 4;

    } else if (strcmp(obj, "org") == 0 && strcmp(verb, "show") == 0) {
        adm->cmd = "org show";
        want = 3;

    } else if (strcmp(obj, "user") == 0 && strcmp(verb, "show") == 0) {
        adm->cmd = "user show";
        want = 4;

    } else if (strcmp(obj, "user") == 0 && strcmp(verb, "reset") == 0) {
        adm->cmd = "user reset";
        want = 4;

    } else {
        return twofa_admin_usage("unknown command \"%s\"",
                                 strcmp(obj, "org") == 0
                                 || strcmp(obj, "user") == 0 ? verb : obj);
    }

    if (argc != want) {
        if (argc > want && argv[want][0] == '-') {
            return twofa_admin_usage("too many arguments for \"%s\" "
                                     "(options go before the command)",
                                     adm->cmd);
        }

        return twofa_admin_usage(argc > want
                                 ? "too many arguments for \"%s\""
                                 : "too few arguments for \"%s\"",
                                 adm->cmd);
    }

    adm->org = argv[2];

    if (twofa_admin_check_ident("org", adm->org) != 0) {
        return TWOFA_ADMIN_EUSAGE;
    }

    if (strcmp(adm->cmd, "org require") == 0) {
        if (strcmp(argv[3], "on") == 0) {
            adm->require = 1;

        } else if (strcmp(argv[3], "off") == 0) {
            adm->require = 0;

        } else {
            return twofa_admin_usage("\"org require\" takes on or off, "
                                     "not \"%s\"", argv[3]);
        }

    } else if (strcmp(obj, "user") == 0) {
        adm->user = argv[3];

        if (twofa_admin_check_ident("user", adm->user) != 0) {
            return TWOFA_ADMIN_EUSAGE;
        }
    }

    return TWOFA_ADMIN_OK;
}


/* host:port, host (port 6379), [ipv6]:port, [ipv6], or unix:/path */

static int
twofa_admin_parse_addr(twofa_admin_t *adm, const char *addr)
{
    long         port;
    size_t       len;
    const char  *host, *end, *colon;

    if (strncmp(addr, "unix:", 5) == 0) {
        len = strlen(addr + 5);

        if (addr[5] != '/' || len >= TWOFA_ADMIN_UNIX_MAX) {
            return -1;
        }

        memcpy(adm->unix_path, addr + 5, len + 1);
        return 0;
    }

    port = 6379;

    if (addr[0] == '[') {
        host = addr + 1;
        end = strchr(host, ']');

        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            return -1;
        }

        colon = end[1] == ':' ? end + 1 : NULL;

    } else {
        host = addr;
        colon = strchr(addr, ':');

        /* a bare IPv6 address has several colons and no port */

        if (colon && strchr(colon + 1, ':')) {
            colon = NULL;
        }

        end = colon ? colon : addr + strlen(addr);
    }

    if (colon
        && twofa_admin_parse_long(colon + 1, 1, 65535, &port) != 0)
    {
        return -1;
    }

    len = (size_t) (end - host);

    if (len == 0 || len > TWOFA_ADMIN_HOST_MAX) {
        return -1;
    }

    memcpy(adm->host, host, len);
    adm->host[len] = '\0';
    adm->port = (int) port;

    return 0;
}


/* A plain decimal in [min, max]: no sign, no spaces, no suffix. */

static int
twofa_admin_parse_long(const char *s, long min, long max, long *out)
{
    long  v;

    if (*s == '\0') {
        return -1;
    }

    for (v = 0; *s; s++) {
        if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10) {
            return -1;
        }

        v = v * 10 + (*s - '0');
    }

    if (v < min) {
        return -1;
    }

    *out = v;

    return 0;
}


/* "500", "500ms" or "2s", so a value copied from nginx.conf works too */

static int
twofa_admin_parse_timeout(const char *s, long *out)
{
    char    digits[16];
    long    mult, v;
    size_t  len, n;

    len = strlen(s);
    mult = 1;
    n = len;

    if (len > 2 && strcmp(s + len - 2, "ms") == 0) {
        n = len - 2;

    } else if (len > 1 && s[len - 1] == 's') {
        n = len - 1;
        mult = 1000;
    }

    if (n == 0 || n >= sizeof(digits)) {
        return -1;
    }

    memcpy(digits, s, n);
    digits[n] = '\0';

    if (twofa_admin_parse_long(digits, 1, 3600000 / mult, &v) != 0) {
        return -1;
    }

    *out = v * mult;

    return 0;
}


/* A stored decimal (enrolled_at, updated, the fail counter). */

static int
twofa_admin_parse_int64(const char *s, size_t len, int64_t *out)
{
    int       neg;
    size_t    i;
    uint64_t  v;

    neg = (len > 0 && s[0] == '-');
    i = neg ? 1 : 0;

    if (i == len || len - i > 18) {
        return -1;
    }

    for (v = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (uint64_t) (s[i] - '0');
    }

    *out = neg ? -(int64_t) v : (int64_t) v;

    return 0;
}


static int
twofa_admin_check_ident(const char *what, const char *value)
{
    if (twofa_ident_valid(value, strlen(value))) {
        return 0;
    }

    fprintf(stderr, "twofa-admin: invalid %s ", what);
    twofa_admin_print_value(stderr, value);
    fprintf(stderr, ": not an identity the module accepts (1 to %d "
            "visible ASCII characters, none of : | / \\ \" * ? [ ])\n",
            TWOFA_ID_MAX);

    return -1;
}


/*
 * One line, as the module reads password_file=: its bytes without one
 * trailing newline (LF or CRLF).
 */

static int
twofa_admin_read_password(twofa_admin_t *adm)
{
    int      fd, rc;
    size_t   len;
    ssize_t  n;

    rc = TWOFA_ADMIN_EUSAGE;
    len = 0;

    fd = open(adm->password_file, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "twofa-admin: cannot open password file \"%s\": "
                "%s\n", adm->password_file, strerror(errno));
        return rc;
    }

    /* one byte more than allowed, to see a file that is too long */

    while (len < sizeof(adm->password)) {
        n = read(fd, adm->password + len, sizeof(adm->password) - len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1) {
            fprintf(stderr, "twofa-admin: cannot read password file "
                    "\"%s\": %s\n", adm->password_file, strerror(errno));
            goto done;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;
    }

    if (len > TWOFA_ADMIN_PASSWORD_MAX) {
        fprintf(stderr, "twofa-admin: password file \"%s\" is larger than "
                "%d bytes\n", adm->password_file, TWOFA_ADMIN_PASSWORD_MAX);
        goto done;
    }

    if (len > 0 && adm->password[len - 1] == '\n') {
        len--;
        if (len > 0 && adm->password[len - 1] == '\r') {
            len--;
        }
    }

    if (len == 0) {
        fprintf(stderr, "twofa-admin: password file \"%s\" is empty\n",
                adm->password_file);
        goto done;
    }

    adm->password_len = len;
    rc = TWOFA_ADMIN_OK;

done:

    close(fd);

    return rc;
}


static int
twofa_admin_connect(twofa_admin_t *adm)
{
    int              rc;
    char             db[TWOFA_ADMIN_INT_LEN];
    size_t           lens[2];
    const char      *argv[2];
    redisReply      *reply;
    struct timeval   tv;

    tv.tv_sec = adm->timeout / 1000;
    tv.tv_usec = (adm->timeout % 1000) * 1000;

    if (adm->unix_path[0]) {
        adm->c = redisConnectUnixWithTimeout(adm->unix_path, tv);

    } else {
        adm->c = redisConnectWithTimeout(adm->host, adm->port, tv);
    }

    if (adm->c == NULL) {
        fprintf(stderr, "twofa-admin: out of memory\n");
        return TWOFA_ADMIN_EREDIS;
    }

    if (adm->c->err) {
        fprintf(stderr, "twofa-admin: redis %s: cannot connect: %s\n",
                adm->addr, adm->c->errstr);
        return TWOFA_ADMIN_EREDIS;
    }

    /* the connect timeout does not cover replies */

    if (redisSetTimeout(adm->c, tv) != REDIS_OK) {
        fprintf(stderr, "twofa-admin: redis %s: cannot set the timeout: "
                "%s\n", adm->addr, adm->c->errstr);
        return TWOFA_ADMIN_EREDIS;
    }

    rc = TWOFA_ADMIN_OK;

    if (adm->password_len) {
        argv[0] = "AUTH";
        lens[0] = 4;
        argv[1] = adm->password;
        lens[1] = adm->password_len;

        reply = twofa_admin_redis(adm, "AUTH", 2, argv, lens);

        OPENSSL_cleanse(adm->password, sizeof(adm->password));

        if (reply == NULL) {
            return TWOFA_ADMIN_EREDIS;
        }

        if (reply->type != REDIS_REPLY_STATUS) {
            fprintf(stderr, "twofa-admin: redis %s: unexpected reply to "
                    "AUTH\n", adm->addr);
            rc = TWOFA_ADMIN_EREDIS;
        }

        freeReplyObject(reply);

        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    if (adm->db) {
        argv[0] = "SELECT";
        lens[0] = 6;
        argv[1] = db;
        lens[1] = (size_t) snprintf(db, sizeof(db), "%ld", adm->db);

        reply = twofa_admin_redis(adm, "SELECT", 2, argv, lens);
        if (reply == NULL) {
            return TWOFA_ADMIN_EREDIS;
        }

        if (reply->type != REDIS_REPLY_STATUS) {
            fprintf(stderr, "twofa-admin: redis %s: unexpected reply to "
                    "SELECT\n", adm->addr);
            rc = TWOFA_ADMIN_EREDIS;
        }

        freeReplyObject(reply);
    }

    return rc;
}


/*
 * One command.  NULL after a message on stderr when there is no reply or
 * an error reply; the caller owns any reply returned.
 */

static redisReply *
twofa_admin_redis(twofa_admin_t *adm, const char *what, int argc,
    const char **argv, const size_t *lens)
{
    int          err;
    redisReply  *reply;

    errno = 0;

    reply = redisCommandArgv(adm->c, argc, argv, lens);

    err = errno;

    if (reply == NULL) {
        if (adm->c->err == REDIS_ERR_IO
            && (err == EAGAIN || err == EWOULDBLOCK))
        {
            fprintf(stderr, "twofa-admin: redis %s: %s: no reply within "
                    "%ld ms\n", adm->addr, what, adm->timeout);

        } else {
            fprintf(stderr, "twofa-admin: redis %s: %s: %s\n", adm->addr,
                    what, adm->c->err ? adm->c->errstr : "no reply");
        }

        return NULL;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "twofa-admin: redis %s: %s: %.*s%s\n", adm->addr,
                what, (int) reply->len, reply->str,
                strncmp(reply->str, "NOAUTH", 6) == 0
                ? " (see --password-file)" : "");
        freeReplyObject(reply);
        return NULL;
    }

    return reply;
}


/* {prefix}{kind}{org}[:{user}], as the module builds its keys */

static size_t
twofa_admin_key(twofa_admin_t *adm, char *buf, const char *kind,
    const char *org, const char *user)
{
    char    *p;
    size_t   n;

    p = buf;

    memcpy(p, adm->prefix, adm->prefix_len);
    p += adm->prefix_len;

    n = strlen(kind);
    memcpy(p, kind, n);
    p += n;

    if (org) {
        n = strlen(org);
        memcpy(p, org, n);
        p += n;
    }

    if (user) {
        *p++ = ':';
        n = strlen(user);
        memcpy(p, user, n);
        p += n;
    }

    *p = '\0';

    return (size_t) (p - buf);
}


/* One HSET of both fields, as the module's org set. */

static int
twofa_admin_org_require(twofa_admin_t *adm)
{
    int          rc;
    char         key[TWOFA_ADMIN_KEY_MAX + 1], mkey[TWOFA_ADMIN_KEY_MAX + 1];
    char         now_s[TWOFA_ADMIN_INT_LEN];
    time_t       now;
    size_t       lens[7];
    const char  *argv[7];
    redisReply  *reply;

    now = time(NULL);

    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = twofa_admin_lua_require;
    lens[1] = sizeof(twofa_admin_lua_require) - 1;
    argv[2] = "2";
    lens[2] = 1;
    argv[3] = key;
    lens[3] = twofa_admin_key(adm, key, "org:", adm->org, NULL);
    argv[4] = mkey;
    lens[4] = twofa_admin_key(adm, mkey, "deployment", NULL, NULL);
    argv[5] = adm->require ? "1" : "0";
    lens[5] = 1;
    argv[6] = now_s;
    lens[6] = (size_t) snprintf(now_s, sizeof(now_s), "%lld",
                                (long long) now);

    reply = twofa_admin_redis(adm, "EVAL (org require)", 7, argv, lens);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    rc = TWOFA_ADMIN_OK;

    if (reply->type != REDIS_REPLY_INTEGER) {
        fprintf(stderr, "twofa-admin: redis %s: unexpected reply to EVAL "
                "(org require)\n", adm->addr);
        rc = TWOFA_ADMIN_EREDIS;
        goto done;
    }

    if (reply->integer < 0) {
        fprintf(stderr, "twofa-admin: redis %s holds no twofa state (no "
                "%sdeployment key): restore its data, or run "
                "\"twofa-admin init\" for a new deployment\n", adm->addr,
                adm->prefix);
        rc = TWOFA_ADMIN_EREDIS;
        goto done;
    }

    twofa_admin_out_begin(adm);
    twofa_admin_out_str(adm, "org", adm->org);
    twofa_admin_out_flag(adm, "require", adm->require, "on", "off");
    twofa_admin_out_time(adm, "updated", (int64_t) now);
    twofa_admin_audit(adm, now, adm->require ? "org require on"
                                             : "org require off");
    rc = twofa_admin_out_end(adm);

done:

    freeReplyObject(reply);

    return rc;
}


/*
 * Marks this Redis as holding a twofa deployment: the module refuses
 * every login on a Redis without the mark (one that lost its data).
 */

static int
twofa_admin_init(twofa_admin_t *adm)
{
    int          rc;
    char         mkey[TWOFA_ADMIN_KEY_MAX + 1], now_s[TWOFA_ADMIN_INT_LEN];
    time_t       now;
    size_t       lens[6];
    const char  *argv[6], *by;
    redisReply  *reply;

    now = time(NULL);

    by = getenv("SUDO_USER");
    if (by == NULL || !twofa_ident_valid(by, strlen(by))) {
        by = getenv("USER");
    }

    if (by == NULL || !twofa_ident_valid(by, strlen(by))) {
        by = "twofa-admin";
    }

    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = twofa_admin_lua_init;
    lens[1] = sizeof(twofa_admin_lua_init) - 1;
    argv[2] = "1";
    lens[2] = 1;
    argv[3] = mkey;
    lens[3] = twofa_admin_key(adm, mkey, "deployment", NULL, NULL);
    argv[4] = now_s;
    lens[4] = (size_t) snprintf(now_s, sizeof(now_s), "%lld",
                                (long long) now);
    argv[5] = by;
    lens[5] = strlen(by);

    reply = twofa_admin_redis(adm, "EVAL (init)", 6, argv, lens);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    rc = TWOFA_ADMIN_OK;

    if (reply->type != REDIS_REPLY_INTEGER) {
        fprintf(stderr, "twofa-admin: redis %s: unexpected reply to EVAL "
                "(init)\n", adm->addr);
        rc = TWOFA_ADMIN_EREDIS;
        goto done;
    }

    twofa_admin_out_begin(adm);
    twofa_admin_out_flag(adm, "initialised", 1, "yes", "no");
    twofa_admin_out_flag(adm, "created", reply->integer == 1, "yes", "no");

    if (reply->integer == 1) {
        twofa_admin_audit(adm, now, "init");
    }

    rc = twofa_admin_out_end(adm);

done:

    freeReplyObject(reply);

    return rc;
}


static int
twofa_admin_org_show(twofa_admin_t *adm)
{
    int          rc, require;
    char         key[TWOFA_ADMIN_KEY_MAX + 1];
    size_t       lens[4];
    int64_t      updated;
    const char  *argv[4];
    redisReply  *reply, *req, *upd;

    argv[0] = "HMGET";
    argv[1] = key;
    lens[1] = twofa_admin_key(adm, key, "org:", adm->org, NULL);
    argv[2] = "require";
    argv[3] = "updated";

    lens[0] = 5;
    lens[2] = 7;
    lens[3] = 7;

    reply = twofa_admin_redis(adm, "HMGET", 4, argv, lens);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    rc = TWOFA_ADMIN_EREDIS;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || (reply->element[0]->type != REDIS_REPLY_STRING
            && reply->element[0]->type != REDIS_REPLY_NIL)
        || (reply->element[1]->type != REDIS_REPLY_STRING
            && reply->element[1]->type != REDIS_REPLY_NIL))
    {
        fprintf(stderr, "twofa-admin: redis %s: unexpected reply to "
                "HMGET\n", adm->addr);
        goto done;
    }

    req = reply->element[0];
    upd = reply->element[1];

    /* exactly the module's test: only "1" requires */

    require = (req->type == REDIS_REPLY_STRING && req->len == 1
               && req->str[0] == '1');

    if (req->type == REDIS_REPLY_STRING && !require
        && !(req->len == 1 && req->str[0] == '0'))
    {
        fprintf(stderr, "twofa-admin: warning: %s field require is not "
                "1 or 0: the module reads it as off\n", key);
    }

    updated = 0;

    if (upd->type == REDIS_REPLY_STRING
        && twofa_admin_parse_int64(upd->str, upd->len, &updated) != 0)
    {
        fprintf(stderr, "twofa-admin: warning: %s field updated is not a "
                "unix time\n", key);
        updated = 0;
    }

    twofa_admin_out_begin(adm);
    twofa_admin_out_str(adm, "org", adm->org);
    twofa_admin_out_flag(adm, "require", require, "on", "off");
    twofa_admin_out_time(adm, "updated", updated);
    rc = twofa_admin_out_end(adm);

done:

    freeReplyObject(reply);

    return rc;
}


static int
twofa_admin_user_show(twofa_admin_t *adm)
{
    int          rc, i, enrolled, require;
    char         ukey[TWOFA_ADMIN_KEY_MAX + 1], fkey[TWOFA_ADMIN_KEY_MAX + 1];
    char         okey[TWOFA_ADMIN_KEY_MAX + 1];
    size_t       lens[6];
    int64_t      enrolled_at, failures, ttl;
    const char  *argv[6];
    redisReply  *reply, **e;

    /* which elements are integers, which strings */
    static const int  types[8] = {
        REDIS_REPLY_INTEGER, REDIS_REPLY_STRING, REDIS_REPLY_INTEGER,
        REDIS_REPLY_STRING, REDIS_REPLY_INTEGER, REDIS_REPLY_STRING,
        REDIS_REPLY_INTEGER, REDIS_REPLY_STRING
    };

    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = twofa_admin_lua_show;
    lens[1] = sizeof(twofa_admin_lua_show) - 1;
    argv[2] = "3";
    lens[2] = 1;
    argv[3] = ukey;
    lens[3] = twofa_admin_key(adm, ukey, "user:", adm->org, adm->user);
    argv[4] = fkey;
    lens[4] = twofa_admin_key(adm, fkey, "fail:", adm->org, adm->user);
    argv[5] = okey;
    lens[5] = twofa_admin_key(adm, okey, "org:", adm->org, NULL);

    reply = twofa_admin_redis(adm, "EVAL (user show)", 6, argv, lens);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    rc = TWOFA_ADMIN_EREDIS;

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && reply->elements == 8
                && i < 8; i++)
    {
        if (reply->element[i]->type != types[i]) {
            break;
        }
    }

    if (i != 8) {
        fprintf(stderr, "twofa-admin: redis %s: unexpected reply to EVAL "
                "(user show)\n", adm->addr);
        goto done;
    }

    e = reply->element;

    enrolled = (e[1]->len == 1 && e[1]->str[0] == '1');
    require = (e[7]->len == 1 && e[7]->str[0] == '1');

    enrolled_at = 0;

    if (enrolled && e[3]->len
        && twofa_admin_parse_int64(e[3]->str, e[3]->len, &enrolled_at) != 0)
    {
        enrolled_at = 0;
    }

    /* as the module: a counter that is not a number counts nothing */

    if (twofa_admin_parse_int64(e[5]->str, e[5]->len, &failures) != 0
        || failures < 0)
    {
        failures = 0;
    }

    /* PTTL: -2 no counter, -1 a counter that never expires */

    ttl = e[6]->integer;
    ttl = ttl == -2 ? 0 : (ttl < 0 ? -1 : (ttl + 999) / 1000);

    twofa_admin_out_begin(adm);
    twofa_admin_out_str(adm, "org", adm->org);
    twofa_admin_out_str(adm, "user", adm->user);
    twofa_admin_out_flag(adm, "enrolled", enrolled, "yes", "no");
    twofa_admin_out_time(adm, "enrolled_at", enrolled_at);
    twofa_admin_out_flag(adm, "org_require", require, "on", "off");
    twofa_admin_out_flag(adm, "locked", failures >= adm->lockout,
                         "yes", "no");
    twofa_admin_out_int(adm, "failures", (long long) failures);
    twofa_admin_out_int(adm, "failures_ttl", (long long) ttl);
    twofa_admin_out_int(adm, "lockout", (long long) adm->lockout);
    twofa_admin_out_int(adm, "recovery_left", (long long) e[4]->integer);
    rc = twofa_admin_out_end(adm);

done:

    freeReplyObject(reply);

    return rc;
}


static int
twofa_admin_user_reset(twofa_admin_t *adm)
{
    int          rc;
    char         ukey[TWOFA_ADMIN_KEY_MAX + 1], fkey[TWOFA_ADMIN_KEY_MAX + 1];
    char         hkey[TWOFA_ADMIN_KEY_MAX + 1], rkey[TWOFA_ADMIN_KEY_MAX + 1];
    char         hprefix[TWOFA_ADMIN_KEY_MAX + 1], now_s[TWOFA_ADMIN_INT_LEN];
    char         subject[2 * TWOFA_ID_MAX + 2];
    time_t       now;
    size_t       lens[11];
    const char  *argv[11];
    redisReply  *reply;

    now = time(NULL);

    argv[0] = "EVAL";
    lens[0] = 4;
    argv[1] = twofa_admin_lua_reset;
    lens[1] = sizeof(twofa_admin_lua_reset) - 1;
    argv[2] = "4";
    lens[2] = 1;
    argv[3] = ukey;
    lens[3] = twofa_admin_key(adm, ukey, "user:", adm->org, adm->user);
    argv[4] = fkey;
    lens[4] = twofa_admin_key(adm, fkey, "fail:", adm->org, adm->user);
    argv[5] = hkey;
    lens[5] = twofa_admin_key(adm, hkey, "holds:", adm->org, adm->user);
    argv[6] = rkey;
    lens[6] = twofa_admin_key(adm, rkey, "revocations", NULL, NULL);
    argv[7] = hprefix;
    lens[7] = twofa_admin_key(adm, hprefix, "hold:", NULL, NULL);
    argv[8] = now_s;
    lens[8] = (size_t) snprintf(now_s, sizeof(now_s), "%lld",
                                (long long) now);
    argv[9] = subject;
    lens[9] = (size_t) snprintf(subject, sizeof(subject), "%s\n%s",
                                adm->org, adm->user);
    argv[10] = rkey;
    lens[10] = lens[6];

    reply = twofa_admin_redis(adm, "EVAL (user reset)", 11, argv, lens);
    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        /* the keys may be gone: say so, the change cannot be confirmed */
        fprintf(stderr, "twofa-admin: redis %s: unexpected reply to EVAL "
                "(user reset)\n", adm->addr);
        rc = TWOFA_ADMIN_EREDIS;
        goto done;
    }

    twofa_admin_out_begin(adm);
    twofa_admin_out_str(adm, "org", adm->org);
    twofa_admin_out_str(adm, "user", adm->user);
    twofa_admin_out_flag(adm, "existed", reply->element[0]->integer != 0,
                         "yes", "no");
    twofa_admin_out_flag(adm, "was_enrolled",
                         reply->element[1]->integer != 0, "yes", "no");
    twofa_admin_audit(adm, now, "user reset");
    rc = twofa_admin_out_end(adm);

done:

    freeReplyObject(reply);

    return rc;
}


/*
 * "audit: {time} {what} org={org} [user={user}] by={who}".  The name comes
 * from the environment, so it is used only when it is a clean identity
 * value: nothing can forge a second field or line.
 */

static void
twofa_admin_audit(twofa_admin_t *adm, time_t now, const char *what)
{
    int          i;
    char         line[TWOFA_ADMIN_AUDIT_MAX], t[TWOFA_ADMIN_TIME_LEN];
    char         uid[TWOFA_ADMIN_INT_LEN + 4];
    const char  *who, *env[2];

    env[0] = getenv("SUDO_USER");
    env[1] = getenv("USER");

    snprintf(uid, sizeof(uid), "uid:%lu", (unsigned long) getuid());
    who = uid;

    for (i = 0; i < 2; i++) {
        if (env[i] && twofa_ident_valid(env[i], strlen(env[i]))) {
            who = env[i];
            break;
        }
    }

    twofa_admin_time((int64_t) now, t);

    /* the parts are bounded: org, user and who are identity values */

    snprintf(line, sizeof(line), "%s %s%s%s%s%s by=%s", t, what,
             adm->org ? " org=" : "", adm->org ? adm->org : "",
             adm->user ? " user=" : "", adm->user ? adm->user : "", who);

    twofa_admin_out_str(adm, "audit", line);
}


/* ISO-8601 UTC, or "" for none (0 or a time gmtime cannot express) */

static void
twofa_admin_time(int64_t t, char *buf)
{
    time_t     tt;
    struct tm  tm;

    buf[0] = '\0';

    if (t <= 0) {
        return;
    }

    tt = (time_t) t;

    if (gmtime_r(&tt, &tm) == NULL
        || strftime(buf, TWOFA_ADMIN_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm)
           == 0)
    {
        buf[0] = '\0';
    }
}


/*
 * Output: "key: value" lines, or with --json one object with the same
 * keys in the same order; on/off and yes/no become true/false, counts
 * numbers, times ISO-8601 strings, and a missing value "-" or null.
 */

static void
twofa_admin_out_begin(twofa_admin_t *adm)
{
    adm->fields = 0;

    if (adm->json) {
        fputc('{', stdout);
    }
}


static void
twofa_admin_out_key(twofa_admin_t *adm, const char *key)
{
    if (adm->json) {
        if (adm->fields) {
            fputc(',', stdout);
        }

        twofa_admin_json_string(key);
        fputc(':', stdout);

    } else {
        printf("%s: ", key);
    }

    adm->fields++;
}


static void
twofa_admin_out_str(twofa_admin_t *adm, const char *key, const char *value)
{
    twofa_admin_out_key(adm, key);

    if (adm->json) {
        if (value) {
            twofa_admin_json_string(value);

        } else {
            fputs("null", stdout);
        }

    } else {
        printf("%s\n", value ? value : "-");
    }
}


static void
twofa_admin_out_flag(twofa_admin_t *adm, const char *key, int value,
    const char *yes, const char *no)
{
    twofa_admin_out_key(adm, key);

    if (adm->json) {
        fputs(value ? "true" : "false", stdout);

    } else {
        printf("%s\n", value ? yes : no);
    }
}


static void
twofa_admin_out_int(twofa_admin_t *adm, const char *key, long long value)
{
    twofa_admin_out_key(adm, key);

    printf(adm->json ? "%lld" : "%lld\n", value);
}


static void
twofa_admin_out_time(twofa_admin_t *adm, const char *key, int64_t t)
{
    char  buf[TWOFA_ADMIN_TIME_LEN];

    twofa_admin_time(t, buf);

    twofa_admin_out_str(adm, key, buf[0] ? buf : NULL);
}


/* A change that cannot be reported is reported as an error. */

static int
twofa_admin_out_end(twofa_admin_t *adm)
{
    if (adm->json) {
        fputs("}\n", stdout);
    }

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "twofa-admin: cannot write the output: %s\n",
                strerror(errno));
        return TWOFA_ADMIN_EREDIS;
    }

    return TWOFA_ADMIN_OK;
}


static void
twofa_admin_json_string(const char *s)
{
    unsigned char  c;

    fputc('"', stdout);

    for ( /* void */ ; *s; s++) {
        c = (unsigned char) *s;

        if (c == '"' || c == '\\') {
            fputc('\\', stdout);
            fputc(c, stdout);

        } else if (c < 0x20 || c == 0x7f) {
            printf("\\u%04x", c);

        } else {
            fputc(c, stdout);
        }
    }

    fputc('"', stdout);
}


/* A rejected value, quoted, escaped and cut short: it may be anything. */

static void
twofa_admin_print_value(FILE *f, const char *s)
{
    size_t         i;
    unsigned char  c;

    fputc('"', f);

    for (i = 0; s[i] && i < 64; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            fprintf(f, "\\x%02x", c);

        } else {
            fputc(c, f);
        }
    }

    fputs(s[i] ? "\"..." : "\"", f);
}


static int
twofa_admin_usage(const char *fmt, const char *arg)
{
    fputs("twofa-admin: ", stderr);

    if (arg) {
        fprintf(stderr, fmt, arg);

    } else {
        fputs(fmt, stderr);
    }

    fputs("\nusage: twofa-admin [OPTIONS] org require ORG on|off\n"
          "       twofa-admin [OPTIONS] org show ORG\n"
          "       twofa-admin [OPTIONS] user show ORG USER\n"
          "       twofa-admin [OPTIONS] user reset ORG USER\n"
          "See twofa-admin --help.\n", stderr);

    return TWOFA_ADMIN_EUSAGE;
}


static void
twofa_admin_help(void)
{
    fputs(
"NAME\n"
"    twofa-admin - manage twofa-edge two-factor policy and users in Redis\n"
"\n"
"SYNOPSIS\n"
"    twofa-admin [OPTIONS] org require ORG on|off\n"
"    twofa-admin [OPTIONS] org show ORG\n"
"    twofa-admin [OPTIONS] user show ORG USER\n"
"    twofa-admin [OPTIONS] user reset ORG USER\n"
"\n"
"DESCRIPTION\n"
"    Reads and changes the Redis state of the twofa-edge nginx module,\n"
"    under the same keys and with the same meaning.  Changes take effect\n"
"    at the user's next login; sessions already open are left alone.\n"
"    An app without orgs uses the org \"default\".\n"
"\n"
"COMMANDS\n"
"    init\n"
"        Marks this Redis as holding a twofa deployment (the key\n"
"        {prefix}deployment).  Run it once for a new deployment, before\n"
"        the module takes logins: a Redis without the mark is one that\n"
"        lost its data (flushed, restarted without persistence), and the\n"
"        module then refuses every login, and this tool every policy\n"
"        change, until an admin restores the data or runs init again.\n"
"    org require ORG on|off\n"
"        Require 2FA for every user of ORG from their next login (on), or\n"
"        not (off; users who enrolled on their own are still asked).\n"
"        One HSET of require (1/0) and updated (now).\n"
"    org show ORG\n"
"        The org's policy.  An org never set shows require: off and\n"
"        updated: -, since that is the policy the module applies.\n"
"    user show ORG USER\n"
"        Enrolled, since when, the org's requirement, locked, failed\n"
"        codes in the lockout window and seconds until that window ends,\n"
"        recovery\n"
"        codes left.  A user with no state shows enrolled: no.\n"
"        The secret and the recovery codes are never shown.\n"
"    user reset ORG USER\n"
"        Forget the user's TOTP secret, recovery codes, failure count and\n"
"        held logins, and revoke the user's sessions on every edge (within\n"
"        a second): the user enrolls again at the next login if the org\n"
"        requires 2FA.  Says whether there was TOTP state (existed) and\n"
"        whether the user was enrolled.\n"
"\n"
"OPTIONS\n"
"    Options go before the command; what follows the command is taken\n"
"    literally.  --name=value works too.\n"
"    --redis ADDR          host:port, host, [ipv6]:port or unix:/path\n"
"                          (default 127.0.0.1:6379)\n"
"    --password-file F     AUTH with the first line of F (a trailing\n"
"                          newline is ignored), as password_file=\n"
"    --db N                SELECT N first (default 0), as db=\n"
"    --prefix P            key prefix (default \"twofa:\"), as prefix=\n"
"    --timeout T           connect and reply timeout in ms (default\n"
"                          2000; \"500ms\" and \"2s\" work too)\n"
"    --lockout N           failures that mean locked, as twofa_lockout\n"
"                          (default 5; the tool cannot see the server's)\n"
"    --json                one JSON object instead of lines\n"
"    -h, --help            this text\n"
"    ORG and USER are checked as the module checks them: 1 to 128\n"
"    visible ASCII characters, none of : | / \\ \" * ? [ ]\n"
"\n"
"OUTPUT\n"
"    One \"key: value\" per line, keys in a fixed order:\n"
"      org show     org, require (on/off), updated\n"
"      org require  org, require, updated, audit\n"
"      init         initialised (yes), created (yes/no), audit\n"
"      user show    org, user, enrolled (yes/no), enrolled_at,\n"
"                   org_require (on/off),\n"
"                   locked (yes/no), failures, failures_ttl, lockout,\n"
"                   recovery_left\n"
"      user reset   org, user, existed (yes/no), was_enrolled (yes/no),\n"
"                   audit\n"
"    Times are ISO-8601 UTC (2026-11-27T22:33:39Z), \"-\" when there is\n"
"    none.  failures_ttl is in seconds: 0 without failures, -1 for a\n"
"    counter with no expiry.  With --json: one object with the same\n"
"    keys; on/off and yes/no become true/false, counts are numbers, a\n"
"    missing time is null.\n"
"    Every change prints one audit line (with --json: the \"audit\"\n"
"    member, the same text without \"audit: \"):\n"
"      audit: TIME WHAT org=ORG [user=USER] by=WHO\n"
"    WHO is $SUDO_USER, else $USER, else uid:N.\n"
"\n"
"EXIT STATUS\n"
"    0  done (also a show of an org or user with no state, and a reset\n"
"       of a user who had none: the output says so)\n"
"    1  Redis unreachable, timed out, AUTH failed, a Redis error or an\n"
"       unexpected reply, or the output could not be written (message\n"
"       on stderr)\n"
"    2  usage error or invalid argument (an invalid ORG or USER, an\n"
"       unreadable password file); Redis was not touched\n"
"    3  reserved for \"not found\"; not returned by these commands\n"
"\n"
"KEYS\n"
"    {prefix}deployment          hash: created, by (see init)\n"
"    {prefix}org:{org}           hash: require, updated\n"
"    {prefix}user:{org}:{user}   hash: secret, enabled, enrolled_at,\n"
"                                last_step, recovery\n"
"    {prefix}fail:{org}:{user}   failure counter, TTL = lockout window\n"
"\n"
"EXAMPLES\n"
"    twofa-admin org require acme on\n"
"    twofa-admin --json user show acme alice\n"
"    twofa-admin --redis unix:/run/redis/redis.sock \\\n"
"        --password-file /etc/nginx/twofa/redis.pass user reset acme bob\n",
        stdout);
}
