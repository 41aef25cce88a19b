/*
 * HOTP/TOTP: the RFC vectors, the verification window, code formatting,
 * a cross-check against oathtool, and the otpauth key URI.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "twofa_totp.h"


static const char  *hash_names[] = { "SHA1", "SHA256", "SHA512" };


static void
test_rfc4226(void)
{
    uint32_t  code;
    uint64_t  counter;

    static const uint32_t  expect[10] = {
        755224, 287082, 359152, 969429, 338314,
        254676, 287922, 162583, 399871, 520489
    };

    for (counter = 0; counter < 10; counter++) {
        code = 0xffffffff;
        is_int(twofa_hotp(TWOFA_SHA1,
                          (const uint8_t *) "12345678901234567890", 20,
                          counter, 6, &code), 0, "hotp(%d) succeeds",
               (int) counter);
        is_int(code, expect[counter], "RFC 4226 HOTP count %d",
               (int) counter);
    }
}


static void
test_rfc6238(void)
{
    size_t    i, alg;
    uint32_t  code;

    static const char  *seeds[3] = {
        "12345678901234567890",
        "12345678901234567890123456789012",
        "1234567890123456789012345678901234567890123456789012345678901234"
    };

    static const struct {
        uint64_t  time;
        uint32_t  code[3];
    } vectors[] = {
        { 59,          { 94287082, 46119246, 90693936 } },
        { 1111111109,  {  7081804, 68084774, 25091201 } },
        { 1111111111,  { 14050471, 67062674, 99943326 } },
        { 1234567890,  { 89005924, 91819424, 93441116 } },
        { 2000000000,  { 69279037, 90698825, 38618901 } },
        { 20000000000, { 65353130, 77737706, 47863826 } },
    };

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        for (alg = 0; alg < 3; alg++) {
            code = 0xffffffff;

            if (twofa_totp((twofa_hash_t) alg, (const uint8_t *) seeds[alg],
                           strlen(seeds[alg]), vectors[i].time, 30, 8, &code)
                != 0)
            {
                code = 0xffffffff;
            }

            is_int(code, vectors[i].code[alg], "RFC 6238 %s at %llu",
                   hash_names[alg], (unsigned long long) vectors[i].time);
        }
    }

    /* And the same through the verifier, with the leading zero. */

    {
        uint64_t  step = 0;

        is_int(twofa_totp_verify(TWOFA_SHA1,
                                 (const uint8_t *) seeds[0], 20, 1111111109,
                                 30, 8, 0, "07081804", 8, &step), 1,
               "verify accepts an RFC code with a leading zero");
        is_int(step, 1111111109 / 30, "and returns its step");
    }
}


static void
code_at(uint64_t step, unsigned digits, char *out)
{
    uint32_t  code;

    if (twofa_hotp(TWOFA_SHA1, (const uint8_t *) "window test key 0123", 20,
                   step, digits, &code) != 0
        || twofa_code_format(code, digits, out, 9) != 0)
    {
        strcpy(out, "x");
    }
}


static int
verify(uint64_t now, unsigned skew, const char *code, uint64_t *step)
{
    return twofa_totp_verify(TWOFA_SHA1,
                             (const uint8_t *) "window test key 0123", 20,
                             now, 30, 6, skew, code, strlen(code), step);
}


