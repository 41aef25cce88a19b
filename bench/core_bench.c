/*
 * Nanoseconds per call of the core's hot paths.
 *
 *   cc $(CORE_CFLAGS) bench/core_bench.c build/libtwofa_core.a \
 *       -lcrypto -lqrencode -o build/core_bench
 *
 * Each item runs for about 0.3 s (or argv[1] seconds) after a short
 * warm-up; argv[2] runs only the items whose name contains it (for
 * profiling: valgrind --tool=callgrind build/core_bench 0.05 cookie).
 * bench/run reads the last field of each line.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twofa_cookie.h"
#include "twofa_seal.h"
#include "twofa_totp.h"


static double       bench_seconds = 0.3;
static const char  *bench_only;      /* argv[2]: run only names with this */


typedef int (*bench_fn)(void *arg);


static twofa_key_t  bench_key;
static uint8_t      bench_secret[20];
static char         bench_code[8];
static char         bench_cookie[TWOFA_COOKIE_MAX + 1];
static size_t       bench_cookie_len;
static uint8_t      bench_response[4096];
static uint8_t      bench_sealed[4096 + TWOFA_SEAL_OVERHEAD];
static volatile int bench_sink;


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
bench_totp_verify(void *arg)
{
    uint64_t  step;

    (void) arg;

    /* The code is that of the next step: a match, as in real use. */

    return twofa_totp_verify(TWOFA_SHA1, bench_secret, sizeof(bench_secret),
                             1700000000, 30, 6, 1, bench_code, 6, &step)
           == 1 ? 1 : -1;
}


static int
bench_cookie_verify(void *arg)
{
    twofa_session_t  s;

    (void) arg;

    return twofa_cookie_verify(&bench_key, 1, bench_cookie, bench_cookie_len,
                               1700000000, &s) == TWOFA_COOKIE_OK ? 1 : -1;
}


static int
bench_seal_open_secret(void *arg)
{
    int      n;
    uint8_t  sealed[20 + TWOFA_SEAL_OVERHEAD], opened[20];

    (void) arg;

    n = twofa_seal(&bench_key, (const uint8_t *) "secret:acme:alice", 17,
                   bench_secret, sizeof(bench_secret), sealed,
                   sizeof(sealed));
    if (n < 0) {
        return -1;
    }

    return twofa_open(&bench_key, 1, (const uint8_t *) "secret:acme:alice",
                      17, sealed, n, opened, sizeof(opened));
}


static uint8_t  bench_sealed_secret[20 + TWOFA_SEAL_OVERHEAD];
static int      bench_sealed_secret_len;
static int      bench_sealed_len;


static int
bench_seal_secret(void *arg)
{
    (void) arg;

    return twofa_seal(&bench_key, (const uint8_t *) "secret:acme:alice", 17,
                      bench_secret, sizeof(bench_secret), bench_sealed_secret,
                      sizeof(bench_sealed_secret));
}


static int
bench_open_secret(void *arg)
{
    uint8_t  opened[20];

    (void) arg;

    return twofa_open(&bench_key, 1, (const uint8_t *) "secret:acme:alice",
                      17, bench_sealed_secret, bench_sealed_secret_len,
                      opened, sizeof(opened));
}


static int
bench_open_response(void *arg)
{
    static uint8_t  opened[4096];

    (void) arg;

    return twofa_open(&bench_key, 1, (const uint8_t *) "hold", 4,
                      bench_sealed, bench_sealed_len, opened,
                      sizeof(opened));
}


static int
bench_totp_verify_miss(void *arg)
{
    uint64_t  step;

    (void) arg;

    /* a wrong code: every step of the window is computed all the same */

    return twofa_totp_verify(TWOFA_SHA1, bench_secret, sizeof(bench_secret),
                             1700000000, 30, 6, 1, "000000", 6, &step)
           >= 0 ? 1 : -1;
}


