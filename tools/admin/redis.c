/*
 * Redis: the connection (AUTH and SELECT as the module sends them), the
 * one way a script is sent (EVALSHA, and EVAL once after NOSCRIPT), a
 * script's keys and arguments, and the checks every command makes of a
 * reply before it reads it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>

#include <openssl/crypto.h>

#include "twofa_admin.h"


static int twofa_admin_setup(twofa_admin_t *adm, const char *cmd,
    const char *arg, size_t len);
static redisReply *twofa_admin_send(twofa_admin_t *adm, const char *what,
    int argc, const char **argv, const size_t *lens);
static redisReply *twofa_admin_checked(twofa_admin_t *adm, const char *what,
    redisReply *reply);


int
twofa_admin_connect(twofa_admin_t *adm)
{
    int  rc;

    if (adm->ncluster) {
        return twofa_admin_cluster_connect(adm);
    }

    if (adm->nsentinels) {
        rc = twofa_admin_sentinel_primary(adm);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    return twofa_admin_open(adm);
}


/*
 * The connection to adm->host (or the unix socket): AUTH or PING, ROLE
 * with Sentinel, SELECT.  A cluster opens one per node it talks to, so
 * its password stays until the end (main wipes it).
 */

int
twofa_admin_open(twofa_admin_t *adm)
{
    int              rc;
    char             db[TWOFA_ADMIN_INT_LEN];
    size_t           len;
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

    if (adm->password_len) {
        rc = twofa_admin_setup(adm, "AUTH", adm->password,
                               adm->password_len);

        if (adm->ncluster == 0) {
            OPENSSL_cleanse(adm->password, sizeof(adm->password));
        }

        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }

    } else {
        /*
         * Redis answers a long command from an unauthenticated client with
         * a protocol error and a closed connection; a PING gets NOAUTH.
         */

        rc = twofa_admin_setup(adm, "PING", NULL, 0);

        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    if (adm->nsentinels) {
        rc = twofa_admin_sentinel_role(adm);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    if (adm->db) {
        len = (size_t) snprintf(db, sizeof(db), "%ld", adm->db);

        return twofa_admin_setup(adm, "SELECT", db, len);
    }

    return TWOFA_ADMIN_OK;
}


/*
 * AUTH, PING or SELECT, with its one argument (arg) or none (NULL): a
 * status reply, or a message and an error.
 */

static int
twofa_admin_setup(twofa_admin_t *adm, const char *cmd, const char *arg,
    size_t len)
{
    int          rc;
    size_t       lens[2];
    const char  *argv[2];
    redisReply  *reply;

    argv[0] = cmd;
    lens[0] = strlen(cmd);
    argv[1] = arg;
    lens[1] = len;

    reply = twofa_admin_send(adm, cmd, arg ? 2 : 1, argv, lens);
    reply = twofa_admin_checked(adm, cmd, reply);

    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    rc = TWOFA_ADMIN_OK;

    if (reply->type != REDIS_REPLY_STATUS) {
        fprintf(stderr, "twofa-admin: redis %s: unexpected reply to %s\n",
                adm->addr, cmd);
        rc = TWOFA_ADMIN_EREDIS;
    }

    freeReplyObject(reply);

    return rc;
}


/*
 * One command and its reply, which may be an error reply.  NULL after a
 * message on stderr when no reply came (a lost connection, the timeout).
 */

static redisReply *
twofa_admin_send(twofa_admin_t *adm, const char *what, int argc,
    const char **argv, const size_t *lens)
{
    int          err;
    redisReply  *reply;

    errno = 0;

    reply = redisCommandArgv(adm->c, argc, argv, lens);

    err = errno;

    if (reply) {
        return reply;
    }

    if (adm->c->err == REDIS_ERR_IO && (err == EAGAIN || err == EWOULDBLOCK))
    {
        fprintf(stderr, "twofa-admin: redis %s: %s: no reply within %ld ms\n",
                adm->addr, what, adm->timeout);

    } else {
        fprintf(stderr, "twofa-admin: redis %s: %s: %s\n", adm->addr, what,
                adm->c->err ? adm->c->errstr : "no reply");
    }

    return NULL;
}


/* The reply, or NULL after a message when it is missing or an error. */

static redisReply *
twofa_admin_checked(twofa_admin_t *adm, const char *what, redisReply *reply)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return reply;
    }

    fprintf(stderr, "twofa-admin: redis %s: %s: %.*s%s\n", adm->addr, what,
            (int) reply->len, reply->str,
            strncmp(reply->str, "NOAUTH", 6) == 0
            ? " (see --password-file)" : "");

    freeReplyObject(reply);

    return NULL;
}