static void
test_window(void)
{
    int       i;
    char      code[9];
    uint64_t  now, step;

    now = 1000 * 30 + 15;

    for (i = -1; i <= 1; i++) {
        code_at(1000 + i, 6, code);
        step = 0;
        is_int(verify(now, 1, code, &step), 1, "skew 1: step %+d matches",
               i);
        is_int(step, 1000 + i, "skew 1: step %+d reported", i);
    }

    code_at(998, 6, code);
    is_int(verify(now, 1, code, &step), 0, "skew 1: step -2 refused");
    code_at(1002, 6, code);
    is_int(verify(now, 1, code, &step), 0, "skew 1: step +2 refused");
    is_int(verify(now, 2, code, &step), 1, "skew 2: step +2 accepted");
    is_int(step, 1002, "skew 2: step +2 reported");

    code_at(1000, 6, code);
    is_int(verify(now, 0, code, &step), 1, "skew 0: current step");
    is_int(step, 1000, "skew 0: step reported");
    code_at(999, 6, code);
    is_int(verify(now, 0, code, &step), 0, "skew 0: previous step refused");
    code_at(1001, 6, code);
    is_int(verify(now, 0, code, &step), 0, "skew 0: next step refused");

    /* Period boundaries: 30029 is still step 1000, 30030 is 1001. */

    code_at(1000, 6, code);
    is_int(verify(30029, 0, code, &step), 1, "last second of a step");
    is_int(verify(30030, 0, code, &step), 0, "first second of the next");

    /* Near the epoch there are no steps below 0. */

    code_at(0, 6, code);
    is_int(verify(10, 1, code, &step), 1, "step 0 matches near the epoch");
    is_int(step, 0, "step 0 reported");
    code_at(1, 6, code);
    is_int(verify(10, 1, code, &step), 1, "step 1 matches near the epoch");
    is_int(step, 1, "step 1 reported");
    code_at(2, 6, code);
    is_int(verify(10, 1, code, &step), 0, "step 2 out of the window");
    code_at(0, 6, code);
    is_int(verify(10, TWOFA_SKEW_MAX, code, &step), 1,
           "maximum skew at the epoch");
    is_int(step, 0, "maximum skew at the epoch: step 0");

    /* And at the far end of the counter nothing wraps around. */

    code_at(UINT64_MAX, 6, code);
    is_int(twofa_totp_verify(TWOFA_SHA1,
                             (const uint8_t *) "window test key 0123", 20,
                             UINT64_MAX, 1, 6, 1, code, 6, &step), 1,
           "last counter value matches");
    ok(step == UINT64_MAX, "last counter value reported");
    code_at(0, 6, code);
    is_int(twofa_totp_verify(TWOFA_SHA1,
                             (const uint8_t *) "window test key 0123", 20,
                             UINT64_MAX, 1, 6, 1, code, 6, &step), 0,
           "counter does not wrap to 0");

    /* 7 and 8 digit codes. */

    code_at(1000, 8, code);
    is_int(twofa_totp_verify(TWOFA_SHA1,
                             (const uint8_t *) "window test key 0123", 20,
                             now, 30, 8, 1, code, 8, &step), 1,
           "8 digit code");
    code_at(1000, 7, code);
    is_int(twofa_totp_verify(TWOFA_SHA1,
                             (const uint8_t *) "window test key 0123", 20,
                             now, 30, 7, 1, code, 7, &step), 1,
           "7 digit code");
}


static void
test_bad_codes(void)
{
    char      code[9];
    uint64_t  now, step;

    now = 1000 * 30;
    code_at(1000, 6, code);

    is_int(verify(now, 1, "12345", &step), -1, "5 characters: -1");
    is_int(verify(now, 1, "1234567", &step), -1, "7 characters: -1");
    is_int(verify(now, 1, "", &step), -1, "empty: -1");
    is_int(verify(now, 1, "12a456", &step), -1, "a letter: -1");
    is_int(verify(now, 1, " 23456", &step), -1, "a space: -1");
    is_int(verify(now, 1, "+23456", &step), -1, "a sign: -1");
    is_int(verify(now, 1, "12345/", &step), -1, "'/' (below '0'): -1");
    is_int(verify(now, 1, "12345:", &step), -1, "':' (above '9'): -1");

    /* The right code with a stray character after it. */

    code[6] = ' ';
    code[7] = '\0';
    is_int(verify(now, 1, code, &step), -1, "right code plus a space: -1");
    code[6] = '\0';

    is_int(verify(now, TWOFA_SKEW_MAX + 1, code, &step), -1,
           "skew above the maximum: -1");
    is_int(twofa_totp_verify(TWOFA_SHA1, (const uint8_t *) "k", 1, now, 0, 6,
                             1, code, 6, &step), -1, "period 0: -1");
    is_int(twofa_totp_verify(TWOFA_SHA1, (const uint8_t *) "k", 1, now, 30,
                             5, 1, "12345", 5, &step), -1, "5 digits: -1");
    is_int(twofa_totp_verify(TWOFA_SHA1, (const uint8_t *) "k", 1, now, 30,
                             9, 1, "123456789", 9, &step), -1,
           "9 digits: -1");
    is_int(twofa_totp_verify((twofa_hash_t) 7, (const uint8_t *) "k", 1, now,
                             30, 6, 1, code, 6, &step), -1,
           "unknown hash: -1");
    is_int(twofa_totp_verify(TWOFA_SHA1, (const uint8_t *) "k", 0, now, 30,
                             6, 1, code, 6, &step), -1, "empty key: -1");
}


static void
test_format(void)
{
    char  out[16];

    is_int(twofa_code_format(0, 6, out, sizeof(out)), 0, "format 0");
    is_str(out, "000000", "format 0 as 6 digits");
    is_int(twofa_code_format(42, 8, out, sizeof(out)), 0, "format 42");
    is_str(out, "00000042", "format 42 as 8 digits");
    is_int(twofa_code_format(7081804, 8, out, sizeof(out)), 0,
           "format 7081804");
    is_str(out, "07081804", "format 7081804 as 8 digits");
    is_int(twofa_code_format(999999, 6, out, sizeof(out)), 0,
           "format 999999");
    is_str(out, "999999", "format 999999 as 6 digits");
    is_int(twofa_code_format(1000000, 6, out, sizeof(out)), -1,
           "a 7 digit number does not fit 6 digits");
    is_int(twofa_code_format(123456, 6, out, 6), -1, "no room for the NUL");
    is_int(twofa_code_format(123456, 6, out, 7), 0, "exact room");
    is_int(twofa_code_format(1, 5, out, sizeof(out)), -1, "5 digits refused");
}


