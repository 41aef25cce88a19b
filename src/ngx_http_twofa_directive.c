/*
 * twofa-edge: the directives' parsers (nginx's "set" handlers).  They
 * check each value and name directive and value in every error; checks
 * across directives come later, in ngx_http_twofa_conf.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static void ngx_http_twofa_cleanup_keys(void *data);
static void ngx_http_twofa_wipe_str(void *data);


/* twofa_redis ADDR [db=N] [password_file=F] [timeout=T] [prefix=P] */

char *
ngx_http_twofa_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_main_conf_t *tmcf = conf;

    u_char                       *p;
    size_t                        len;
    ngx_int_t                     n;
    ngx_str_t                    *value, s, file;
    ngx_url_t                     u;
    ngx_uint_t                    i;
    ngx_pool_cleanup_t           *cln;
    ngx_http_twofa_redis_conf_t  *rc;

    if (tmcf->redis) {
        return "is duplicate";
    }

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_http_twofa_redis_conf_t));
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    rc->addr = value[1];
    rc->timeout = 1000;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {

        len = value[1].len - 5;

        if (value[1].data[5] != '/'
            || len >= sizeof(((struct sockaddr_un *) 0)->sun_path))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" has an invalid unix socket "
                               "path in \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        rc->unix_path.len = len;
        rc->unix_path.data = ngx_pnalloc(cf->pool, len + 1);
        if (rc->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rc->unix_path.data, value[1].data + 5, len + 1);

    } else {

        /* resolved here, once: a request never waits for DNS */

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[1];
        u.default_port = 6379;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" cannot use \"%V\": %s",
                               &value[1], u.err ? u.err : "no address");
            return NGX_CONF_ERROR;
        }

        if (u.uri.len || u.family == AF_UNIX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_redis\" takes host:port or "
                               "unix:/path, not \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        rc->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rc->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        rc->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                     rc->host.data, NGX_SOCKADDR_STRLEN, 0);
        rc->host.data[rc->host.len] = '\0';
        rc->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {

            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR || n > 65535) {
                goto invalid;
            }

            rc->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {

            s.len = value[i].len - 8;
            s.data = value[i].data + 8;

            rc->timeout = ngx_parse_time(&s, 0);
            if (rc->timeout == (ngx_msec_t) NGX_ERROR || rc->timeout == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {

            file.len = value[i].len - 14;
            file.data = value[i].data + 14;

            if (file.len == 0) {
                goto invalid;
            }

            if (ngx_http_twofa_conf_read_file(cf, &value[0], &file, 1, 4096,
                                              0, &rc->password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            cln = ngx_pool_cleanup_add(cf->pool, 0);
            if (cln == NULL) {
                return NGX_CONF_ERROR;
            }

            cln->handler = ngx_http_twofa_wipe_str;
            cln->data = &rc->password;

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {

            tmcf->prefix.len = value[i].len - 7;
            tmcf->prefix.data = value[i].data + 7;

            if (tmcf->prefix.len == 0 || tmcf->prefix.len > 64) {
                goto invalid;
            }

            for (p = tmcf->prefix.data;
                 p < tmcf->prefix.data + tmcf->prefix.len;
                 p++)
            {
                if (*p <= ' ' || *p >= 0x7f) {
                    goto invalid;
                }
            }

            continue;
        }

        goto invalid;
    }

    tmcf->redis = rc;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"twofa_redis\" has an invalid parameter \"%V\"",
                       &value[i]);

    return NGX_CONF_ERROR;
}


char *
ngx_http_twofa_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_main_conf_t *tmcf = conf;

    ngx_str_t           *value, material;
    ngx_uint_t           i;
    twofa_key_t         *key, *keys;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;

    if (tmcf->keys == NULL) {
        tmcf->keys = ngx_array_create(cf->pool, 2, sizeof(twofa_key_t));
        if (tmcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_twofa_cleanup_keys;
        cln->data = tmcf->keys;
    }

    if (ngx_http_twofa_conf_read_file(cf, &value[0], &value[1],
                                      TWOFA_MASTER_KEY_MIN, 4096, 0,
                                      &material)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    key = ngx_array_push(tmcf->keys);
    if (key == NULL) {
        ngx_explicit_memzero(material.data, material.len);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(key, sizeof(twofa_key_t));

    if (twofa_key_init(key, material.data, material.len) != 0) {
        ngx_explicit_memzero(material.data, material.len);
        tmcf->keys->nelts--;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_key_file\" \"%V\": key derivation "
                           "failed", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(material.data, material.len);

    keys = tmcf->keys->elts;

    for (i = 0; i + 1 < tmcf->keys->nelts; i++) {
        if (ngx_memcmp(keys[i].id, key->id, TWOFA_KID_SIZE) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_key_file\" \"%V\" holds a key that "
                               "is already loaded", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_http_twofa_token_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t           *value, *token;
    ngx_pool_cleanup_t  *cln;

    token = (ngx_str_t *) (p + cmd->offset);

    if (token->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* a bearer token shorter than 16 bytes is guessable */

    if (ngx_http_twofa_conf_read_file(cf, &value[0], &value[1], 16, 4096, 0,
                                      token)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_twofa_wipe_str;
    cln->data = token;

    return NGX_CONF_OK;
}


/*
 * twofa_pages; and twofa_admin;: the location's content handler (in
 * cmd->post) and its flag (at cmd->offset).
 */

char *
ngx_http_twofa_handler_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_flag_t                *flag;
    ngx_http_core_loc_conf_t  *clcf;

    flag = (ngx_flag_t *) (p + cmd->offset);

    if (*flag != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot share a location with another "
                           "content handler (e.g. proxy_pass)", &cmd->name);
        return NGX_CONF_ERROR;
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;
    *flag = 1;

    return NGX_CONF_OK;
}


/* twofa_gate [max_age=T] | off */

char *
ngx_http_twofa_gate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_loc_conf_t *tlcf = conf;

    ngx_str_t  *value, s;

    if (tlcf->gate != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->gate = 1;
    tlcf->gate_max_age = 0;

    if (cf->args->nelts == 1) {
        return NGX_CONF_OK;
    }

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        tlcf->gate = 0;
        return NGX_CONF_OK;
    }

    if (value[1].len > 8 && ngx_strncmp(value[1].data, "max_age=", 8) == 0) {
        s.len = value[1].len - 8;
        s.data = value[1].data + 8;

        tlcf->gate_max_age = ngx_parse_time(&s, 1);
        if (tlcf->gate_max_age != (time_t) NGX_ERROR
            && tlcf->gate_max_age > 0)
        {
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"twofa_gate\" has an invalid parameter \"%V\"",
                       &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * twofa_cookie name=N [domain=D] [path=P] [max_age=T] [samesite=S]
 *              [secure=on|off]
 */

char *
ngx_http_twofa_cookie(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_srv_conf_t *tscf = conf;

    u_char                        *p;
    ngx_str_t                     *value, s;
    ngx_uint_t                     i;
    ngx_http_twofa_cookie_conf_t  *cc;

    cc = &tscf->cookie;

    if (cc->name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            if (s.len == 0 || s.len > 64) {
                goto invalid;
            }

            /* a cookie-name is an RFC 7230 token */

            for (p = s.data; p < s.data + s.len; p++) {
                if (!ngx_http_twofa_isalnum(*p)
                    && ngx_strchr("!#$%&'*+-.^_`|~", *p) == NULL)
                {
                    goto invalid;
                }
            }

            cc->name = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "domain=", 7) == 0) {
            s.len = value[i].len - 7;
            s.data = value[i].data + 7;

            for (p = s.data; p < s.data + s.len; p++) {
                if (!(ngx_http_twofa_isalnum(*p) || *p == '.' || *p == '-')) {
                    goto invalid;
                }
            }

            cc->domain = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "path=", 5) == 0) {
            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            if (s.len == 0 || s.data[0] != '/') {
                goto invalid;
            }

            for (p = s.data; p < s.data + s.len; p++) {
                if (*p <= ' ' || *p == ';' || *p >= 0x7f) {
                    goto invalid;
                }
            }

            cc->path = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_age=", 8) == 0) {
            s.len = value[i].len - 8;
            s.data = value[i].data + 8;

            cc->max_age = ngx_parse_time(&s, 1);
            if (cc->max_age == (time_t) NGX_ERROR || cc->max_age <= 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "samesite=", 9) == 0) {
            s.len = value[i].len - 9;
            s.data = value[i].data + 9;

            if (!((s.len == 6
                   && ngx_strncasecmp(s.data, (u_char *) "strict", 6) == 0)
                  || (s.len == 3
                      && ngx_strncasecmp(s.data, (u_char *) "lax", 3) == 0)
                  || (s.len == 4
                      && ngx_strncasecmp(s.data, (u_char *) "none", 4) == 0)))
            {
                goto invalid;
            }

            /* the canonical spelling: Strict, Lax, None */

            cc->samesite.len = s.len;
            cc->samesite.data = (u_char *) (s.len == 6 ? "Strict"
                                            : s.len == 3 ? "Lax" : "None");
            continue;
        }

        if (ngx_strcmp(value[i].data, "secure=on") == 0) {
            cc->secure = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "secure=off") == 0) {
            cc->secure = 0;
            continue;
        }

        goto invalid;
    }

    if (cc->name.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_cookie\" needs name=");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"twofa_cookie\" has an invalid parameter \"%V\"",
                       &value[i]);

    return NGX_CONF_ERROR;
}


/* twofa_lockout N [window=T] */

char *
ngx_http_twofa_lockout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_srv_conf_t *tscf = conf;

    ngx_int_t   n;
    ngx_str_t  *value, s;

    if (tscf->lockout != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n < 1 || n > 99) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_lockout\" takes a number of failures "
                           "from 1 to 99, not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    tscf->lockout = n;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (value[2].len > 7 && ngx_strncmp(value[2].data, "window=", 7) == 0) {
        s.len = value[2].len - 7;
        s.data = value[2].data + 7;

        tscf->lockout_window = ngx_parse_time(&s, 1);
        if (tscf->lockout_window != (time_t) NGX_ERROR
            && tscf->lockout_window > 0)
        {
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"twofa_lockout\" has an invalid parameter \"%V\"",
                       &value[2]);

    return NGX_CONF_ERROR;
}


char *
ngx_http_twofa_skew(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_uint_t  *skew;

    skew = (ngx_uint_t *) (p + cmd->offset);

    if (*skew != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n > TWOFA_SKEW_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_skew\" takes a number of steps from 0 "
                           "to %d, not \"%V\"", TWOFA_SKEW_MAX, &value[1]);
        return NGX_CONF_ERROR;
    }

    *skew = n;

    return NGX_CONF_OK;
}


/* a local URI: '/' first, no control characters, no scheme, no "//" */

char *
ngx_http_twofa_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char     *c;
    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/'
        || (value[1].len > 1 && value[1].data[1] == '/'))
    {
        goto invalid;
    }

    for (c = value[1].data; c < value[1].data + value[1].len; c++) {
        if (*c <= ' ' || *c >= 0x7f || *c == '"' || *c == '<' || *c == '>'
            || *c == '\\')
        {
            goto invalid;
        }
    }

    if (ngx_strcmp(cmd->name.data, "twofa_pages_url") == 0
        && value[1].data[value[1].len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_pages_url\" must end with \"/\", "
                           "not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    *field = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" needs a local path starting with \"/\", "
                       "not \"%V\"", &cmd->name, &value[1]);

    return NGX_CONF_ERROR;
}


char *
ngx_http_twofa_issuer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    u_char     *c;
    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 64) {
        goto invalid;
    }

    for (c = value[1].data; c < value[1].data + value[1].len; c++) {
        if (*c < ' ' || *c == 0x7f || *c == ':') {
            goto invalid;
        }
    }

    *field = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"twofa_issuer\" takes 1 to 64 printable "
                       "characters without \":\", not \"%V\"", &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * nginx's size and time slots say "invalid value" without the value:
 * these wrappers (the real slot in cmd->post) name both.
 */

char *
ngx_http_twofa_value_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char             *rv;
    ngx_str_t        *value;
    ngx_command_t     real;
    char           *(*set)(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

    set = (char *(*)(ngx_conf_t *, ngx_command_t *, void *)) cmd->post;

    real = *cmd;
    real.post = NULL;

    rv = set(cf, &real, conf);

    if (rv == NGX_CONF_OK || rv == NGX_CONF_ERROR) {
        return rv;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" has an invalid value \"%V\" (%s)",
                       &cmd->name, &value[1],
                       set == ngx_conf_set_size_slot
                       ? "a size like 256k or 1m"
                       : "a time like 30s, 5m or 1h");

    return NGX_CONF_ERROR;
}


char *
ngx_http_twofa_enum_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t        *value;
    ngx_uint_t       *field, i;
    ngx_conf_enum_t  *e;

    field = (ngx_uint_t *) (p + cmd->offset);

    if (*field != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (e = cmd->post, i = 0; e[i].name.len; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            *field = e[i].value;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" takes \"%V\" or \"%V\", not \"%V\"",
                       &cmd->name, &e[0].name, &e[1].name, &value[1]);

    return NGX_CONF_ERROR;
}


static void
ngx_http_twofa_cleanup_keys(void *data)
{
    ngx_array_t *keys = data;

    ngx_uint_t    i;
    twofa_key_t  *key;

    key = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        twofa_key_free(&key[i]);
    }
}


static void
ngx_http_twofa_wipe_str(void *data)
{
    ngx_str_t *s = data;

    if (s->data) {
        ngx_explicit_memzero(s->data, s->len);
    }
}
