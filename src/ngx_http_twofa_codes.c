/*
 * twofa-edge: the secrets a page handles.  TOTP codes checked against
 * the opened secret, secrets and recovery codes sealed and opened (bound
 * to their owner), and the stateless CSRF tokens of the forms.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_ident.h"
#include "twofa_base64.h"


/* The most a page seals: the recovery codes, larger than a secret. */
#define NGX_HTTP_TWOFA_OWNED_MAX                                             \
    (TWOFA_RECOVERY_COUNT * (TWOFA_RECOVERY_LEN + 1))


static ngx_int_t ngx_http_twofa_seal_owned(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, const char *label, u_char *plain, size_t len,
    ngx_str_t *out);
static int ngx_http_twofa_open_owned(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, const char *label, ngx_str_t *sealed,
    u_char *plain, size_t size);
static size_t ngx_http_twofa_owner_aad(ngx_http_twofa_page_t *pg,
    const char *label, u_char *aad);
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


/*
 * Secrets and recovery codes are sealed bound to their owner (the label
 * says what they are, then org and user): a hold's codes or a user's
 * secret open for no one else.  Base64 of the sealed bytes into out.
 */

static ngx_int_t
ngx_http_twofa_seal_owned(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    const char *label, u_char *plain, size_t len, ngx_str_t *out)
{
    int                 n;
    size_t              nkeys, aad_len;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              sealed[NGX_HTTP_TWOFA_OWNED_MAX
                               + TWOFA_SEAL_OVERHEAD];

    aad_len = ngx_http_twofa_owner_aad(pg, label, aad);

    keys = ngx_http_twofa_keys(r, &nkeys);

    n = twofa_seal(&keys[0], aad, aad_len, plain, len, sealed,
                   sizeof(sealed));
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


/* What seal_owned made, opened into plain: its length, or -1. */

static int
ngx_http_twofa_open_owned(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    const char *label, ngx_str_t *sealed, u_char *plain, size_t size)
{
    int                 n;
    size_t              nkeys, aad_len;
    const twofa_key_t  *keys;
    u_char              aad[64 + 2 * TWOFA_ID_MAX];
    u_char              raw[NGX_HTTP_TWOFA_OWNED_MAX + TWOFA_SEAL_OVERHEAD];

    n = twofa_base64_decode((const char *) sealed->data, sealed->len, raw,
                            sizeof(raw));
    if (n < 0) {
        return -1;
    }

    aad_len = ngx_http_twofa_owner_aad(pg, label, aad);

    keys = ngx_http_twofa_keys(r, &nkeys);

    return twofa_open(keys, nkeys, aad, aad_len, raw, n, plain, size);
}


static size_t
ngx_http_twofa_owner_aad(ngx_http_twofa_page_t *pg, const char *label,
    u_char *aad)
{
    u_char  *p;

    p = ngx_cpymem(aad, label, ngx_strlen(label) + 1);
    p = ngx_cpymem(p, pg->org.data, pg->org.len);
    *p++ = '\0';
    p = ngx_cpymem(p, pg->user.data, pg->user.len);

    return p - aad;
}


/* A new random secret into pg->secret, and sealed (base64) into out. */

ngx_int_t
ngx_http_twofa_new_secret(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *out)
{
    if (twofa_random(pg->secret, NGX_HTTP_TWOFA_SECRET_SIZE) != 0) {
        return NGX_ERROR;
    }

    return ngx_http_twofa_seal_owned(r, pg, "twofa secret v1", pg->secret,
                                     NGX_HTTP_TWOFA_SECRET_SIZE, out);
}


/* The stored secret (base64 of sealed bytes) into pg->secret. */

ngx_int_t
ngx_http_twofa_open_secret(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *sealed)
{
    if (ngx_http_twofa_open_owned(r, pg, "twofa secret v1", sealed,
                                  pg->secret, sizeof(pg->secret))
        == NGX_HTTP_TWOFA_SECRET_SIZE)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twofa: the stored secret of \"%V\" of \"%V\" does not "
                  "open under the configured keys",
                  ngx_http_twofa_shown(r, &pg->user),
                  ngx_http_twofa_shown(r, &pg->org));

    return NGX_ERROR;
}


/*
 * The new recovery codes, sealed, kept with the hold until continue (or a
 * while for a signed-in user), so a retry after a late reply shows them.
 */

ngx_int_t
ngx_http_twofa_seal_codes(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *out)
{
    u_char      *p;
    ngx_int_t    rc;
    ngx_uint_t   i;
    u_char       plain[NGX_HTTP_TWOFA_OWNED_MAX];

    p = plain;

    for (i = 0; i < TWOFA_RECOVERY_COUNT; i++) {
        p = ngx_cpymem(p, pg->recovery[i], TWOFA_RECOVERY_LEN);
    }

    rc = ngx_http_twofa_seal_owned(r, pg, "twofa recovery v1", plain,
                                   p - plain, out);

    ngx_explicit_memzero(plain, sizeof(plain));

    return rc;
}


/*
 * The recovery codes kept with a hold or session, into pg->recovery.
 * NGX_DECLINED: they do not open under the configured keys.
 */

ngx_int_t
ngx_http_twofa_open_codes(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    ngx_str_t *sealed)
{
    int         n;
    ngx_uint_t  i;
    u_char      plain[NGX_HTTP_TWOFA_OWNED_MAX + TWOFA_SEAL_OVERHEAD];

    n = ngx_http_twofa_open_owned(r, pg, "twofa recovery v1", sealed, plain,
                                  sizeof(plain));

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

        /* escaped as in keys: no ':' in them, one binding per session */

        p = ngx_cpymem(buf, "session:", 8);
        p += twofa_ident_key_escape(pg->session.org, pg->session.org_len,
                                    (char *) p);
        *p++ = ':';
        p += twofa_ident_key_escape(pg->session.user, pg->session.user_len,
                                    (char *) p);
        p = ngx_sprintf(p, ":%L", pg->session.iat);

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
    u_char              binding[64 + 6 * TWOFA_ID_MAX];

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
    u_char              binding[64 + 6 * TWOFA_ID_MAX];

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