/*
 * oathtool is an independent implementation: every combination of hash,
 * digits and period over 100 random keys and times, run in one shell.
 */
static void
test_oathtool(void)
{
    int        fd, bad, missing;
    char       script[] = "/tmp/twofa-oath-XXXXXX", line[64], cmd[128];
    char       hex[129], want[9];
    FILE      *f, *p;
    size_t     i, j, alg, d, per, key_len, n, cases;
    uint8_t    key[64];
    uint32_t   code;
    uint64_t   now;

    static const char      *modes[3] = { "sha1", "sha256", "sha512" };
    static const unsigned   periods[2] = { 30, 60 };

    struct {
        uint8_t    key[64];
        size_t     key_len;
        uint64_t   now;
    } keys[100];

    fd = mkstemp(script);
    f = (fd >= 0) ? fdopen(fd, "w") : NULL;

    if (f == NULL) {
        ok(0, "oathtool: temporary script");
        return;
    }

    srand(6238);
    cases = 0;

    fputs("command -v oathtool >/dev/null || echo missing\n", f);

    for (i = 0; i < 100; i++) {
        keys[i].key_len = 10 + rand() % 55;
        for (j = 0; j < keys[i].key_len; j++) {
            keys[i].key[j] = (uint8_t) rand();
            snprintf(hex + 2 * j, 3, "%02x", keys[i].key[j]);
        }

        keys[i].now = ((uint64_t) rand() << 16 ^ (uint64_t) rand())
                      % 4000000000u;

        for (alg = 0; alg < 3; alg++) {
            for (d = 6; d <= 8; d++) {
                for (per = 0; per < 2; per++) {
                    fprintf(f, "oathtool --totp=%s -d %zu -s %us -N @%llu "
                            "%s || echo error\n", modes[alg], d,
                            periods[per], (unsigned long long) keys[i].now,
                            hex);
                    cases++;
                }
            }
        }
    }

    if (fclose(f) != 0) {
        ok(0, "oathtool: write script");
        unlink(script);
        return;
    }

    snprintf(cmd, sizeof(cmd), "sh %s 2>&1", script);
    p = popen(cmd, "r");

    if (p == NULL) {
        ok(0, "oathtool: popen");
        unlink(script);
        return;
    }

    bad = 0;
    missing = 0;
    n = 0;

    for (i = 0; i < 100 && !missing; i++) {
        memcpy(key, keys[i].key, keys[i].key_len);
        key_len = keys[i].key_len;
        now = keys[i].now;

        for (alg = 0; alg < 3 && !missing; alg++) {
            for (d = 6; d <= 8 && !missing; d++) {
                for (per = 0; per < 2; per++) {
                    if (fgets(line, sizeof(line), p) == NULL) {
                        missing = 1;
                        break;
                    }

                    line[strcspn(line, "\n")] = '\0';

                    if (strcmp(line, "missing") == 0) {
                        missing = 1;
                        break;
                    }

                    if (twofa_totp((twofa_hash_t) alg, key, key_len, now,
                                   periods[per], d, &code) != 0
                        || twofa_code_format(code, d, want, sizeof(want))
                           != 0
                        || strcmp(line, want) != 0)
                    {
                        if (bad < 5) {
                            diag("%s %zu digits %us at %llu: oathtool '%s',"
                                 " we '%s'", hash_names[alg], d,
                                 periods[per], (unsigned long long) now,
                                 line, want);
                        }
                        bad++;
                    }

                    n++;
                }
            }
        }
    }

    pclose(p);
    unlink(script);

    ok(!missing, "oathtool is installed (Debian package oathtool)");
    is_int(n, cases, "oathtool answered all %zu cases", cases);
    is_int(bad, 0, "all codes equal oathtool's (100 keys x 3 hashes x "
           "6/7/8 digits x 30/60 s)");
}


static void
uri_is(const char *issuer, const char *account, const char *secret,
    twofa_hash_t alg, unsigned digits, unsigned period, const char *want,
    const char *name)
{
    int   n;
    char  out[512];

    n = twofa_otpauth_uri(issuer, issuer ? strlen(issuer) : 0, account,
                          strlen(account), secret, strlen(secret), alg,
                          digits, period, out, sizeof(out));
    if (n < 0) {
        strcpy(out, "(failed)");
    }

    is_str(out, want, "otpauth: %s", name);

    if (n >= 0) {
        is_int(n, strlen(want), "otpauth: %s: length", name);
    }
}


