/*
 * twofa-edge: the twofa_redis directive: one Redis (host:port or a unix
 * socket), the primary of a Sentinel service, or a Redis Cluster, and the
 * parameters of each.  The other directives are in
 * ngx_http_twofa_directive.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static ngx_int_t ngx_http_twofa_redis_address(ngx_conf_t *cf,
    ngx_http_twofa_redis_conf_t *rcf, ngx_str_t *addr, in_port_t port);
static ngx_int_t ngx_http_twofa_redis_sentinels(ngx_conf_t *cf,
    ngx_http_twofa_redis_conf_t *rcf, ngx_str_t *list);
static ngx_array_t *ngx_http_twofa_redis_nodes(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *list, in_port_t port);
static char *ngx_http_twofa_redis_cluster(ngx_conf_t *cf,
    ngx_http_twofa_main_conf_t *tmcf, ngx_http_twofa_redis_conf_t *rcf,
    ngx_str_t *seeds);
static ngx_int_t ngx_http_twofa_redis_service(ngx_str_t *name);
static ngx_int_t ngx_http_twofa_redis_sentinel_param(ngx_conf_t *cf,
    ngx_http_twofa_redis_conf_t *rcf, ngx_str_t *arg);
static ngx_int_t ngx_http_twofa_redis_wait(ngx_conf_t *cf,
    ngx_http_twofa_redis_conf_t *rcf);
static ngx_int_t ngx_http_twofa_redis_password(ngx_conf_t *cf,
    ngx_str_t *file, ngx_str_t *password);
static ngx_int_t ngx_http_twofa_redis_params(ngx_conf_t *cf,
    ngx_http_twofa_main_conf_t *tmcf, ngx_http_twofa_redis_conf_t *rcf,
    ngx_uint_t sentinel);
static ngx_int_t ngx_http_twofa_redis_param(ngx_conf_t *cf,
    ngx_http_twofa_main_conf_t *tmcf, ngx_http_twofa_redis_conf_t *rcf,
    ngx_str_t *arg);


/*
 * twofa_redis ADDR [db=N] [password_file=F] [timeout=T] [prefix=P]
 *     [replica_wait=T|off]
 * twofa_redis sentinel=H:P[,H:P...] service=NAME [sentinel_password_file=F]
 *     [the same parameters]
 * twofa_redis cluster=H:P[,H:P...] [the same parameters but db=]
 */

char *
ngx_http_twofa_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_main_conf_t *tmcf = conf;

    ngx_str_t                    *value, v, sentinels;
    ngx_http_twofa_redis_conf_t  *rcf;

    if (tmcf->redis) {
        return "is duplicate";
    }

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twofa_redis_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    rcf->addr = value[1];
    rcf->timeout = 1000;
    rcf->replica_wait = NGX_CONF_UNSET_MSEC;

    ngx_str_null(&sentinels);

    if (ngx_http_twofa_param(&value[1], "cluster", &v)) {
        return ngx_http_twofa_redis_cluster(cf, tmcf, rcf, &v);
    }

    if (ngx_http_twofa_param(&value[1], "sentinel", &sentinels)) {
        if (sentinels.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" has an empty \"sentinel=\"");
            return NGX_CONF_ERROR;
        }

    } else if (ngx_http_twofa_redis_address(cf, rcf, &value[1], 6379)
               != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twofa_redis_params(cf, tmcf, rcf, sentinels.len != 0)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (sentinels.len == 0) {
        /* WAIT only where asked: a lone Redis has no replica to wait for */

        if (rcf->replica_wait == NGX_CONF_UNSET_MSEC) {
            rcf->replica_wait = 0;
        }

    } else {
        if (rcf->service.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" with \"%V\" needs "
                               "\"service=\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_twofa_redis_sentinels(cf, rcf, &sentinels) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_twofa_redis_wait(cf, rcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tmcf->redis = rcf;

    return NGX_CONF_OK;
}


/* the parameters after the address (or sentinel=): a sentinel's first */

static ngx_int_t
ngx_http_twofa_redis_params(ngx_conf_t *cf, ngx_http_twofa_main_conf_t *tmcf,
    ngx_http_twofa_redis_conf_t *rcf, ngx_uint_t sentinel)
{
    ngx_int_t    rc;
    ngx_str_t   *value, v;
    ngx_uint_t   i;

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_twofa_param(&value[i], "sentinel", &v)
            || ngx_http_twofa_param(&value[i], "cluster", &v))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" takes an address, "
                               "\"sentinel=\" or \"cluster=\" first, one "
                               "of them: \"%V\"", &value[i]);
            return NGX_ERROR;
        }

        rc = sentinel ? ngx_http_twofa_redis_sentinel_param(cf, rcf, &value[i])
                      : NGX_DECLINED;

        if (rc == NGX_DECLINED) {
            rc = ngx_http_twofa_redis_param(cf, tmcf, rcf, &value[i]);
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" has an invalid parameter "
                               "\"%V\"", &value[i]);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * sentinel=H:P[,H:P...]: a conf per sentinel, its address resolved here
 * (a request never waits for DNS), the sentinels' password its own.
 */

