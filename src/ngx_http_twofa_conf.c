/*
 * twofa-edge: configuration structures made, merged and checked.  Each
 * merge takes the values in; the checks across directives (what a
 * location needs, what conflicts) are functions of their own.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_scripts.h"


/* a check across a location's directives: NGX_ERROR, with its message */
typedef ngx_int_t ngx_http_twofa_check_t(ngx_conf_t *cf,
    ngx_http_twofa_loc_conf_t *conf);

static ngx_http_twofa_check_t  ngx_http_twofa_check_conflicts;
static ngx_http_twofa_check_t  ngx_http_twofa_check_needs;
static ngx_http_twofa_check_t  ngx_http_twofa_check_place;
static ngx_http_twofa_check_t  ngx_http_twofa_identity_headers;
static ngx_http_twofa_check_t  ngx_http_twofa_guard_headers;


/* run in this order on every merged location: the first refusal stops */
static ngx_http_twofa_check_t  *ngx_http_twofa_checks[] = {
    ngx_http_twofa_check_conflicts,
    ngx_http_twofa_check_needs,
    ngx_http_twofa_check_place,
    ngx_http_twofa_identity_headers,
    ngx_http_twofa_guard_headers
};


static ngx_str_t  ngx_http_twofa_default_prefix = ngx_string("twofa:");


void *
ngx_http_twofa_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_twofa_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twofa_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->audit_max_len = NGX_CONF_UNSET_UINT;

    /*
     * set by ngx_pcalloc():
     *
     *     conf->redis = NULL;
     *     conf->prefix = { 0, NULL };
     *     conf->keys = NULL;
     *     conf->client = NULL;
     */

    return conf;
}


char *
ngx_http_twofa_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_twofa_main_conf_t *tmcf = conf;

    if (tmcf->prefix.data == NULL) {
        tmcf->prefix = ngx_http_twofa_default_prefix;
    }

    ngx_conf_init_uint_value(tmcf->audit_max_len, 100000);

    if (tmcf->audit_max_len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_audit_max_len\" must keep at least one "
                           "entry");
        return NGX_CONF_ERROR;
    }

    /* the SHA1s of the scripts, once, before the workers fork */

    if (twofa_scripts_init() != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "twofa: cannot hash the built-in Redis scripts");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void *
ngx_http_twofa_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_twofa_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twofa_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->issuer = { 0, NULL };
     *     conf->pages_url = { 0, NULL };
     *     conf->login_url = { 0, NULL };
     *     conf->cookie.name = { 0, NULL };
     *     conf->cookie.domain = { 0, NULL };
     *     conf->cookie.path = { 0, NULL };
     *     conf->cookie.samesite = { 0, NULL };
     *     conf->templates_dir = { 0, NULL };
     *     conf->templates = NULL;
     */

    conf->cookie.max_age = NGX_CONF_UNSET;
    conf->cookie.secure = NGX_CONF_UNSET;
    conf->skew = NGX_CONF_UNSET_UINT;
    conf->lockout = NGX_CONF_UNSET_UINT;
    conf->lockout_window = NGX_CONF_UNSET;
    conf->hold_ttl = NGX_CONF_UNSET;
    conf->on_redis_error = NGX_CONF_UNSET_UINT;

    return conf;
}