static void
test_otpauth(void)
{
    int   n;
    char  out[256];

    uri_is("Example", "alice@google.com", "JBSWY3DPEHPK3PXP", TWOFA_SHA1, 6,
           30,
           "otpauth://totp/Example:alice%40google.com?secret=JBSWY3DPEHPK3PXP"
           "&issuer=Example&algorithm=SHA1&digits=6&period=30",
           "Google's example");

    uri_is("ACME Co", "john doe:ops", "JBSWY3DPEHPK3PXP", TWOFA_SHA256, 8, 60,
           "otpauth://totp/ACME%20Co:john%20doe%3Aops?secret=JBSWY3DPEHPK3PXP"
           "&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60",
           "spaces and a colon");

    uri_is("Big:Corp", "a@b", "JBSWY3DPEHPK3PXP", TWOFA_SHA512, 7, 45,
           "otpauth://totp/Big%3ACorp:a%40b?secret=JBSWY3DPEHPK3PXP"
           "&issuer=Big%3ACorp&algorithm=SHA512&digits=7&period=45",
           "colon in the issuer");

    uri_is("Caf\xc3\xa9", "zo\xc3\xab", "JBSWY3DPEHPK3PXP", TWOFA_SHA1, 6, 30,
           "otpauth://totp/Caf%C3%A9:zo%C3%AB?secret=JBSWY3DPEHPK3PXP"
           "&issuer=Caf%C3%A9&algorithm=SHA1&digits=6&period=30",
           "UTF-8 bytes");

    uri_is("a-b.c_d~e", "x&y=z?#/%+", "JBSWY3DPEHPK3PXP", TWOFA_SHA1, 6, 30,
           "otpauth://totp/a-b.c_d~e:x%26y%3Dz%3F%23%2F%25%2B"
           "?secret=JBSWY3DPEHPK3PXP&issuer=a-b.c_d~e&algorithm=SHA1"
           "&digits=6&period=30",
           "unreserved kept, delimiters escaped");

    uri_is(NULL, "alice", "JBSWY3DPEHPK3PXP", TWOFA_SHA1, 6, 30,
           "otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP"
           "&algorithm=SHA1&digits=6&period=30",
           "no issuer");

    uri_is("X", "alice", "jbsw y3dp ehpk 3pxp", TWOFA_SHA1, 6, 30,
           "otpauth://totp/X:alice?secret=JBSWY3DPEHPK3PXP"
           "&issuer=X&algorithm=SHA1&digits=6&period=30",
           "grouped lower-case secret made bare");

    uri_is("X", "alice", "MZXW6===", TWOFA_SHA1, 6, 30,
           "otpauth://totp/X:alice?secret=MZXW6"
           "&issuer=X&algorithm=SHA1&digits=6&period=30",
           "padding dropped");

    n = twofa_otpauth_uri("X", 1, "alice", 5, "JBSW1", 5, TWOFA_SHA1, 6, 30,
                          out, sizeof(out));
    is_int(n, -1, "otpauth: bad secret refused");
    n = twofa_otpauth_uri("X", 1, "alice", 5, "", 0, TWOFA_SHA1, 6, 30,
                          out, sizeof(out));
    is_int(n, -1, "otpauth: empty secret refused");
    n = twofa_otpauth_uri("X", 1, "", 0, "MZXW6", 5, TWOFA_SHA1, 6, 30,
                          out, sizeof(out));
    is_int(n, -1, "otpauth: empty account refused");
    n = twofa_otpauth_uri("X", 1, "alice", 5, "MZXW6", 5, TWOFA_SHA1, 9, 30,
                          out, sizeof(out));
    is_int(n, -1, "otpauth: 9 digits refused");
    n = twofa_otpauth_uri("X", 1, "alice", 5, "MZXW6", 5, TWOFA_SHA1, 6, 0,
                          out, sizeof(out));
    is_int(n, -1, "otpauth: period 0 refused");

    n = twofa_otpauth_uri("X", 1, "alice", 5, "MZXW6", 5, TWOFA_SHA1, 6, 30,
                          out, sizeof(out));
    is_int(twofa_otpauth_uri("X", 1, "alice", 5, "MZXW6", 5, TWOFA_SHA1, 6,
                             30, out, n + 1), n, "otpauth: exact room");
    is_int(twofa_otpauth_uri("X", 1, "alice", 5, "MZXW6", 5, TWOFA_SHA1, 6,
                             30, out, n), -1, "otpauth: no room for the NUL");
}


int
main(void)
{
    test_rfc4226();
    test_rfc6238();
    test_window();
    test_bad_codes();
    test_format();
    test_oathtool();
    test_otpauth();

    return done();
}
