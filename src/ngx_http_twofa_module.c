/*
 * twofa-edge: directives, configuration, variables, handler registration.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_scripts.h"


static void *ngx_http_twofa_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_twofa_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_twofa_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_twofa_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_twofa_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_twofa_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_twofa_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_twofa_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_twofa_init_process(ngx_cycle_t *cycle);
static void ngx_http_twofa_exit_process(ngx_cycle_t *cycle);
static void ngx_http_twofa_exit_master(ngx_cycle_t *cycle);

static char *ngx_http_twofa_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_handler_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twofa_gate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_lockout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_skew(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_issuer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_value_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twofa_enum_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static void ngx_http_twofa_cleanup_keys(void *data);
static void ngx_http_twofa_wipe_str(void *data);
static ngx_int_t ngx_http_twofa_identity_headers(ngx_conf_t *cf,
    ngx_http_twofa_loc_conf_t *conf);
static ngx_int_t ngx_http_twofa_guard_headers(ngx_conf_t *cf,
    ngx_http_twofa_main_conf_t *tmcf, ngx_http_twofa_loc_conf_t *conf);
static ngx_int_t ngx_http_twofa_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twofa_amr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_conf_enum_t  ngx_http_twofa_on_redis_error[] = {
    { ngx_string("closed"), NGX_HTTP_TWOFA_REDIS_ERROR_CLOSED },
    { ngx_string("open"), NGX_HTTP_TWOFA_REDIS_ERROR_OPEN },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_twofa_commands[] = {

    { ngx_string("twofa_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_twofa_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twofa_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_key_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twofa_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_issuer,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, issuer),
      NULL },

    { ngx_string("twofa_login"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, login),
      NULL },

    { ngx_string("twofa_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, user),
      NULL },

    { ngx_string("twofa_org"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, org),
      NULL },

    { ngx_string("twofa_pages"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twofa_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, pages),
      ngx_http_twofa_pages_handler },

    { ngx_string("twofa_pages_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_url,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, pages_url),
      NULL },

    { ngx_string("twofa_login_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_url,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, login_url),
      NULL },

    { ngx_string("twofa_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twofa_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, admin),
      ngx_http_twofa_admin_handler },

    { ngx_string("twofa_admin_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_token_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, admin_token),
      NULL },

    { ngx_string("twofa_gate"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_twofa_gate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twofa_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_twofa_cookie,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twofa_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_skew,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, skew),
      NULL },

    { ngx_string("twofa_lockout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE12,
      ngx_http_twofa_lockout,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twofa_hold_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_value_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, hold_ttl),
      ngx_conf_set_sec_slot },

    { ngx_string("twofa_hold_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, hold_max_size),
      ngx_conf_set_size_slot },

    { ngx_string("twofa_hide_identity_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, hide_identity),
      NULL },

    { ngx_string("twofa_on_redis_error"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_enum_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, on_redis_error),
      &ngx_http_twofa_on_redis_error },

    { ngx_string("twofa_templates"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, templates_dir),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_twofa_module_ctx = {
    ngx_http_twofa_add_variables,          /* preconfiguration */
    ngx_http_twofa_init,                   /* postconfiguration */

    ngx_http_twofa_create_main_conf,       /* create main configuration */
    ngx_http_twofa_init_main_conf,         /* init main configuration */

    ngx_http_twofa_create_srv_conf,        /* create server configuration */
    ngx_http_twofa_merge_srv_conf,         /* merge server configuration */

    ngx_http_twofa_create_loc_conf,        /* create location configuration */
    ngx_http_twofa_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_twofa_module = {
    NGX_MODULE_V1,
    &ngx_http_twofa_module_ctx,            /* module context */
    ngx_http_twofa_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_twofa_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_twofa_exit_process,           /* exit process */
    ngx_http_twofa_exit_master,            /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_twofa_vars[] = {

    { ngx_string("twofa_user"), NULL, ngx_http_twofa_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twofa_org"), NULL, ngx_http_twofa_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twofa_result"), NULL, ngx_http_twofa_variable,
      2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twofa_amr"), NULL, ngx_http_twofa_amr_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_twofa_result_names[] = {
    ngx_string(""),
    ngx_string("passed"),
    ngx_string("held"),
    ngx_string("enrolled"),
    ngx_string("verified"),
    ngx_string("failed"),
    ngx_string("locked"),
    ngx_string("expired"),
    ngx_string("denied"),
    ngx_string("error")
};


static ngx_str_t  ngx_http_twofa_default_prefix = ngx_string("twofa:");


static void *
ngx_http_twofa_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_twofa_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twofa_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

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


static char *
ngx_http_twofa_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_twofa_main_conf_t *tmcf = conf;

    if (tmcf->prefix.data == NULL) {
        tmcf->prefix = ngx_http_twofa_default_prefix;
    }

    /* the SHA1s of the scripts, once, before the workers fork */

    if (twofa_scripts_init() != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "twofa: cannot hash the built-in Redis scripts");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
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


static char *
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


static void *
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
    conf->gate = NGX_CONF_UNSET;
    conf->gate_max_age = NGX_CONF_UNSET;
    conf->user = NGX_CONF_UNSET_PTR;
    conf->org = NGX_CONF_UNSET_PTR;
    conf->hold_max_size = NGX_CONF_UNSET_SIZE;
    conf->hide_identity = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_twofa_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_twofa_loc_conf_t *prev = parent;
    ngx_http_twofa_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_twofa_srv_conf_t   *tscf;
    ngx_http_twofa_main_conf_t  *tmcf;

    /* what a location *is* (login, pages, admin) is not inherited */

    ngx_conf_merge_value(conf->login, NGX_CONF_UNSET, 0);
    ngx_conf_merge_value(conf->pages, NGX_CONF_UNSET, 0);
    ngx_conf_merge_value(conf->admin, NGX_CONF_UNSET, 0);

    ngx_conf_merge_value(conf->gate, prev->gate, 0);
    ngx_conf_merge_sec_value(conf->gate_max_age, prev->gate_max_age, 0);
    ngx_conf_merge_ptr_value(conf->user, prev->user, NULL);
    ngx_conf_merge_ptr_value(conf->org, prev->org, NULL);
    ngx_conf_merge_size_value(conf->hold_max_size, prev->hold_max_size,
                              256 * 1024);
    ngx_conf_merge_value(conf->hide_identity, prev->hide_identity, 1);
    ngx_conf_merge_str_value(conf->admin_token, prev->admin_token, "");

    if (conf->login && (conf->pages || conf->admin)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_login\" and \"%s\" cannot be used in "
                           "the same location",
                           conf->pages ? "twofa_pages" : "twofa_admin");
        return NGX_CONF_ERROR;
    }

    if (conf->gate && (conf->pages || conf->admin)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_gate\" cannot protect the location of "
                           "\"%s\"",
                           conf->pages ? "twofa_pages" : "twofa_admin");
        return NGX_CONF_ERROR;
    }

    if (!(conf->login || conf->pages || conf->admin || conf->gate)) {
        return NGX_CONF_OK;
    }

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twofa_module);

    if (tmcf->keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"twofa_key_file\"",
                           conf->login ? "twofa_login" :
                           conf->pages ? "twofa_pages" :
                           conf->admin ? "twofa_admin" : "twofa_gate");
        return NGX_CONF_ERROR;
    }

    if ((conf->login || conf->pages || conf->admin) && tmcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" needs \"twofa_redis\"",
                           conf->login ? "twofa_login" :
                           conf->pages ? "twofa_pages" : "twofa_admin");
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* proxy_pass after twofa_pages would have taken the location silently */

    if ((conf->pages && clcf->handler != ngx_http_twofa_pages_handler)
        || (conf->admin && clcf->handler != ngx_http_twofa_admin_handler))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" cannot share a location with another "
                           "content handler (e.g. proxy_pass)",
                           conf->pages ? "twofa_pages" : "twofa_admin");
        return NGX_CONF_ERROR;
    }

    if (conf->login && clcf->handler == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_login on\" needs the location's own "
                           "proxy_pass (or another content handler)");
        return NGX_CONF_ERROR;
    }

    if (conf->login && conf->user == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twofa_login on\" needs \"twofa_user\"");
        return NGX_CONF_ERROR;
    }

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
            return NGX_CONF_ERROR;
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
            return NGX_CONF_ERROR;
        }
    }

    if (conf->login) {
        if (ngx_http_twofa_identity_headers(cf, conf) != NGX_OK
            || ngx_http_twofa_guard_headers(cf, tmcf, conf) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
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
ngx_http_twofa_guard_headers(ngx_conf_t *cf, ngx_http_twofa_main_conf_t *tmcf,
    ngx_http_twofa_loc_conf_t *conf)
{
    ngx_str_t   *name, *known, *add;
    ngx_uint_t   i, j;

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


static ngx_int_t
ngx_http_twofa_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_twofa_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * $twofa_user and $twofa_org: who a login, page or admin request was
 * about; otherwise who the valid session cookie of the request names, so
 * the app (and the logs) can compare it with their own idea of the user on
 * every request, gated or not.  $twofa_result: what happened.
 */

static ngx_int_t
ngx_http_twofa_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t                    *s, from_session;
    ngx_http_twofa_ctx_t         *ctx;
    const twofa_session_t        *session;
    ngx_http_twofa_main_conf_t   *tmcf;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twofa_module);

    s = NULL;

    if (ctx) {
        s = (data == 0) ? &ctx->user
            : (data == 1) ? &ctx->org
            : &ngx_http_twofa_result_names[ctx->result];
    }

    if ((s == NULL || s->len == 0) && data < 2) {
        tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

        if (tmcf->keys && ngx_http_twofa_get_session(r, &session) == NGX_OK) {
            if (data == 0) {
                from_session.data = (u_char *) session->user;
                from_session.len = session->user_len;

            } else {
                from_session.data = (u_char *) session->org;
                from_session.len = session->org_len;
            }

            /* the cache entry may be reused: keep a copy */

            v->data = ngx_pnalloc(r->pool, from_session.len);
            if (v->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(v->data, from_session.data, from_session.len);
            v->len = from_session.len;
            v->valid = 1;
            v->no_cacheable = 1;
            v->not_found = 0;

            return NGX_OK;
        }
    }

    if (s == NULL || s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


/*
 * How the bearer of the session cookie signed in: "pwd", "totp" or
 * "recovery"; empty without a valid cookie.  For the app (as a proxied
 * header) and for logs.
 */

static ngx_int_t
ngx_http_twofa_amr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                  *name;
    const twofa_session_t       *s;
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    if (tmcf->keys == NULL || ngx_http_twofa_get_session(r, &s) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = twofa_amr_name(s->amr);

    v->len = ngx_strlen(name);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = (u_char *) name;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* the login runs after access checks, right before proxying */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twofa_login_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twofa_gate_handler;

    return ngx_http_twofa_login_init_filters(cf);
}


static ngx_int_t
ngx_http_twofa_init_process(ngx_cycle_t *cycle)
{
    ngx_http_twofa_main_conf_t  *tmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_twofa_module);

    if (tmcf == NULL) {
        return NGX_OK;
    }

    if (tmcf->keys) {
        tmcf->sessions = ngx_pcalloc(cycle->pool,
                                 NGX_HTTP_TWOFA_SESSION_CACHE
                                 * sizeof(ngx_http_twofa_session_entry_t));
        if (tmcf->sessions == NULL) {
            return NGX_ERROR;
        }
    }

    if (tmcf->redis == NULL) {
        return NGX_OK;
    }

    tmcf->client = ngx_http_twofa_redis_create(cycle, tmcf->redis);
    if (tmcf->client == NULL) {
        return NGX_ERROR;
    }

    if (tmcf->keys) {
        tmcf->revocations = ngx_http_twofa_revoke_init(cycle, tmcf);
        if (tmcf->revocations == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_twofa_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_twofa_module);

    if (tmcf && tmcf->revocations) {
        ngx_http_twofa_revoke_exit(tmcf->revocations);
        tmcf->revocations = NULL;
    }

    if (tmcf && tmcf->client) {
        ngx_http_twofa_redis_destroy(tmcf->client);
        tmcf->client = NULL;
    }

    ngx_http_twofa_exit_master(cycle);
}


/*
 * The core fetches its algorithms once per process; free them before
 * nginx unloads the module at exit, or they would be lost.
 */

static void
ngx_http_twofa_exit_master(ngx_cycle_t *cycle)
{
    twofa_totp_cleanup();
    twofa_seal_cleanup();
}


ngx_http_twofa_ctx_t *
ngx_http_twofa_get_ctx(ngx_http_request_t *r)
{
    ngx_http_twofa_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twofa_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->main->pool, sizeof(ngx_http_twofa_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r->main, ctx, ngx_http_twofa_module);
    }

    return ctx;
}


const twofa_key_t *
ngx_http_twofa_keys(ngx_http_request_t *r, size_t *n)
{
    ngx_http_twofa_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twofa_module);

    *n = tmcf->keys->nelts;

    return tmcf->keys->elts;
}


/* twofa_redis ADDR [db=N] [password_file=F] [timeout=T] [prefix=P] */

static char *
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


static char *
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


static char *
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

static char *
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

static char *
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

static char *
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

static char *
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


static char *
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

static char *
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


static char *
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

static char *
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


static char *
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


/*
 * Reads a key, token, password or template file: its bytes without one
 * trailing newline (LF or CRLF).  Unreadable, shorter than min or longer
 * than max: a config error naming the directive and the file.  A missing
 * file is NGX_DECLINED when missing_ok.
 */

ngx_int_t
ngx_http_twofa_conf_read_file(ngx_conf_t *cf, ngx_str_t *directive,
    ngx_str_t *name, size_t min, size_t max, ngx_uint_t missing_ok,
    ngx_str_t *out)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_err_t        err;
    ngx_str_t        full;
    ngx_file_t       file;
    ngx_file_info_t  fi;
    ngx_int_t        rc;
    u_char          *buf;
    size_t           size;

    rc = NGX_ERROR;

    full = *name;

    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(full.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;

        if (missing_ok && err == NGX_ENOENT) {
            return NGX_DECLINED;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                           "\"%V\" cannot open \"%V\"", directive, &full);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = full;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" cannot stat \"%V\"", directive, &full);
        goto done;
    }

    if (ngx_file_size(&fi) > (off_t) max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%V\" is larger than %uz bytes",
                           directive, &full, max);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    buf = ngx_pnalloc(cf->pool, size + 1);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, buf, size, 0);
    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" cannot read \"%V\"", directive, &full);
        goto done;
    }

    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r') {
            n--;
        }
    }

    if ((size_t) n < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%V\" holds %z bytes, at least "
                           "%uz are needed", directive, &full, n, min);
        ngx_explicit_memzero(buf, size);
        goto done;
    }

    buf[n] = '\0';
    out->data = buf;
    out->len = n;
    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &full);
    }

    return rc;
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