static ngx_int_t
ngx_http_twofa_redis_sentinels(ngx_conf_t *cf,
    ngx_http_twofa_redis_conf_t *rcf, ngx_str_t *list)
{
    ngx_str_t                     name;
    ngx_uint_t                    i;
    ngx_http_twofa_redis_conf_t  *node;

    ngx_str_set(&name, "sentinel");

    rcf->sentinels = ngx_http_twofa_redis_nodes(cf, &name, list, 26379);
    if (rcf->sentinels == NULL) {
        return NGX_ERROR;
    }

    node = rcf->sentinels->elts;

    for (i = 0; i < rcf->sentinels->nelts; i++) {
        node[i].password = rcf->sentinel_password;
        node[i].timeout = rcf->timeout;
        node[i].sentinel_node = 1;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "twofa redis: %ui sentinels for \"%V\"",
                   rcf->sentinels->nelts, &rcf->service);

    return NGX_OK;
}


/*
 * twofa_redis cluster=H:P[,H:P...]: the seeds, asked for the slot map
 * (ngx_http_twofa_cluster.c); every other address comes from the map.
 * db= has no meaning in a cluster (only database 0 exists there), and a
 * prefix holding a brace would break the keys' hash tags.
 */

static char *
ngx_http_twofa_redis_cluster(ngx_conf_t *cf, ngx_http_twofa_main_conf_t *tmcf,
    ngx_http_twofa_redis_conf_t *rcf, ngx_str_t *seeds)
{
    ngx_int_t    rc;
    ngx_str_t   *value, v, name;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (seeds->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_redis\" has an empty \"cluster=\"");
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_http_twofa_param(&value[i], "db", &v)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" takes no \"%V\" with "
                               "\"cluster=\": a cluster has database 0 only",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_twofa_param(&value[i], "sentinel", &v)
            || ngx_http_twofa_param(&value[i], "cluster", &v)
            || ngx_http_twofa_param(&value[i], "service", &v)
            || ngx_http_twofa_param(&value[i], "sentinel_password_file", &v))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" takes no \"%V\" with "
                               "\"cluster=\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        rc = ngx_http_twofa_redis_param(cf, tmcf, rcf, &value[i]);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" has an invalid parameter "
                               "\"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (tmcf->prefix.data
        && (ngx_strlchr(tmcf->prefix.data,
                        tmcf->prefix.data + tmcf->prefix.len, '{')
            || ngx_strlchr(tmcf->prefix.data,
                           tmcf->prefix.data + tmcf->prefix.len, '}')))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_redis\" with \"cluster=\" takes no "
                           "brace in \"prefix=%V\": the keys' hash tags "
                           "are the module's", &tmcf->prefix);
        return NGX_CONF_ERROR;
    }

    /* a cluster primary has a replica: wait for it, as with Sentinel */

    if (ngx_http_twofa_redis_wait(cf, rcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "cluster");

    rcf->cluster = ngx_http_twofa_redis_nodes(cf, &name, seeds, 6379);
    if (rcf->cluster == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&rcf->host);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "twofa redis: cluster of %ui seeds", rcf->cluster->nelts);

    tmcf->redis = rcf;

    return NGX_CONF_OK;
}


