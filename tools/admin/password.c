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


/*
 * One line, as the module reads password_file=: its bytes without one
 * trailing newline (LF or CRLF).
 */

int
twofa_admin_read_password(twofa_admin_t *adm)
{
    int      fd, rc;
    size_t   len;
    ssize_t  n;

    rc = TWOFA_ADMIN_EUSAGE;
    len = 0;

    fd = open(adm->password_file, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "twofa-admin: cannot open password file \"%s\": "
                "%s\n", adm->password_file, strerror(errno));
        return rc;
    }

    /* one byte more than allowed, to see a file that is too long */

    while (len < sizeof(adm->password)) {
        n = read(fd, adm->password + len, sizeof(adm->password) - len);

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1) {
            fprintf(stderr, "twofa-admin: cannot read password file "
                    "\"%s\": %s\n", adm->password_file, strerror(errno));
            goto done;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;
    }

    if (len > TWOFA_ADMIN_PASSWORD_MAX) {
        fprintf(stderr, "twofa-admin: password file \"%s\" is larger than "
                "%d bytes\n", adm->password_file, TWOFA_ADMIN_PASSWORD_MAX);
        goto done;
    }

    if (len > 0 && adm->password[len - 1] == '\n') {
        len--;
        if (len > 0 && adm->password[len - 1] == '\r') {
            len--;
        }
    }

    if (len == 0) {
        fprintf(stderr, "twofa-admin: password file \"%s\" is empty\n",
                adm->password_file);
        goto done;
    }

    adm->password_len = len;
    rc = TWOFA_ADMIN_OK;

done:

    close(fd);

    return rc;
}