char *
ngx_http_twofa_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_twofa_srv_conf_t *prev = parent;
    ngx_http_twofa_srv_conf_t *conf = child;

    ngx_str_t  *name;

    ngx_conf_merge_str_value(conf->issuer, prev->issuer,
                             "twofa-edge");
    ngx_conf_merge_str_value(conf->pages_url, prev->pages_url,
                             "/2fa/");
    ngx_conf_merge_str_value(conf->login_url, prev->login_url,
                             "/");

    if (conf->cookie.name.data == NULL) {
        conf->cookie = prev->cookie;
    }

    ngx_conf_merge_str_value(conf->cookie.name, prev->cookie.name,
                             "twofa_session");
    ngx_conf_merge_str_value(conf->cookie.path, prev->cookie.path, "/");
    ngx_conf_merge_str_value(conf->cookie.domain, prev->cookie.domain, "");
    ngx_conf_merge_str_value(conf->cookie.samesite, prev->cookie.samesite,
                             "Lax");
    ngx_conf_merge_sec_value(conf->cookie.max_age, prev->cookie.max_age,
                             12 * 60 * 60);
    ngx_conf_merge_value(conf->cookie.secure, prev->cookie.secure, 1);

    ngx_conf_merge_uint_value(conf->skew, prev->skew, 1);
    ngx_conf_merge_uint_value(conf->lockout, prev->lockout, 5);
    ngx_conf_merge_sec_value(conf->lockout_window, prev->lockout_window,
                             15 * 60);
    ngx_conf_merge_sec_value(conf->hold_ttl, prev->hold_ttl, 5 * 60);
    ngx_conf_merge_uint_value(conf->on_redis_error, prev->on_redis_error,
                              NGX_HTTP_TWOFA_REDIS_ERROR_CLOSED);
    ngx_conf_merge_str_value(conf->templates_dir, prev->templates_dir, "");

    if (conf->hold_ttl < 1 || conf->hold_ttl > 24 * 60 * 60) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_hold_ttl\" must be between 1s and 1d, "
                           "not %T seconds", conf->hold_ttl);
        return NGX_CONF_ERROR;
    }

    name = &conf->cookie.name;

    if (name->len > 7 && ngx_strncmp(name->data, "__Host-", 7) == 0) {
        if (!conf->cookie.secure || conf->cookie.domain.len
            || conf->cookie.path.len != 1 || conf->cookie.path.data[0] != '/')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_cookie\" name \"%V\" needs "
                               "secure=on, path=/ and no domain", name);
            return NGX_CONF_ERROR;
        }
    }

    if (name->len > 9 && ngx_strncmp(name->data, "__Secure-", 9) == 0
        && !conf->cookie.secure)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_cookie\" name \"%V\" needs secure=on",
                           name);
        return NGX_CONF_ERROR;
    }

    if (conf->cookie.samesite.len == 4
        && ngx_strncasecmp(conf->cookie.samesite.data, (u_char *) "None", 4)
           == 0
        && !conf->cookie.secure)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_cookie\" samesite=None needs secure=on");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twofa_templates_load(cf, conf, prev) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void *
ngx_http_twofa_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_twofa_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twofa_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->identity_headers = NULL;
     *     conf->admin_token = { 0, NULL };
     */

    conf->login = NGX_CONF_UNSET;
    conf->pages = NGX_CONF_UNSET;
    conf->admin = NGX_CONF_UNSET;
    conf->metrics = NGX_CONF_UNSET;
    conf->gate = NGX_CONF_UNSET;
    conf->gate_max_age = NGX_CONF_UNSET;
    conf->user = NGX_CONF_UNSET_PTR;
    conf->user_case = NGX_CONF_UNSET_UINT;
    conf->user_from_form = NGX_CONF_UNSET;
    conf->org = NGX_CONF_UNSET_PTR;
    conf->login_success = NGX_CONF_UNSET_PTR;
    conf->app_cookies = NGX_CONF_UNSET_PTR;
    conf->bind = NGX_CONF_UNSET;
    conf->hold_max_size = NGX_CONF_UNSET_SIZE;
    conf->hide_identity = NGX_CONF_UNSET;

    return conf;
}


