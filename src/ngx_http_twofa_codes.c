/*
 * twofa-edge: the secrets a page handles.  TOTP codes checked against
 * the opened secret, secrets and recovery codes sealed and opened (bound
 * to their owner), and the stateless CSRF tokens of the forms.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_base64.h"


static ngx_int_t ngx_http_twofa_secret_aad(ngx_http_twofa_page_t *pg,
    u_char *buf, size_t *len);


static void ngx_http_twofa_codes_aad(ngx_http_twofa_page_t *pg, u_char *buf,
    size_t *len);
static ngx_int_t ngx_http_twofa_csrf_binding(ngx_http_twofa_page_t *pg,
    u_char *buf, size_t *len);


/* The TOTP code in pg->code against pg->secret; the step in pg->step. */

ngx_int_t
ngx_http_twofa_check_code(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    int                         rc;
    u_char                      digits[TWOFA_DIGITS_MAX];
    size_t                      n;
    ngx_uint_t                  i;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    /* people type "123 456": spaces do not count */

    n = 0;

    for (i = 0; i < pg->code.len; i++) {
        if (pg->code.data[i] == ' ') {
            continue;
        }

        if (n == TWOFA_DIGITS_MAX) {
            return NGX_DECLINED;
        }

        digits[n++] = pg->code.data[i];
    }

    if (n != 6) {
        return NGX_DECLINED;
    }

    rc = twofa_totp_verify(TWOFA_SHA1, pg->secret, NGX_HTTP_TWOFA_SECRET_SIZE,
                           (uint64_t) ngx_time(), 30, 6, tscf->skew,
                           (const char *) digits, n, &pg->step);

    ngx_explicit_memzero(digits, sizeof(digits));

    return (rc == 1) ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_twofa_secret_aad(ngx_http_twofa_page_t *pg, u_char *buf,
    size_t *len)
{
    u_char  *p;

    p = ngx_cpymem(buf, "twofa secret v1", sizeof("twofa secret v1"));
    p = ngx_cpymem(p, pg->org.data, pg->org.len);
    *p++ = '\0';
    p = ngx_cpymem(p, pg->user.data, pg->user.len);

    *len = p - buf;

    return NGX_OK;
}


/* A new random secret into pg->secret, and sealed (base64) into out. */

ngx_int_t
ngx_http_twofa_new_secret(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *out)
{
    int                 n;
    size_t              nkeys, aad_len;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              buf[NGX_HTTP_TWOFA_SECRET_SIZE + TWOFA_SEAL_OVERHEAD];

    if (twofa_random(pg->secret, NGX_HTTP_TWOFA_SECRET_SIZE) != 0
        || ngx_http_twofa_secret_aad(pg, aad, &aad_len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &nkeys);

    n = twofa_seal(&keys[0], aad, aad_len, pg->secret,
                   NGX_HTTP_TWOFA_SECRET_SIZE, buf, sizeof(buf));
    if (n < 0) {
        return NGX_ERROR;
    }

    out->len = twofa_base64_encoded_len((size_t) n);
    out->data = ngx_pnalloc(r->pool, out->len + 1);
    if (out->data == NULL
        || twofa_base64_encode(buf, n, (char *) out->data, out->len + 1) < 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* The stored secret (base64 of sealed bytes) into pg->secret. */

ngx_int_t
ngx_http_twofa_open_secret(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *sealed)
{
    int                 n;
    size_t              nkeys, aad_len;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              raw[NGX_HTTP_TWOFA_SECRET_SIZE + TWOFA_SEAL_OVERHEAD];

    n = twofa_base64_decode((const char *) sealed->data, sealed->len, raw,
                            sizeof(raw));
    if (n < 0) {
        goto failed;
    }

    ngx_http_twofa_secret_aad(pg, aad, &aad_len);

    keys = ngx_http_twofa_keys(r, &nkeys);

    if (twofa_open(keys, nkeys, aad, aad_len, raw, n, pg->secret,
                   sizeof(pg->secret))
        != NGX_HTTP_TWOFA_SECRET_SIZE)
    {
        goto failed;
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twofa: the stored secret of \"%V\" of \"%V\" does not "
                  "open under the configured keys", &pg->user, &pg->org);

    return NGX_ERROR;
}


/*
 * The new recovery codes, sealed, kept with the hold until continue (or a
 * while for a signed-in user), so a retry after a late reply shows them.
 * Bound to the owner: a hold's codes open for no one else.
 */

static void
ngx_http_twofa_codes_aad(ngx_http_twofa_page_t *pg, u_char *buf, size_t *len)
{
    u_char  *p;

    p = ngx_cpymem(buf, "twofa recovery v1", sizeof("twofa recovery v1"));
    p = ngx_cpymem(p, pg->org.data, pg->org.len);
    *p++ = '\0';
    p = ngx_cpymem(p, pg->user.data, pg->user.len);

    *len = p - buf;
}


ngx_int_t
ngx_http_twofa_seal_codes(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *out)
{
    int                 n;
    u_char             *p;
    size_t              nkeys, aad_len;
    ngx_uint_t          i;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              plain[TWOFA_RECOVERY_COUNT
                              * (TWOFA_RECOVERY_LEN + 1)];
    u_char              sealed[sizeof(plain) + TWOFA_SEAL_OVERHEAD];

    p = plain;

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        p = ngx_cpymem(p, pg->recovery[i], TWOFA_RECOVERY_LEN);
    }

    ngx_http_twofa_codes_aad(pg, aad, &aad_len);

    keys = ngx_http_twofa_keys(r, &nkeys);

    n = twofa_seal(&keys[0], aad, aad_len, plain, p - plain, sealed,
                   sizeof(sealed));

    ngx_explicit_memzero(plain, sizeof(plain));

    if (n < 0) {
        return NGX_ERROR;
    }

    out->len = twofa_base64_encoded_len((size_t) n);
    out->data = ngx_pnalloc(r->pool, out->len + 1);
    if (out->data == NULL
        || twofa_base64_encode(sealed, n, (char *) out->data, out->len + 1)
           < 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The recovery codes kept with a hold or session, into pg->recovery.
 * NGX_DECLINED: they do not open under the configured keys.
 */

ngx_int_t
ngx_http_twofa_open_codes(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *sealed)
{
    int                 n;
    size_t              nkeys, aad_len;
    ngx_uint_t          i;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              raw[TWOFA_RECOVERY_COUNT * (TWOFA_RECOVERY_LEN + 1)
                            + TWOFA_SEAL_OVERHEAD];
    u_char              plain[sizeof(raw)];

    n = twofa_base64_decode((const char *) sealed->data, sealed->len, raw,
                            sizeof(raw));
    if (n < 0) {
        return NGX_DECLINED;
    }

    ngx_http_twofa_codes_aad(pg, aad, &aad_len);

    keys = ngx_http_twofa_keys(r, &nkeys);

    n = twofa_open(keys, nkeys, aad, aad_len, raw, n, plain, sizeof(plain));

    if (n != TWOFA_RECOVERY_COUNT * TWOFA_RECOVERY_LEN) {
        ngx_explicit_memzero(plain, sizeof(plain));
        return NGX_DECLINED;
    }

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        ngx_memcpy(pg->recovery[i], plain + i * TWOFA_RECOVERY_LEN,
                   TWOFA_RECOVERY_LEN);
        pg->recovery[i][TWOFA_RECOVERY_LEN] = '\0';
    }

    ngx_explicit_memzero(plain, sizeof(plain));

    return NGX_OK;
}


/*
 * CSRF tokens are MACs of what the form acts on: the hold, or the session
 * (by its issue time, so a new login makes old forms stale).  No state.
 */

static ngx_int_t
ngx_http_twofa_csrf_binding(ngx_http_twofa_page_t *pg, u_char *buf,
    size_t *len)
{
    u_char  *p;

    if (pg->hold.len) {
        p = ngx_cpymem(buf, "hold:", 5);
        p = ngx_cpymem(p, pg->hold.data, pg->hold.len);

    } else if (pg->has_session) {
        p = ngx_sprintf(buf, "session:%*s:%*s:%L", pg->session.org_len,
                        pg->session.org, pg->session.user_len,
                        pg->session.user, pg->session.iat);

    } else {
        return NGX_DECLINED;
    }

    *len = p - buf;

    return NGX_OK;
}


ngx_int_t
ngx_http_twofa_make_csrf(ngx_http_request_t *r, ngx_http_twofa_page_t *pg)
{
    size_t              n, len;
    const twofa_key_t  *keys;
    u_char              binding[64 + 2 * TWOFA_ID_MAX];

    if (ngx_http_twofa_csrf_binding(pg, binding, &len) != NGX_OK) {
        ngx_str_null(&pg->csrf);
        return NGX_OK;
    }

    pg->csrf.data = ngx_pnalloc(r->pool, TWOFA_CSRF_LEN + 1);
    if (pg->csrf.data == NULL) {
        return NGX_ERROR;
    }

    keys = ngx_http_twofa_keys(r, &n);

    if (twofa_csrf_token(&keys[0], (const char *) binding, len,
                         (char *) pg->csrf.data)
        != 0)
    {
        return NGX_ERROR;
    }

    pg->csrf.len = TWOFA_CSRF_LEN;

    return NGX_OK;
}


ngx_int_t
ngx_http_twofa_check_csrf(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *token)
{
    size_t              n, len;
    const twofa_key_t  *keys;
    u_char              binding[64 + 2 * TWOFA_ID_MAX];

    if (ngx_http_twofa_csrf_binding(pg, binding, &len) != NGX_OK) {
        return NGX_DECLINED;
    }

    keys = ngx_http_twofa_keys(r, &n);

    if (!twofa_csrf_check(keys, n, (const char *) binding, len,
                          (const char *) token->data, token->len))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}