static int
bench_seal_response(void *arg)
{
    (void) arg;

    return twofa_seal(&bench_key, (const uint8_t *) "hold", 4,
                      bench_response, sizeof(bench_response), bench_sealed,
                      sizeof(bench_sealed));
}


static int
bench_csrf_token(void *arg)
{
    char  token[TWOFA_CSRF_LEN + 1];

    (void) arg;

    return twofa_csrf_token(&bench_key, "hold:0123456789abcdef0123456789ab",
                            37, token);
}


static void
bench_run(const char *name, bench_fn fn, void *arg)
{
    long    i, n, batch;
    double  start, elapsed;

    if (bench_only && strstr(name, bench_only) == NULL) {
        return;
    }

    for (i = 0; i < 1000; i++) {
        if (fn(arg) < 0) {
            fprintf(stderr, "%s: failed\n", name);
            exit(1);
        }
    }

    batch = 1000;
    n = 0;
    start = bench_now();

    do {
        for (i = 0; i < batch; i++) {
            bench_sink = fn(arg);
        }

        n += batch;
        elapsed = bench_now() - start;
    } while (elapsed < bench_seconds);

    printf("%-30s %10.0f\n", name, elapsed * 1e9 / n);
}


int
main(int argc, char **argv)
{
    int              n;
    uint8_t          master[32];
    uint32_t         code;
    twofa_session_t  s;

    if (argc > 1) {
        bench_seconds = atof(argv[1]);
        if (bench_seconds <= 0) {
            fprintf(stderr, "usage: core_bench [SECONDS [NAME-PART]]\n");
            return 1;
        }
    }

    if (argc > 2) {
        bench_only = argv[2];
    }

    memset(master, 0x42, sizeof(master));
    memset(bench_secret, 0x17, sizeof(bench_secret));
    memset(bench_response, 'x', sizeof(bench_response));

    if (twofa_key_init(&bench_key, master, sizeof(master)) != 0
        || twofa_totp(TWOFA_SHA1, bench_secret, sizeof(bench_secret),
                      1700000000 + 30, 30, 6, &code) != 0
        || twofa_code_format(code, 6, bench_code, sizeof(bench_code)) != 0)
    {
        fprintf(stderr, "setup failed\n");
        return 1;
    }

    memset(&s, 0, sizeof(s));
    strcpy(s.org, "acme");
    s.org_len = 4;
    strcpy(s.user, "alice.agent@example.com");
    s.user_len = strlen(s.user);
    s.iat = 1700000000;
    s.exp = 1700028800;
    s.amr = TWOFA_AMR_TOTP;

    n = twofa_cookie_encode(&bench_key, &s, bench_cookie,
                            sizeof(bench_cookie));
    if (n < 0) {
        fprintf(stderr, "cookie encode failed\n");
        return 1;
    }

    bench_cookie_len = n;

    bench_sealed_secret_len = bench_seal_secret(NULL);
    bench_sealed_len = bench_seal_response(NULL);
    if (bench_sealed_secret_len < 0 || bench_sealed_len < 0) {
        fprintf(stderr, "seal failed\n");
        return 1;
    }

    printf("%-30s %10s\n", "operation", "ns/call");
    bench_run("totp verify (SHA1, skew 1)", bench_totp_verify, NULL);
    bench_run("totp verify miss (skew 1)", bench_totp_verify_miss, NULL);
    bench_run("cookie verify", bench_cookie_verify, NULL);
    bench_run("seal 20 B secret", bench_seal_secret, NULL);
    bench_run("open 20 B secret", bench_open_secret, NULL);
    bench_run("seal+open 20 B secret", bench_seal_open_secret, NULL);
    bench_run("seal 4 KiB response", bench_seal_response, NULL);
    bench_run("open 4 KiB response", bench_open_response, NULL);
    bench_run("csrf token", bench_csrf_token, NULL);

    twofa_key_free(&bench_key);

    return 0;
}