/*
 * H:P[,H:P...] of sentinel= or cluster=: a conf per node, its address
 * resolved here (a request never waits for DNS).
 */

static ngx_array_t *
ngx_http_twofa_redis_nodes(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *list,
    in_port_t port)
{
    u_char                       *p, *end, *comma;
    ngx_str_t                     one;
    ngx_array_t                  *nodes;
    ngx_http_twofa_redis_conf_t  *node;

    nodes = ngx_array_create(cf->pool, 3,
                             sizeof(ngx_http_twofa_redis_conf_t));
    if (nodes == NULL) {
        return NULL;
    }

    p = list->data;
    end = p + list->len;

    while (p <= end) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }

        one.data = p;
        one.len = comma - p;

        if (one.len == 0
            || (one.len > 5 && ngx_strncmp(one.data, "unix:", 5) == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" has an invalid %V "
                               "address \"%V\" in \"%V=%V\"",
                               name, &one, name, list);
            return NULL;
        }

        node = ngx_array_push(nodes);
        if (node == NULL) {
            return NULL;
        }

        ngx_memzero(node, sizeof(ngx_http_twofa_redis_conf_t));

        node->addr = one;

        if (ngx_http_twofa_redis_address(cf, node, &one, port) != NGX_OK) {
            return NULL;
        }

        p = comma + 1;
    }

    return nodes;
}


/*
 * service= and sentinel_password_file=, the Sentinel form's own:
 * NGX_OK, NGX_DECLINED (not one of them), NGX_ERROR (logged).
 */

static ngx_int_t
ngx_http_twofa_redis_sentinel_param(ngx_conf_t *cf,
    ngx_http_twofa_redis_conf_t *rcf, ngx_str_t *arg)
{
    ngx_str_t  v;

    if (ngx_http_twofa_param(arg, "service", &v)) {
        if (ngx_http_twofa_redis_service(&v) != NGX_OK) {
            goto invalid;
        }

        rcf->service = v;
        return NGX_OK;
    }

    if (ngx_http_twofa_param(arg, "sentinel_password_file", &v)) {
        if (v.len == 0) {
            goto invalid;
        }

        return ngx_http_twofa_redis_password(cf, &v, &rcf->sentinel_password);
    }

    return NGX_DECLINED;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"twofa_redis\" has an invalid parameter \"%V\"",
                       arg);
    return NGX_ERROR;
}


/*
 * replica_wait=: where replicas are expected (Sentinel, Cluster), the
 * replay guards are waited for by default, well under the command
 * timeout, so that a missing ack is told apart from a primary that does
 * not answer.
 */

static ngx_int_t
ngx_http_twofa_redis_wait(ngx_conf_t *cf, ngx_http_twofa_redis_conf_t *rcf)
{
    if (rcf->replica_wait == NGX_CONF_UNSET_MSEC) {
        rcf->replica_wait = ngx_min(200, rcf->timeout / 2);
    }

    if (rcf->replica_wait && rcf->replica_wait >= rcf->timeout) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_redis\" \"replica_wait=\" must be "
                           "shorter than \"timeout=\" (%Mms)",
                           rcf->timeout);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a Sentinel service name: printable, no spaces (it goes into a command) */

