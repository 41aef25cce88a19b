/*
 * twofa-edge: configuration files that hold a secret or a page (keys,
 * tokens, passwords, templates), read once at configuration time.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


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