/*
 * Waits, on XREAD BLOCK, for an entry of the audit trail after the id
 * "after" ("-": any), at most half the reply timeout so that the wait
 * itself never counts as a lost Redis.  TWOFA_ADMIN_OK whether or not
 * one came: the caller reads them with audit_read.lua, which filters.
 */

int
twofa_admin_audit_wait(twofa_admin_t *adm, const char *after)
{
    char         key[TWOFA_ADMIN_KEY_MAX], block[TWOFA_ADMIN_INT_LEN];
    size_t       lens[8];
    const char  *argv[8];
    redisReply  *reply;

    /* the id after which: the script's exclusive "(" dropped */

    if (after[0] == '(') {
        after++;

    } else if (strcmp(after, "-") == 0) {
        after = "0-0";
    }

    argv[0] = "XREAD";
    argv[1] = "BLOCK";
    argv[2] = block;
    argv[3] = "COUNT";
    argv[4] = "1";
    argv[5] = "STREAMS";
    argv[6] = key;
    argv[7] = after;

    lens[0] = 5;
    lens[1] = 5;
    lens[2] = (size_t) snprintf(block, sizeof(block), "%ld",
                                adm->timeout / 2 > 1000
                                ? 1000 : adm->timeout / 2 + 1);
    lens[3] = 5;
    lens[4] = 1;
    lens[5] = 7;
    lens[6] = twofa_admin_key(adm, key, TWOFA_KEY_AUDIT, NULL, NULL);
    lens[7] = strlen(after);

    reply = twofa_admin_send(adm, "XREAD", 8, argv, lens);
    reply = twofa_admin_checked(adm, "XREAD", reply);

    if (reply == NULL) {
        return TWOFA_ADMIN_EREDIS;
    }

    freeReplyObject(reply);

    return TWOFA_ADMIN_OK;
}


/*
 * One of the module's scripts, as the module sends it: EVALSHA, and after
 * NOSCRIPT (a Redis that restarted, or whose scripts were flushed) EVAL
 * once, which also loads the script for the next EVALSHA.  NULL after a
 * message on stderr when there is no reply or an error reply; the caller
 * owns any reply returned.
 */

redisReply *
twofa_admin_script(twofa_admin_t *adm, twofa_script_id_t id,
    twofa_admin_args_t *args)
{
    int                    i, tries;
    long                   waited;
    char                   what[64], nkeys[TWOFA_ADMIN_INT_LEN];
    size_t                 lens[TWOFA_ADMIN_ARGS_MAX + 3];
    const char            *argv[TWOFA_ADMIN_ARGS_MAX + 3];
    redisReply            *reply;
    const twofa_script_t  *script;

    script = &twofa_scripts[id];

    argv[0] = "EVALSHA";
    lens[0] = sizeof("EVALSHA") - 1;
    argv[1] = script->sha1;
    lens[1] = strlen(script->sha1);
    argv[2] = nkeys;
    lens[2] = (size_t) snprintf(nkeys, sizeof(nkeys), "%d", args->nkeys);

    for (i = 0; i < args->n; i++) {
        argv[i + 3] = args->argv[i];
        lens[i + 3] = args->lens[i];
    }

    snprintf(what, sizeof(what), "EVALSHA (%s.lua)", script->name);

    tries = 0;
    waited = 0;

    do {
        reply = twofa_admin_send(adm, what, args->n + 3, argv, lens);
    } while (twofa_admin_cluster_redirect(adm, &reply, &tries, &waited));

    if (reply && reply->type == REDIS_REPLY_ERROR
        && strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        freeReplyObject(reply);

        argv[0] = "EVAL";
        lens[0] = sizeof("EVAL") - 1;
        argv[1] = script->text;
        lens[1] = script->len;

        snprintf(what, sizeof(what), "EVAL (%s.lua)", script->name);

        reply = twofa_admin_send(adm, what, args->n + 3, argv, lens);
    }

    return twofa_admin_checked(adm, what, reply);
}


/* a reply of the wrong shape: the change, if any, cannot be confirmed */

int
twofa_admin_unexpected(twofa_admin_t *adm, twofa_script_id_t id)
{
    fprintf(stderr, "twofa-admin: redis %s: unexpected reply to %s.lua\n",
            adm->addr, twofa_scripts[id].name);

    return TWOFA_ADMIN_EREDIS;
}


