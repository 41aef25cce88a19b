/*
 * Minimal TAP producer for the unit tests: prove runs the test binaries
 * and reads "ok N - name" lines.  The exit status is non-zero when any
 * test failed or the count differs from the plan.
 */

#ifndef TWOFA_TAP_H
#define TWOFA_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int  tap_planned = -1;
static int  tap_run;
static int  tap_failed;


static inline void
plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}


static inline void
diag(const char *fmt, ...)
{
    va_list  ap;

    fflush(stdout);
    fputs("# ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}


static inline int
tap_vok(int pass, const char *fmt, va_list ap)
{
    tap_run++;

    if (!pass) {
        tap_failed++;
        printf("not ");
    }

    printf("ok %d - ", tap_run);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);

    return pass;
}


static inline int
ok(int pass, const char *fmt, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, fmt);
    rc = tap_vok(pass, fmt, ap);
    va_end(ap);

    return rc;
}


static inline int
is_int(long long got, long long want, const char *fmt, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, fmt);
    rc = tap_vok(got == want, fmt, ap);
    va_end(ap);

    if (!rc) {
        diag("     got: %lld", got);
        diag("expected: %lld", want);
    }

    return rc;
}


static inline int
is_str(const char *got, const char *want, const char *fmt, ...)
{
    int      rc, pass;
    va_list  ap;

    pass = (got == NULL && want == NULL)
           || (got != NULL && want != NULL && strcmp(got, want) == 0);

    va_start(ap, fmt);
    rc = tap_vok(pass, fmt, ap);
    va_end(ap);

    if (!rc) {
        diag("     got: '%s'", got ? got : "(null)");
        diag("expected: '%s'", want ? want : "(null)");
    }

    return rc;
}


/* Compares len bytes; shows both in hex when they differ. */

static inline int
is_mem(const void *got, const void *want, size_t len, const char *fmt, ...)
{
    int      rc;
    size_t   i;
    va_list  ap;

    va_start(ap, fmt);
    rc = tap_vok(memcmp(got, want, len) == 0, fmt, ap);
    va_end(ap);

    if (!rc) {
        fflush(stdout);
        fputs("#      got: ", stderr);
        for (i = 0; i < len; i++) {
            fprintf(stderr, "%02x", ((const unsigned char *) got)[i]);
        }
        fputs("\n# expected: ", stderr);
        for (i = 0; i < len; i++) {
            fprintf(stderr, "%02x", ((const unsigned char *) want)[i]);
        }
        fputc('\n', stderr);
    }

    return rc;
}


/* Ends the test: prints the plan if none was given; the exit status. */

static inline int
done(void)
{
    if (tap_planned < 0) {
        printf("1..%d\n", tap_run);

    } else if (tap_planned != tap_run) {
        diag("planned %d tests but ran %d", tap_planned, tap_run);
        return 255;
    }

    if (tap_failed > 0) {
        diag("failed %d of %d tests", tap_failed, tap_run);
        return tap_failed < 254 ? tap_failed : 254;
    }

    return 0;
}


/* Decodes a hex string (test vectors) into a malloc'd buffer. */

static inline unsigned char *
tap_hex(const char *hex, size_t *len)
{
    size_t          i, n;
    unsigned int    byte;
    unsigned char  *out;

    n = strlen(hex) / 2;
    out = malloc(n + 1);

    if (out == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    for (i = 0; i < n; i++) {
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            fprintf(stderr, "bad hex in test vector: %s\n", hex);
            exit(255);
        }
        out[i] = (unsigned char) byte;
    }

    *len = n;

    return out;
}

#endif /* TWOFA_TAP_H */