static ngx_int_t
ngx_http_twofa_redis_service(ngx_str_t *name)
{
    u_char  *p;

    if (name->len == 0 || name->len > 128) {
        return NGX_DECLINED;
    }

    for (p = name->data; p < name->data + name->len; p++) {
        if (*p <= ' ' || *p >= 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* a Redis or Sentinel password file */

static ngx_int_t
ngx_http_twofa_redis_password(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *password)
{
    ngx_str_t  name;

    ngx_str_set(&name, "twofa_redis");

    return ngx_http_twofa_secret_file(cf, &name, file, 1, password);
}


/*
 * host:port (resolved here, once: a request never waits for DNS) or
 * unix:/path.
 */

static ngx_int_t
ngx_http_twofa_redis_address(ngx_conf_t *cf, ngx_http_twofa_redis_conf_t *rcf,
    ngx_str_t *addr, in_port_t port)
{
    size_t     len;
    ngx_url_t  u;

    if (addr->len > 5 && ngx_strncmp(addr->data, "unix:", 5) == 0) {

        len = addr->len - 5;

        if (addr->data[5] != '/'
            || len >= sizeof(((struct sockaddr_un *) 0)->sun_path))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" has an invalid unix socket "
                               "path in \"%V\"", addr);
            return NGX_ERROR;
        }

        rcf->unix_path.len = len;
        rcf->unix_path.data = ngx_pnalloc(cf->pool, len + 1);
        if (rcf->unix_path.data == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn(rcf->unix_path.data, addr->data + 5, len + 1);

        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *addr;
    u.default_port = port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_redis\" cannot use \"%V\": %s",
                           addr, u.err ? u.err : "no address");
        return NGX_ERROR;
    }

    if (u.uri.len || u.family == AF_UNIX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_redis\" takes host:port or "
                           "unix:/path, not \"%V\"", addr);
        return NGX_ERROR;
    }

    rcf->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (rcf->host.data == NULL) {
        return NGX_ERROR;
    }

    rcf->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                  rcf->host.data, NGX_SOCKADDR_STRLEN, 0);
    rcf->host.data[rcf->host.len] = '\0';
    rcf->port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_OK;
}


/* One name=value of twofa_redis: NGX_OK, NGX_DECLINED (invalid), NGX_ERROR */

static ngx_int_t
ngx_http_twofa_redis_param(ngx_conf_t *cf, ngx_http_twofa_main_conf_t *tmcf,
    ngx_http_twofa_redis_conf_t *rcf, ngx_str_t *arg)
{
    u_char     *p;
    ngx_int_t   n;
    ngx_str_t   v;

    if (ngx_http_twofa_param(arg, "db", &v)) {
        n = ngx_atoi(v.data, v.len);
        if (n == NGX_ERROR || n > 65535) {
            return NGX_DECLINED;
        }

        rcf->db = n;
        return NGX_OK;
    }

    if (ngx_http_twofa_param(arg, "timeout", &v)) {
        rcf->timeout = ngx_parse_time(&v, 0);
        if (rcf->timeout == (ngx_msec_t) NGX_ERROR || rcf->timeout == 0) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_http_twofa_param(arg, "password_file", &v)) {
        if (v.len == 0) {
            return NGX_DECLINED;
        }

        return ngx_http_twofa_redis_password(cf, &v, &rcf->password);
    }

    if (ngx_http_twofa_param(arg, "replica_wait", &v)) {
        if (v.len == 3 && ngx_strncmp(v.data, "off", 3) == 0) {
            rcf->replica_wait = 0;
            return NGX_OK;
        }

        rcf->replica_wait = ngx_parse_time(&v, 0);
        if (rcf->replica_wait == (ngx_msec_t) NGX_ERROR
            || rcf->replica_wait == 0)
        {
            rcf->replica_wait = 0;
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_http_twofa_param(arg, "prefix", &v)) {
        if (v.len == 0 || v.len > 64) {
            return NGX_DECLINED;
        }

        for (p = v.data; p < v.data + v.len; p++) {
            if (*p <= ' ' || *p >= 0x7f) {
                return NGX_DECLINED;
            }
        }

        tmcf->prefix = v;
        return NGX_OK;
    }

    return NGX_DECLINED;
}
