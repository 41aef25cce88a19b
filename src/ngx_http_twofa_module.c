/*
 * twofa-edge: the module's tables (directives, context, module) and its
 * life cycle: handlers and filters registered after the configuration,
 * per-worker state made at process start and freed at exit.  What each
 * directive does is in ngx_http_twofa_directive.c, what the
 * configuration merges to in ngx_http_twofa_conf.c.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_scripts.h"


static ngx_int_t ngx_http_twofa_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_twofa_init_process(ngx_cycle_t *cycle);
static void ngx_http_twofa_exit_process(ngx_cycle_t *cycle);
static void ngx_http_twofa_exit_master(ngx_cycle_t *cycle);


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

    { ngx_string("twofa_audit_max_len"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_twofa_value_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_twofa_main_conf_t, audit_max_len),
      ngx_conf_set_num_slot },

    { ngx_string("twofa_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, issuer),
      &ngx_http_twofa_issuer_post },

    { ngx_string("twofa_login"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, login),
      NULL },

    { ngx_string("twofa_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_twofa_user,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, user),
      NULL },

    { ngx_string("twofa_login_success"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_set_predicate_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, login_success),
      NULL },

    { ngx_string("twofa_app_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_twofa_app_cookie,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, app_cookies),
      NULL },

    { ngx_string("twofa_bind"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, bind),
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
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, pages_url),
      &ngx_http_twofa_url_post },

    { ngx_string("twofa_login_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_twofa_srv_conf_t, login_url),
      &ngx_http_twofa_url_post },

    { ngx_string("twofa_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twofa_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, admin),
      ngx_http_twofa_admin_handler },

    { ngx_string("twofa_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twofa_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twofa_loc_conf_t, metrics),
      ngx_http_twofa_metrics_handler },

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

    /* before access: an access handler's NGX_OK must not skip it */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twofa_bind_handler;

    /* the counters, whether or not a location shows them */

    if (ngx_http_twofa_counters_zone(cf) != NGX_OK) {
        return NGX_ERROR;
    }

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

    ngx_http_twofa_counters_init_process(cycle);

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

        tmcf->bindings = ngx_pcalloc(cycle->pool,
                                     NGX_HTTP_TWOFA_BIND_CACHE
                                     * sizeof(ngx_http_twofa_bind_entry_t));
        if (tmcf->bindings == NULL) {
            return NGX_ERROR;
        }
    }

    if (tmcf->redis == NULL) {
        return NGX_OK;
    }

    if (tmcf->redis->sentinels) {
        tmcf->sentinel = ngx_http_twofa_sentinel_create(cycle, tmcf->redis);
        if (tmcf->sentinel == NULL) {
            return NGX_ERROR;
        }
    }

    /* in a cluster, each primary has a client of the cluster's */

    if (tmcf->redis->cluster) {
        tmcf->cluster = ngx_http_twofa_cluster_create(cycle, tmcf->redis);
        if (tmcf->cluster == NULL) {
            return NGX_ERROR;
        }

    } else {
        tmcf->client = ngx_http_twofa_redis_create(cycle, tmcf->redis);
        if (tmcf->client == NULL) {
            return NGX_ERROR;
        }
    }

    if (tmcf->sentinel) {
        ngx_http_twofa_sentinel_attach(tmcf->sentinel, tmcf->client);
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

    if (tmcf) {
        /* each takes NULL: what this worker never made */
        ngx_http_twofa_revoke_exit(tmcf->revocations);
        ngx_http_twofa_redis_destroy(tmcf->client);
        ngx_http_twofa_sentinel_destroy(tmcf->sentinel);
        ngx_http_twofa_cluster_destroy(tmcf->cluster);
    }

    ngx_http_twofa_counters_exit_process();

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
