/*
 * twofa-edge: a location with "twofa_metrics" shows the counters
 * (ngx_http_twofa_counters.c) in Prometheus's text format.  No label
 * names a user or an org.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


#define NGX_HTTP_TWOFA_METRICS_PAGE_MAX  8192


/* one metric and its HELP, TYPE and labelled lines */
typedef struct {
    const char                 *name;
    const char                 *type;
    const char                 *help;
    const char                 *label;      /* or NULL */
    const char                 *values[7];  /* label values, NULL-ended */
    ngx_http_twofa_metric_e     first;
} ngx_http_twofa_family_t;


static u_char *ngx_http_twofa_metrics_family(u_char *p, u_char *end,
    ngx_http_twofa_family_t *f, uint64_t *sum);
static u_char *ngx_http_twofa_metrics_histogram(u_char *p, u_char *end,
    uint64_t *sum);
static ngx_int_t ngx_http_twofa_metrics_send(ngx_http_request_t *r,
    ngx_str_t *body);


static const char  *ngx_http_twofa_bucket_le[NGX_HTTP_TWOFA_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "+Inf"
};


static ngx_http_twofa_family_t  ngx_http_twofa_families[] = {

    { "twofa_logins_total", "counter",
      "Logins the app accepted, by what the module did: passed (no second "
      "factor needed), held (for a code or enrollment), released (a held "
      "login let through after its code), refused (no deployment mark, an "
      "invalid identity, a response too large, an app that kept its "
      "session id: twofa_app_cookie), error (Redis gave no "
      "decision), unsafe (let through without a second factor: "
      "twofa_on_redis_error open).",
      "result",
      { "passed", "held", "released", "refused", "error", "unsafe", NULL },
      NGX_HTTP_TWOFA_M_LOGIN_PASSED },

    { "twofa_codes_total", "counter",
      "Codes submitted (TOTP and recovery), by result: valid, invalid "
      "(wrong or used), locked (refused unchecked: too many failures).",
      "result",
      { "valid", "invalid", "locked", NULL },
      NGX_HTTP_TWOFA_M_CODE_VALID },

    { "twofa_recovery_codes_used_total", "counter",
      "Recovery codes accepted.",
      NULL, { NULL }, NGX_HTTP_TWOFA_M_RECOVERY_USED },

    { "twofa_enrollments_total", "counter",
      "Users who turned two-factor authentication on.",
      NULL, { NULL }, NGX_HTTP_TWOFA_M_ENROLLMENTS },

    { "twofa_lockouts_total", "counter",
      "Failed codes that reached the lockout limit.",
      NULL, { NULL }, NGX_HTTP_TWOFA_M_LOCKOUTS },

    { "twofa_gate_total", "counter",
      "Requests to twofa_gate locations, by decision.",
      "result",
      { "passed", "denied", NULL },
      NGX_HTTP_TWOFA_M_GATE_PASSED },

    { "twofa_admin_changes_total", "counter",
      "Changes made through the admin API.",
      NULL, { NULL }, NGX_HTTP_TWOFA_M_ADMIN_CHANGES },

    { "twofa_unbound_total", "counter",
      "Requests whose app cookies were removed, not bound to a valid "
      "session (twofa_bind).",
      NULL, { NULL }, NGX_HTTP_TWOFA_M_UNBOUND },

    { "twofa_redis_commands_total", "counter",
      "Redis commands of the module, by result: ok (an answer), error (an "
      "error reply, a lost or missing connection), timeout.",
      "result",
      { "ok", "error", "timeout", NULL },
      NGX_HTTP_TWOFA_M_REDIS_OK },

    { "twofa_redis_connections", "gauge",
      "Redis connections up, summed over workers, by mode: command (the "
      "worker's commands), subscriber (its revocation channel).",
      "mode",
      { "command", "subscriber", NULL },
      NGX_HTTP_TWOFA_M_REDIS_UP_COMMAND }
};


ngx_int_t
ngx_http_twofa_metrics_handler(ngx_http_request_t *r)
{
    u_char      *p, *end;
    uint64_t     sum[NGX_HTTP_TWOFA_M_N];
    ngx_int_t    rc;
    ngx_str_t    body;
    ngx_uint_t   i;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_twofa_counters_sum(sum);

    body.data = ngx_pnalloc(r->pool, NGX_HTTP_TWOFA_METRICS_PAGE_MAX);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body.data;
    end = p + NGX_HTTP_TWOFA_METRICS_PAGE_MAX;

    for (i = 0; i < sizeof(ngx_http_twofa_families)
                    / sizeof(ngx_http_twofa_family_t); i++)
    {
        p = ngx_http_twofa_metrics_family(p, end,
                                          &ngx_http_twofa_families[i], sum);
    }

    p = ngx_http_twofa_metrics_histogram(p, end, sum);

    if (p == end) {
        /* cannot happen: the page is a fixed set of lines */
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = p - body.data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa metrics: %uz bytes", body.len);

    return ngx_http_twofa_metrics_send(r, &body);
}


/* Prometheus's text format, never cached */

static ngx_int_t
ngx_http_twofa_metrics_send(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_str_t  v;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = body->len;

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    ngx_str_set(&v, "no-store");
    if (ngx_http_twofa_push_header(r, "Cache-Control", &v) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twofa_send_body(r, body);
}


static u_char *
ngx_http_twofa_metrics_family(u_char *p, u_char *end,
    ngx_http_twofa_family_t *f, uint64_t *sum)
{
    ngx_uint_t  v;

    p = ngx_slprintf(p, end, "# HELP %s %s\n# TYPE %s %s\n",
                     f->name, f->help, f->name, f->type);

    if (f->label == NULL) {
        return ngx_slprintf(p, end, "%s %uL\n", f->name, sum[f->first]);
    }

    for (v = 0; f->values[v]; v++) {
        p = ngx_slprintf(p, end, "%s{%s=\"%s\"} %uL\n", f->name, f->label,
                         f->values[v], sum[f->first + v]);
    }

    return p;
}


static u_char *
ngx_http_twofa_metrics_histogram(u_char *p, u_char *end, uint64_t *sum)
{
    uint64_t    n, us;
    ngx_uint_t  b;

    p = ngx_slprintf(p, end,
                     "# HELP twofa_redis_command_duration_seconds Time from "
                     "a command sent to its answer (ok and error; timeouts "
                     "are counted apart).\n"
                     "# TYPE twofa_redis_command_duration_seconds "
                     "histogram\n");

    n = 0;

    for (b = 0; b < NGX_HTTP_TWOFA_BUCKETS; b++) {
        n += sum[NGX_HTTP_TWOFA_M_REDIS_BUCKET + b];

        p = ngx_slprintf(p, end,
                         "twofa_redis_command_duration_seconds_bucket"
                         "{le=\"%s\"} %uL\n",
                         ngx_http_twofa_bucket_le[b], n);
    }

    us = sum[NGX_HTTP_TWOFA_M_REDIS_SUM_US];

    return ngx_slprintf(p, end,
                        "twofa_redis_command_duration_seconds_sum "
                        "%uL.%06uL\n"
                        "twofa_redis_command_duration_seconds_count %uL\n",
                        us / 1000000, us % 1000000, n);
}