char *
ngx_http_twofa_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_twofa_loc_conf_t *prev = parent;
    ngx_http_twofa_loc_conf_t *conf = child;

    ngx_uint_t  i;

    /* what a location *is* (login, pages, admin) is not inherited */

    ngx_conf_merge_value(conf->login, NGX_CONF_UNSET, 0);
    ngx_conf_merge_value(conf->pages, NGX_CONF_UNSET, 0);
    ngx_conf_merge_value(conf->admin, NGX_CONF_UNSET, 0);
    ngx_conf_merge_value(conf->metrics, NGX_CONF_UNSET, 0);

    ngx_conf_merge_value(conf->gate, prev->gate, 0);
    ngx_conf_merge_sec_value(conf->gate_max_age, prev->gate_max_age, 0);
    /* the identity and how it is spelled go together */

    if (conf->user == NGX_CONF_UNSET_PTR) {
        conf->user = prev->user;
        conf->user_case = prev->user_case;
        conf->user_from_form = prev->user_from_form;
    }

    ngx_conf_merge_ptr_value(conf->user, NULL, NULL);
    ngx_conf_merge_uint_value(conf->user_case, NGX_CONF_UNSET_UINT, 0);
    ngx_conf_merge_value(conf->user_from_form, NGX_CONF_UNSET, 0);

    /* a login form's spellings are the app's to merge: fold by default */

    conf->user_lower = (conf->user_case == NGX_HTTP_TWOFA_CASE_LOWER
                        || (conf->user_case == 0 && conf->user_from_form));

    ngx_conf_merge_ptr_value(conf->org, prev->org, NULL);
    ngx_conf_merge_ptr_value(conf->login_success, prev->login_success, NULL);
    ngx_conf_merge_ptr_value(conf->app_cookies, prev->app_cookies, NULL);
    ngx_conf_merge_value(conf->bind, prev->bind, 0);
    ngx_conf_merge_size_value(conf->hold_max_size, prev->hold_max_size,
                              256 * 1024);
    ngx_conf_merge_value(conf->hide_identity, prev->hide_identity, 1);
    ngx_conf_merge_str_value(conf->admin_token, prev->admin_token, "");

    for (i = 0; i < sizeof(ngx_http_twofa_checks)
                    / sizeof(ngx_http_twofa_checks[0]); i++)
    {
        if (ngx_http_twofa_checks[i](cf, conf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * Directives that must not meet in one location: each refusal names
 * them both.
 */

static ngx_int_t
ngx_http_twofa_check_conflicts(ngx_conf_t *cf, ngx_http_twofa_loc_conf_t *conf)
{
    if (conf->bind && conf->app_cookies == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_bind on\" needs \"twofa_app_cookie\" "
                           "to name the cookies it binds");
        return NGX_ERROR;
    }

    if (conf->login && (conf->pages || conf->admin)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_login\" and \"%s\" cannot be used in "
                           "the same location",
                           conf->pages ? "twofa_pages" : "twofa_admin");
        return NGX_ERROR;
    }

    if (conf->metrics && conf->login) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_login\" and \"twofa_metrics\" cannot "
                           "be used in the same location");
        return NGX_ERROR;
    }

    if (conf->gate && (conf->pages || conf->admin)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_gate\" cannot protect the location of "
                           "\"%s\"",
                           conf->pages ? "twofa_pages" : "twofa_admin");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What a location that uses the module needs: each refusal names the
 * directive and what it lacks.
 */

static ngx_int_t
ngx_http_twofa_check_needs(ngx_conf_t *cf, ngx_http_twofa_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_twofa_main_conf_t  *tmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the metrics need neither keys nor Redis, only their location */

    if (conf->metrics && clcf->handler != ngx_http_twofa_metrics_handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_metrics\" cannot share a location with "
                           "another content handler (e.g. proxy_pass)");
        return NGX_ERROR;
    }

    if (!(conf->login || conf->pages || conf->admin || conf->gate)) {
        return NGX_OK;
    }

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twofa_module);

    if (tmcf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"twofa_key_file\"",
                           conf->login ? "twofa_login" :
                           conf->pages ? "twofa_pages" :
                           conf->admin ? "twofa_admin" : "twofa_gate");
        return NGX_ERROR;
    }

    if ((conf->login || conf->pages || conf->admin) && tmcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"twofa_redis\"",
                           conf->login ? "twofa_login" :
                           conf->pages ? "twofa_pages" : "twofa_admin");
        return NGX_ERROR;
    }

    /* proxy_pass after twofa_pages would have taken the location silently */

    if ((conf->pages && clcf->handler != ngx_http_twofa_pages_handler)
        || (conf->admin && clcf->handler != ngx_http_twofa_admin_handler))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" cannot share a location with another "
                           "content handler (e.g. proxy_pass)",
                           conf->pages ? "twofa_pages" : "twofa_admin");
        return NGX_ERROR;
    }

    if (conf->login && clcf->handler == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_login on\" needs the location's own "
                           "proxy_pass (or another content handler)");
        return NGX_ERROR;
    }

    if (conf->login && conf->user == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_login on\" needs \"twofa_user\"");
        return NGX_ERROR;
    }

    /*
     * A form field is there whatever the app made of the password: only
     * the app's own verdict tells a login from an attempt.
     */

    if (conf->login && conf->user_from_form && conf->login_success == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_user\" reads the login form "
                           "($twofa_form_*) and needs "
                           "\"twofa_login_success\" to tell a login that "
                           "passed from one that did not");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Where the admin API and the pages may live. */