/* a Redis without the deployment mark lost its data: nothing is done */

int
twofa_admin_no_deployment(twofa_admin_t *adm)
{
    fprintf(stderr, "twofa-admin: redis %s holds no twofa state (no "
            "%sdeployment key): restore its data, or run \"twofa-admin "
            "init\" for a new deployment\n", adm->addr, adm->prefix);

    return TWOFA_ADMIN_EREDIS;
}


/* a reply of two integers: org_set.lua's, org_get.lua's, reset.lua's */

int
twofa_admin_is_pair(redisReply *reply)
{
    return reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
           && reply->element[0]->type == REDIS_REPLY_INTEGER
           && reply->element[1]->type == REDIS_REPLY_INTEGER;
}


/* A stored decimal (enrolled_at, an audit entry's time). */

int
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


/* one key, from the module's builder, NUL-terminated in buf */

size_t
twofa_admin_key(twofa_admin_t *adm, char *buf, twofa_key_kind_t kind,
    const char *a, const char *b)
{
    size_t  a_len, b_len, len;

    a_len = a ? strlen(a) : 0;
    b_len = b ? strlen(b) : 0;

    /* cannot happen: the prefix and the identities were checked */

    if (twofa_key_len(kind, adm->prefix_len, a, a_len, b, b_len)
        >= TWOFA_ADMIN_KEY_MAX)
    {
        abort();
    }

    len = twofa_key(buf, kind, adm->prefix, adm->prefix_len, a, a_len, b,
                    b_len);
    buf[len] = '\0';

    return len;
}


/* the next of the script's keys: all come before any argument */

void
twofa_admin_key_arg(twofa_admin_t *adm, twofa_admin_args_t *args,
    twofa_key_kind_t kind, const char *a, const char *b)
{
    char    *buf;
    size_t   len;

    if (args->nkeys != args->n || args->nkeys == TWOFA_ADMIN_KEYS_MAX) {
        abort();
    }

    buf = args->keys[args->nkeys];
    len = twofa_admin_key(adm, buf, kind, a, b);

    twofa_admin_arg(args, buf, len);
    args->nkeys++;
}


void
twofa_admin_arg(twofa_admin_args_t *args, const char *s, size_t len)
{
    /* cannot happen: every script here takes fewer */

    if (args->n == TWOFA_ADMIN_ARGS_MAX) {
        abort();
    }

    args->argv[args->n] = s;
    args->lens[args->n] = len;
    args->n++;
}


/* a unix time, written into args */

void
twofa_admin_arg_now(twofa_admin_args_t *args, time_t now)
{
    int  n;

    n = snprintf(args->now, sizeof(args->now), "%lld", (long long) now);

    twofa_admin_arg(args, args->now, (size_t) n);
}


/*
 * The wall clock's second, as other clients read it: time() may lag it by
 * a tick (glibc reads a coarse clock).
 */

time_t
twofa_admin_now(void)
{
    struct timespec  ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return time(NULL);
    }

    return ts.tv_sec;
}


/*
 * A change the audit trail records: after the script's own arguments,
 * org, user, the trail's most entries, who (the operating-system user,
 * "cli:NAME"), from where ("local") and on which host.  The audit key
 * is the script's last key (twofa_admin_key_arg with TWOFA_KEY_AUDIT).
 */

void
twofa_admin_audit_args(twofa_admin_t *adm, twofa_admin_args_t *args,
    const char *org, const char *user)
{
    const char  *who;

    who = twofa_admin_who();

    snprintf(adm->audit_max, sizeof(adm->audit_max), "%ld",
             adm->audit_max_len);
    snprintf(adm->actor, sizeof(adm->actor), "cli:%s",
             who ? who : "unknown");

    if (gethostname(adm->edge, sizeof(adm->edge) - 1) != 0) {
        snprintf(adm->edge, sizeof(adm->edge), "unknown");
    }

    adm->edge[sizeof(adm->edge) - 1] = '\0';

    twofa_admin_arg(args, org, strlen(org));
    twofa_admin_arg(args, user, strlen(user));
    twofa_admin_arg(args, adm->audit_max, strlen(adm->audit_max));
    twofa_admin_arg(args, adm->actor, strlen(adm->actor));
    twofa_admin_arg(args, "local", 5);
    twofa_admin_arg(args, adm->edge, strlen(adm->edge));
}
