/*
 * twofa-edge: the page templates, loaded once at configuration time (the
 * built-in ones, or an operator's directory) and rendered per page.  The
 * template language itself is the pure core's (src/twofa_tpl.c).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_tpl.h"
#include "ngx_http_twofa_templates.h"


static ngx_http_twofa_templates_t *ngx_http_twofa_tpl_load_dir(ngx_conf_t *cf,
    ngx_str_t *dir);
static twofa_tpl_t *ngx_http_twofa_tpl_compile(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *src);
static ngx_int_t ngx_http_twofa_tpl_render(ngx_pool_t *pool,
    twofa_tpl_t *tpl, ngx_str_t *vars, ngx_str_t *out);
static void ngx_http_twofa_tpl_free(void *data);


/* in the order of ngx_http_twofa_var_e */
static const char  *ngx_http_twofa_var_names[] = {
    "title",
    "issuer",
    "content",
    "user",
    "org",
    "action",
    "csrf",
    "error",
    "secret",
    "secret_grouped",
    "otpauth",
    "qr",
    "recovery_items",
    "return",
    "message",
    "status",
    "enrolled_at",
    "recovery_left",
    "required",
    "enabled",
    "enable_action",
    "disable_action",
    "heading",
    "link",
    "link_text"
};


/* only markup the module makes may go out unescaped */
#define NGX_HTTP_TWOFA_RAW_VARS                                              \
    ((1ULL << NGX_HTTP_TWOFA_V_CONTENT) | (1ULL << NGX_HTTP_TWOFA_V_QR)      \
     | (1ULL << NGX_HTTP_TWOFA_V_RECOVERY_ITEMS))


ngx_int_t
ngx_http_twofa_render(ngx_http_request_t *r, twofa_tpl_t *tpl,
    ngx_str_t *title, ngx_str_t *vars, ngx_uint_t status)
{
    ngx_str_t                   content, page;
    ngx_http_twofa_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_twofa_module);

    vars[NGX_HTTP_TWOFA_V_ISSUER] = tscf->issuer;
    vars[NGX_HTTP_TWOFA_V_TITLE] = *title;

    if (ngx_http_twofa_tpl_render(r->pool, tpl, vars, &content) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    vars[NGX_HTTP_TWOFA_V_CONTENT] = content;

    if (ngx_http_twofa_tpl_render(r->pool, tscf->templates->layout, vars,
                                  &page)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa page: rendered %uz bytes", page.len);

    return ngx_http_twofa_send(r, status, 0, &page);
}


static ngx_http_twofa_templates_t *
ngx_http_twofa_tpl_load_dir(ngx_conf_t *cf, ngx_str_t *dir)
{
    u_char                      *p;
    ngx_file_info_t              fi;
    ngx_int_t                    rc;
    ngx_str_t                    file, src, directive;
    ngx_uint_t                   i;
    twofa_tpl_t                **slot;
    ngx_http_twofa_templates_t  *tpl;

    static struct {
        ngx_str_t      name;
        const char    *builtin;
        size_t         offset;
    } pages[] = {
        { ngx_string("layout.html"), ngx_http_twofa_default_layout,
          offsetof(ngx_http_twofa_templates_t, layout) },
        { ngx_string("enroll.html"), ngx_http_twofa_default_enroll,
          offsetof(ngx_http_twofa_templates_t, enroll) },
        { ngx_string("verify.html"), ngx_http_twofa_default_verify,
          offsetof(ngx_http_twofa_templates_t, verify) },
        { ngx_string("recovery.html"), ngx_http_twofa_default_recovery,
          offsetof(ngx_http_twofa_templates_t, recovery) },
        { ngx_string("settings.html"), ngx_http_twofa_default_settings,
          offsetof(ngx_http_twofa_templates_t, settings) },
        { ngx_string("message.html"), ngx_http_twofa_default_message,
          offsetof(ngx_http_twofa_templates_t, message) }
    };

    ngx_str_set(&directive, "twofa_templates");

    if (dir->len) {
        file = *dir;

        if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
            return NULL;
        }

        if (ngx_file_info(file.data, &fi) == NGX_FILE_ERROR
            || !ngx_is_dir(&fi))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "\"twofa_templates\" \"%V\" is not a "
                               "directory", &file);
            return NULL;
        }
    }

    tpl = ngx_pcalloc(cf->pool, sizeof(ngx_http_twofa_templates_t));
    if (tpl == NULL) {
        return NULL;
    }

    for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {

        rc = NGX_DECLINED;

        if (dir->len) {
            file.len = dir->len + 1 + pages[i].name.len;
            file.data = ngx_pnalloc(cf->pool, file.len + 1);
            if (file.data == NULL) {
                return NULL;
            }

            p = ngx_cpymem(file.data, dir->data, dir->len);
            *p++ = '/';
            p = ngx_cpymem(p, pages[i].name.data, pages[i].name.len);
            *p = '\0';

            rc = ngx_http_twofa_conf_read_file(cf, &directive, &file, 0,
                                               64 * 1024, 1, &src);
            if (rc == NGX_ERROR) {
                return NULL;
            }

        } else {
            file = pages[i].name;
        }

        if (rc == NGX_DECLINED) {
            /* no file of that name: the built-in page */
            src.data = (u_char *) pages[i].builtin;
            src.len = ngx_strlen(pages[i].builtin);
        }

        slot = (twofa_tpl_t **) ((char *) tpl + pages[i].offset);

        *slot = ngx_http_twofa_tpl_compile(cf, &file, &src);
        if (*slot == NULL) {
            return NULL;
        }
    }

    return tpl;
}