static ngx_int_t
ngx_http_twofa_check_place(ngx_conf_t *cf, ngx_http_twofa_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_twofa_srv_conf_t  *tscf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->admin) {
        if (clcf->exact_match || clcf->named
#if (NGX_PCRE)
            || clcf->regex
#endif
            )
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_admin\" needs a prefix location "
                               "(e.g. \"location /twofa-admin/\")");
            return NGX_ERROR;
        }

        if (conf->admin_token.len == 0) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "\"twofa_admin\" without "
                               "\"twofa_admin_token_file\": only allow/deny "
                               "protect it");
        }
    }

    if (conf->pages) {
        tscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_twofa_module);

        if (!clcf->exact_match && !clcf->named
#if (NGX_PCRE)
            && clcf->regex == NULL
#endif
            && (clcf->name.len != tscf->pages_url.len
                || ngx_strncmp(clcf->name.data, tscf->pages_url.data,
                               clcf->name.len) != 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"twofa_pages\" is in location \"%V\" but "
                               "\"twofa_pages_url\" is \"%V\"",
                               &clcf->name, &tscf->pages_url);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The identity headers the app sends to tell who logged in are for nginx
 * only: collect the names that twofa_user and twofa_org read through
 * $upstream_http_NAME (or $sent_http_NAME) so the login filter drops them.
 */

static ngx_int_t
ngx_http_twofa_identity_headers(ngx_conf_t *cf,
    ngx_http_twofa_loc_conf_t *conf)
{
    u_char                    *p, *end, *start;
    size_t                     skip;
    ngx_str_t                 *name;
    ngx_uint_t                 i, braced;
    ngx_http_complex_value_t  *cvs[2];

    static ngx_str_t  prefixes[] = {
        ngx_string("upstream_http_"),
        ngx_string("sent_http_")
    };

    if (!conf->login) {
        return NGX_OK;
    }

    conf->identity_headers = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (conf->identity_headers == NULL) {
        return NGX_ERROR;
    }

    cvs[0] = conf->user;
    cvs[1] = conf->org;

    for (i = 0; i < 2; i++) {

        if (cvs[i] == NULL) {
            continue;
        }

        p = cvs[i]->value.data;
        end = p + cvs[i]->value.len;

        while (p < end) {

            if (*p++ != '$') {
                continue;
            }

            braced = (p < end && *p == '{');
            p += braced;

            if ((size_t) (end - p) > prefixes[0].len
                && ngx_strncasecmp(p, prefixes[0].data, prefixes[0].len) == 0)
            {
                skip = prefixes[0].len;

            } else if ((size_t) (end - p) > prefixes[1].len
                       && ngx_strncasecmp(p, prefixes[1].data,
                                          prefixes[1].len) == 0)
            {
                skip = prefixes[1].len;

            } else {
                continue;
            }

            p += skip;
            start = p;

            while (p < end
                   && (ngx_http_twofa_isalnum(*p) || *p == '_' || *p == '-'))
            {
                p++;
            }

            if (p == start) {
                continue;
            }

            name = ngx_array_push(conf->identity_headers);
            if (name == NULL) {
                return NGX_ERROR;
            }

            name->len = p - start;
            name->data = ngx_pnalloc(cf->pool, name->len);
            if (name->data == NULL) {
                return NGX_ERROR;
            }

            for (skip = 0; skip < name->len; skip++) {
                name->data[skip] = (start[skip] == '_')
                                   ? '-' : ngx_tolower(start[skip]);
            }

            if (braced && p < end && *p == '}') {
                p++;
            }
        }
    }

    return NGX_OK;
}


/*
 * Every identity header of every login location, for the guard filter: a
 * response that carries one outside a login location came through a door
 * the operator did not put twofa_login on.
 */

static ngx_int_t
ngx_http_twofa_guard_headers(ngx_conf_t *cf, ngx_http_twofa_loc_conf_t *conf)
{
    ngx_str_t                   *name, *known, *add;
    ngx_uint_t                   i, j;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twofa_module);

    if (conf->identity_headers == NULL
        || conf->identity_headers->nelts == 0)
    {
        return NGX_OK;
    }

    if (tmcf->guarded_headers == NULL) {
        tmcf->guarded_headers = ngx_array_create(cf->pool, 2,
                                                 sizeof(ngx_str_t));
        if (tmcf->guarded_headers == NULL) {
            return NGX_ERROR;
        }
    }

    name = conf->identity_headers->elts;

    for (i = 0; i < conf->identity_headers->nelts; i++) {
        known = tmcf->guarded_headers->elts;

        for (j = 0; j < tmcf->guarded_headers->nelts; j++) {
            if (known[j].len == name[i].len
                && ngx_strncmp(known[j].data, name[i].data, name[i].len)
                   == 0)
            {
                break;
            }
        }

        if (j < tmcf->guarded_headers->nelts) {
            continue;
        }

        add = ngx_array_push(tmcf->guarded_headers);
        if (add == NULL) {
            return NGX_ERROR;
        }

        *add = name[i];
    }

    return NGX_OK;
}
