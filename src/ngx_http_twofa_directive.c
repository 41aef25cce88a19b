/*
 * twofa-edge: the directives' parsers (nginx's "set" handlers).  They
 * check each value and name directive and value in every error; checks
 * across directives come later, in ngx_http_twofa_conf.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


static ngx_int_t ngx_http_twofa_cookie_param(ngx_http_twofa_cookie_conf_t *cc,
    ngx_str_t *arg);
static ngx_int_t ngx_http_twofa_param_time(ngx_str_t *arg, const char *name,
    time_t *t);
static char *ngx_http_twofa_last_time(ngx_conf_t *cf, ngx_uint_t i,
    const char *name, time_t *t);
static char *ngx_http_twofa_check_url(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_twofa_check_issuer(ngx_conf_t *cf, void *post,
    void *data);
static void ngx_http_twofa_cleanup_keys(void *data);


ngx_conf_post_t  ngx_http_twofa_url_post = { ngx_http_twofa_check_url };
ngx_conf_post_t  ngx_http_twofa_issuer_post = { ngx_http_twofa_check_issuer };

static void ngx_http_twofa_wipe_str(void *data);


/*
 * A secret's file (a password, a bearer token) of directive name: at
 * least min bytes, wiped from memory with the configuration.
 */

ngx_int_t
ngx_http_twofa_secret_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *file,
    size_t min, ngx_str_t *secret)
{
    if (ngx_http_twofa_conf_read_file(cf, name, file, min, 4096, 0, secret)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twofa_on_cleanup(cf->pool, ngx_http_twofa_wipe_str,
                                     secret);
}


/* "name=time" (seconds, more than none): NGX_OK, else NGX_DECLINED */

static ngx_int_t
ngx_http_twofa_param_time(ngx_str_t *arg, const char *name, time_t *t)
{
    time_t     v;
    ngx_str_t  s;

    if (!ngx_http_twofa_param(arg, name, &s)) {
        return NGX_DECLINED;
    }

    v = ngx_parse_time(&s, 1);
    if (v == (time_t) NGX_ERROR || v <= 0) {
        return NGX_DECLINED;
    }

    *t = v;

    return NGX_OK;
}


/*
 * A directive's one optional "name=time" parameter, the i-th word of the
 * line if there is one: the error names the directive and the parameter.
 */

static char *
ngx_http_twofa_last_time(ngx_conf_t *cf, ngx_uint_t i, const char *name,
    time_t *t)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    if (i >= cf->args->nelts
        || ngx_http_twofa_param_time(&value[i], name, t) == NGX_OK)
    {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" has an invalid parameter \"%V\"",
                       &value[0], &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * The one key=value helper of the directives: 1 and the value when arg
 * is "name=value", 0 otherwise.
 */

ngx_uint_t
ngx_http_twofa_param(ngx_str_t *arg, const char *name, ngx_str_t *value)
{
    size_t  len;

    len = ngx_strlen(name);

    if (arg->len <= len || arg->data[len] != '='
        || ngx_strncmp(arg->data, name, len) != 0)
    {
        return 0;
    }

    value->data = arg->data + len + 1;
    value->len = arg->len - len - 1;

    return 1;
}


char *
ngx_http_twofa_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_main_conf_t *tmcf = conf;

    ngx_str_t    *value, material;
    ngx_uint_t    i;
    twofa_key_t  *key, *keys;

    value = cf->args->elts;

    if (tmcf->keys == NULL) {
        tmcf->keys = ngx_array_create(cf->pool, 2, sizeof(twofa_key_t));

        if (tmcf->keys == NULL
            || ngx_http_twofa_on_cleanup(cf->pool,
                                         ngx_http_twofa_cleanup_keys,
                                         tmcf->keys)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
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

    ngx_str_t  *value, *token;

    token = (ngx_str_t *) (p + cmd->offset);

    if (token->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* a bearer token shorter than 16 bytes is guessable */

    if (ngx_http_twofa_secret_file(cf, &value[0], &value[1], 16, token)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

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

    const char                *other;
    ngx_flag_t                *flag;
    ngx_http_core_loc_conf_t  *clcf;

    flag = (ngx_flag_t *) (p + cmd->offset);

    if (*flag != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        other = (clcf->handler == ngx_http_twofa_pages_handler)
                ? "twofa_pages"
                : (clcf->handler == ngx_http_twofa_admin_handler)
                ? "twofa_admin"
                : (clcf->handler == ngx_http_twofa_metrics_handler)
                ? "twofa_metrics" : NULL;

        if (other) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" and \"%s\" cannot share a location",
                               &cmd->name, other);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" cannot share a location with another "
                               "content handler (e.g. proxy_pass)",
                               &cmd->name);
        }

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

    ngx_str_t  *value;

    if (tlcf->gate != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->gate = 1;
    tlcf->gate_max_age = 0;

    if (cf->args->nelts == 2
        && value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0)
    {
        tlcf->gate = 0;
        return NGX_CONF_OK;
    }

    return ngx_http_twofa_last_time(cf, 1, "max_age", &tlcf->gate_max_age);
}


/*
 * twofa_user VALUE [case=lower|keep]: the identity, and whether its case
 * is folded (by default when it reads the login form, see conf.c).
 */

char *
ngx_http_twofa_user(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_loc_conf_t *tlcf = conf;

    ngx_str_t                         *value, v;
    ngx_http_compile_complex_value_t   ccv;

    if (tlcf->user != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->user = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (tlcf->user == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = tlcf->user;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tlcf->user_from_form =
        (ngx_strlcasestrn(value[1].data, value[1].data + value[1].len,
                          (u_char *) "twofa_form_",
                          sizeof("twofa_form_") - 2)
         != NULL);

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_http_twofa_param(&value[2], "case", &v)) {

        if (v.len == 5 && ngx_strncmp(v.data, "lower", 5) == 0) {
            tlcf->user_case = NGX_HTTP_TWOFA_CASE_LOWER;
            return NGX_CONF_OK;
        }

        if (v.len == 4 && ngx_strncmp(v.data, "keep", 4) == 0) {
            tlcf->user_case = NGX_HTTP_TWOFA_CASE_KEEP;
            return NGX_CONF_OK;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"twofa_user\" takes case=lower or case=keep, not "
                       "\"%V\"", &value[2]);

    return NGX_CONF_ERROR;
}


/* twofa_app_cookie NAME ...: the app's session cookies, by name */

char *
ngx_http_twofa_app_cookie(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_loc_conf_t *tlcf = conf;

    u_char      *c;
    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    if (tlcf->app_cookies != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    tlcf->app_cookies = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                         sizeof(ngx_str_t));
    if (tlcf->app_cookies == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        /* an RFC 6265 cookie-name: a token */

        for (c = value[i].data; c < value[i].data + value[i].len; c++) {
            if (*c <= ' ' || *c >= 0x7f
                || strchr("()<>@,;:\\\"/[]?={}", *c) != NULL)
            {
                break;
            }
        }

        if (value[i].len == 0 || c != value[i].data + value[i].len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_app_cookie\" takes cookie names, "
                               "not \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(tlcf->app_cookies);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * twofa_cookie name=N [domain=D] [path=P] [max_age=T] [samesite=S]
 *              [secure=on|off]
 */

char *
ngx_http_twofa_cookie(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_srv_conf_t *tscf = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_twofa_cookie_conf_t  *cc;

    cc = &tscf->cookie;

    if (cc->name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_http_twofa_cookie_param(cc, &value[i]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_cookie\" has an invalid parameter "
                               "\"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (cc->name.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_cookie\" needs name=");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* One name=value of twofa_cookie: NGX_OK, or NGX_DECLINED (invalid). */

static ngx_int_t
ngx_http_twofa_cookie_param(ngx_http_twofa_cookie_conf_t *cc, ngx_str_t *arg)
{
    u_char     *p;
    ngx_str_t   v;

    if (ngx_http_twofa_param(arg, "name", &v)) {

        /* a cookie-name is an RFC 7230 token */

        if (v.len == 0 || v.len > 64) {
            return NGX_DECLINED;
        }

        for (p = v.data; p < v.data + v.len; p++) {
            if (!ngx_http_twofa_isalnum(*p)
                && ngx_strchr("!#$%&'*+-.^_`|~", *p) == NULL)
            {
                return NGX_DECLINED;
            }
        }

        cc->name = v;
        return NGX_OK;
    }

    if (ngx_http_twofa_param(arg, "domain", &v)) {
        for (p = v.data; p < v.data + v.len; p++) {
            if (!(ngx_http_twofa_isalnum(*p) || *p == '.' || *p == '-')) {
                return NGX_DECLINED;
            }
        }

        cc->domain = v;
        return NGX_OK;
    }

    if (ngx_http_twofa_param(arg, "path", &v)) {
        if (v.len == 0 || v.data[0] != '/') {
            return NGX_DECLINED;
        }

        for (p = v.data; p < v.data + v.len; p++) {
            if (*p <= ' ' || *p == ';' || *p >= 0x7f) {
                return NGX_DECLINED;
            }
        }

        cc->path = v;
        return NGX_OK;
    }

    if (ngx_http_twofa_param_time(arg, "max_age", &cc->max_age) == NGX_OK) {
        return NGX_OK;
    }

    if (ngx_http_twofa_param(arg, "samesite", &v)) {

        /* the canonical spelling: Strict, Lax, None */

        if (v.len == 6 && ngx_strncasecmp(v.data, (u_char *) "strict", 6) == 0)
        {
            ngx_str_set(&cc->samesite, "Strict");

        } else if (v.len == 3
                   && ngx_strncasecmp(v.data, (u_char *) "lax", 3) == 0)
        {
            ngx_str_set(&cc->samesite, "Lax");

        } else if (v.len == 4
                   && ngx_strncasecmp(v.data, (u_char *) "none", 4) == 0)
        {
            ngx_str_set(&cc->samesite, "None");

        } else {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (ngx_http_twofa_param(arg, "secure", &v)) {
        if (v.len == 2 && ngx_strncmp(v.data, "on", 2) == 0) {
            cc->secure = 1;
            return NGX_OK;
        }

        if (v.len == 3 && ngx_strncmp(v.data, "off", 3) == 0) {
            cc->secure = 0;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* twofa_lockout N [window=T] */

char *
ngx_http_twofa_lockout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twofa_srv_conf_t *tscf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

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

    return ngx_http_twofa_last_time(cf, 2, "window", &tscf->lockout_window);
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


/*
 * Checks after nginx's string slot (ngx_conf_set_str_slot with these as
 * its post): data is the field just set; the error names the directive.
 * A local URI: '/' first, no control characters, no scheme, no "//".
 */

static char *
ngx_http_twofa_check_url(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *url = data;

    u_char     *c;
    ngx_str_t  *value;

    value = cf->args->elts;

    if (url->len == 0 || url->data[0] != '/'
        || (url->len > 1 && url->data[1] == '/'))
    {
        goto invalid;
    }

    for (c = url->data; c < url->data + url->len; c++) {
        if (*c <= ' ' || *c >= 0x7f || *c == '"' || *c == '<' || *c == '>'
            || *c == '\\')
        {
            goto invalid;
        }
    }

    if (ngx_strcmp(value[0].data, "twofa_pages_url") == 0
        && url->data[url->len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_pages_url\" must end with \"/\", "
                           "not \"%V\"", url);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" needs a local path starting with \"/\", "
                       "not \"%V\"", &value[0], url);

    return NGX_CONF_ERROR;
}


/* what authenticator apps show: the label's "issuer:" forbids ':' */

static char *
ngx_http_twofa_check_issuer(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *issuer = data;

    u_char  *c;

    if (issuer->len == 0 || issuer->len > 64) {
        goto invalid;
    }

    for (c = issuer->data; c < issuer->data + issuer->len; c++) {
        if (*c < ' ' || *c == 0x7f || *c == ':') {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"twofa_issuer\" takes 1 to 64 printable "
                       "characters without \":\", not \"%V\"", issuer);

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
                       : set == ngx_conf_set_num_slot
                       ? "a number"
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