ngx_int_t
ngx_http_twofa_templates_load(ngx_conf_t *cf, ngx_http_twofa_srv_conf_t *conf,
    ngx_http_twofa_srv_conf_t *prev)
{
    if (prev->templates == NULL) {
        prev->templates = ngx_http_twofa_tpl_load_dir(cf, &prev->templates_dir);
        if (prev->templates == NULL) {
            return NGX_ERROR;
        }
    }

    if (conf->templates_dir.len == prev->templates_dir.len
        && ngx_strncmp(conf->templates_dir.data, prev->templates_dir.data,
                       conf->templates_dir.len) == 0)
    {
        conf->templates = prev->templates;
        return NGX_OK;
    }

    conf->templates = ngx_http_twofa_tpl_load_dir(cf, &conf->templates_dir);

    return conf->templates ? NGX_OK : NGX_ERROR;
}


/*
 * The core compiles (the language: twofa_tpl.h); the pool of the cycle
 * frees it.  An error names the file and what is wrong in it.
 */

static twofa_tpl_t *
ngx_http_twofa_tpl_compile(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *src)
{
    char                 err[256];
    twofa_tpl_t         *tpl;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    tpl = twofa_tpl_compile((const char *) src->data, src->len,
                            ngx_http_twofa_var_names, NGX_HTTP_TWOFA_V_COUNT,
                            NGX_HTTP_TWOFA_RAW_VARS, err, sizeof(err));
    if (tpl == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "template \"%V\": %s",
                           name, err);
        return NULL;
    }

    cln->handler = ngx_http_twofa_tpl_free;
    cln->data = tpl;

    return tpl;
}


static void
ngx_http_twofa_tpl_free(void *data)
{
    twofa_tpl_free(data);
}


/* The page in the request's pool: its length first, then its bytes. */

static ngx_int_t
ngx_http_twofa_tpl_render(ngx_pool_t *pool, twofa_tpl_t *tpl,
    ngx_str_t *vars, ngx_str_t *out)
{
    size_t              len;
    ngx_uint_t          i;
    twofa_tpl_value_t   values[NGX_HTTP_TWOFA_V_COUNT];

    for (i = 0; i < NGX_HTTP_TWOFA_V_COUNT; i++) {
        values[i].data = (const char *) vars[i].data;
        values[i].len = vars[i].len;
    }

    len = twofa_tpl_render_len(tpl, values);
    if (len == (size_t) -1) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, len ? len : 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = twofa_tpl_render(tpl, values, (char *) out->data);

    return NGX_OK;
}
