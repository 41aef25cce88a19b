/*
 * The password file: read before anything touches Redis, so an
 * unreadable one is a usage error (exit 2), as --help says.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "twofa_admin.h"


static int twofa_admin_read_password_file(const char *file, char *buf,
    size_t *out);


/* the Redis password, and the sentinels' when given */

int
twofa_admin_read_password(twofa_admin_t *adm)
{
    int  rc;

    if (adm->password_file) {
        rc = twofa_admin_read_password_file(adm->password_file,
                                            adm->password,
                                            &adm->password_len);
        if (rc != TWOFA_ADMIN_OK) {
            return rc;
        }
    }

    if (adm->sentinel_password_file) {
        return twofa_admin_read_password_file(adm->sentinel_password_file,
                                              adm->sentinel_password,
                                              &adm->sentinel_password_len);
    }

    return TWOFA_ADMIN_OK;
}


/*
 * One line, as the module reads password_file=: its bytes without one
 * trailing newline (LF or CRLF).  buf has TWOFA_ADMIN_PASSWORD_MAX + 1
 * bytes.
 */

static int
twofa_admin_read_password_file(const char *file, char *buf, size_t *out)
{
    int      fd, rc;
    size_t   len, size;
    ssize_t  n;

    rc = TWOFA_ADMIN_EUSAGE;
    len = 0;
    size = TWOFA_ADMIN_PASSWORD_MAX + 1;

    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "twofa-admin: cannot open password file \"%s\": "
                "%s\n", file, strerror(errno));
        return rc;
    }

    /* one byte more than allowed, to see a file that is too long */

    while (len < size) {
        n = read(fd, buf + len, size - len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1) {
            fprintf(stderr, "twofa-admin: cannot read password file "
                    "\"%s\": %s\n", file, strerror(errno));
            goto done;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;
    }

    if (len > TWOFA_ADMIN_PASSWORD_MAX) {
        fprintf(stderr, "twofa-admin: password file \"%s\" is larger than "
                "%d bytes\n", file, TWOFA_ADMIN_PASSWORD_MAX);
        goto done;
    }

    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }

    if (len == 0) {
        fprintf(stderr, "twofa-admin: password file \"%s\" is empty\n",
                file);
        goto done;
    }

    *out = len;
    rc = TWOFA_ADMIN_OK;

done:

    close(fd);

    return rc;
}
