/*
 * --redis "sentinel=H:P[,H:P...] service=NAME [sentinel_password_file=F]":
 * the primary of NAME as the sentinels name it, asked of each in turn
 * until one answers (a sentinel that is down, or does not know the
 * service, is passed over with a message), then checked with ROLE once
 * connected: a node that is not the primary is never written to.  The
 * tool blocks while it asks; --timeout bounds each step.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/crypto.h>

#include "twofa_admin.h"


static int twofa_admin_sentinel_ask(twofa_admin_t *adm, const char *addr);
static int twofa_admin_sentinel_answer(twofa_admin_t *adm, const char *addr,
    redisReply *reply);


int
twofa_admin_sentinel_primary(twofa_admin_t *adm)
{
    int  i;

    for (i = 0; i < adm->nsentinels; i++) {
        if (twofa_admin_sentinel_ask(adm, adm->sentinel[i])
            == TWOFA_ADMIN_OK)
        {
            OPENSSL_cleanse(adm->sentinel_password,
                            sizeof(adm->sentinel_password));
            return TWOFA_ADMIN_OK;
        }
    }

    OPENSSL_cleanse(adm->sentinel_password, sizeof(adm->sentinel_password));

    fprintf(stderr, "twofa-admin: no sentinel named a primary of \"%s\"\n",
            adm->service);

    return TWOFA_ADMIN_EREDIS;
}


/* one sentinel: OK with adm->host, adm->port and adm->addr set */

static int
twofa_admin_sentinel_ask(twofa_admin_t *adm, const char *addr)
{
    int              rc, port;
    char             host[TWOFA_ADMIN_HOST_MAX + 1];
    size_t           lens[3];
    const char      *argv[3];
    redisReply      *reply;
    redisContext    *c;
    struct timeval   tv;

    rc = TWOFA_ADMIN_EREDIS;
    reply = NULL;

    if (twofa_admin_parse_hostport(addr, 26379, host, &port) != 0) {
        return rc;
    }

    tv.tv_sec = adm->timeout / 1000;
    tv.tv_usec = (adm->timeout % 1000) * 1000;

    c = redisConnectWithTimeout(host, port, tv);

    if (c == NULL) {
        fprintf(stderr, "twofa-admin: out of memory\n");
        return rc;
    }

    if (c->err) {
        fprintf(stderr, "twofa-admin: sentinel %s: cannot connect: %s\n",
                addr, c->errstr);
        goto done;
    }

    if (redisSetTimeout(c, tv) != REDIS_OK) {
        fprintf(stderr, "twofa-admin: sentinel %s: cannot set the timeout: "
                "%s\n", addr, c->errstr);
        goto done;
    }

    if (adm->sentinel_password_len) {
        argv[0] = "AUTH";
        lens[0] = 4;
        argv[1] = adm->sentinel_password;
        lens[1] = adm->sentinel_password_len;

        reply = redisCommandArgv(c, 2, argv, lens);

        if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
            fprintf(stderr, "twofa-admin: sentinel %s: AUTH failed: %s\n",
                    addr, reply ? (reply->str ? reply->str : "?")
                                : c->errstr);
            goto done;
        }

        freeReplyObject(reply);
        reply = NULL;
    }

    argv[0] = "SENTINEL";
    lens[0] = 8;
    argv[1] = "get-master-addr-by-name";
    lens[1] = 23;
    argv[2] = adm->service;
    lens[2] = strlen(adm->service);

    reply = redisCommandArgv(c, 3, argv, lens);

    if (reply == NULL) {
        fprintf(stderr, "twofa-admin: sentinel %s: %s\n", addr, c->errstr);
        goto done;
    }

    rc = twofa_admin_sentinel_answer(adm, addr, reply);

done:

    if (reply) {
        freeReplyObject(reply);
    }

    redisFree(c);

    return rc;
}


/* once connected and authenticated: the node must say it is the primary */

int
twofa_admin_sentinel_role(twofa_admin_t *adm)
{
    int          rc;
    redisReply  *reply, *role;

    reply = redisCommand(adm->c, "ROLE");

    if (reply == NULL) {
        fprintf(stderr, "twofa-admin: redis %s: ROLE: %s\n", adm->addr,
                adm->c->errstr);
        return TWOFA_ADMIN_EREDIS;
    }

    role = (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1)
           ? reply->element[0] : NULL;

    rc = TWOFA_ADMIN_OK;

    if (role == NULL || role->type != REDIS_REPLY_STRING
        || strcmp(role->str, "master") != 0)
    {
        fprintf(stderr, "twofa-admin: redis %s: named the primary of \"%s\" "
                "but ROLE says \"%s\"; try again\n", adm->addr, adm->service,
                role && role->str ? role->str
                : reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
        rc = TWOFA_ADMIN_EREDIS;
    }

    freeReplyObject(reply);

    return rc;
}


/* SENTINEL get-master-addr-by-name's answer: the primary's address */

static int
twofa_admin_sentinel_answer(twofa_admin_t *adm, const char *addr,
    redisReply *reply)
{
    long         p;
    redisReply  *ip, *pr;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        fprintf(stderr, "twofa-admin: sentinel %s: no primary of \"%s\"%s"
                "%s\n", addr, adm->service,
                reply->type == REDIS_REPLY_ERROR ? ": " : "",
                reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        return TWOFA_ADMIN_EREDIS;
    }

    ip = reply->element[0];
    pr = reply->element[1];

    if (ip->len == 0 || ip->len > TWOFA_ADMIN_HOST_MAX
        || strlen(pr->str) != (size_t) pr->len
        || twofa_admin_parse_long(pr->str, 1, 65535, &p) != 0)
    {
        fprintf(stderr, "twofa-admin: sentinel %s: an invalid address for "
                "\"%s\"\n", addr, adm->service);
        return TWOFA_ADMIN_EREDIS;
    }

    memcpy(adm->host, ip->str, ip->len);
    adm->host[ip->len] = '\0';
    adm->port = (int) p;

    snprintf(adm->primary, sizeof(adm->primary),
             strchr(adm->host, ':') ? "[%s]:%d" : "%s:%d",
             adm->host, adm->port);
    adm->addr = adm->primary;

    return TWOFA_ADMIN_OK;
}
