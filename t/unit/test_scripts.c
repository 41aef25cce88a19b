/*
 * The embedded Redis scripts and the key builder: every script in lua/ is
 * embedded byte for byte, its SHA1 is the one sha1sum (an independent
 * tool) computes, and keys come out as the design names them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "twofa_keys.h"
#include "twofa_scripts.h"


#ifndef TWOFA_LUA_DIR
#define TWOFA_LUA_DIR  "lua"
#endif


static char *
slurp(const char *path, size_t *len)
{
    FILE  *f;
    char  *buf;
    long   n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }

    fclose(f);
    buf[n] = '\0';
    *len = (size_t) n;

    return buf;
}


static void
test_scripts(void)
{
    FILE    *p;
    char     path[512], cmd[600], sum[64];
    char    *text;
    size_t   i, len;

    ok(twofa_scripts_init() == 0, "the SHA1s are computed");

    for (i = 0; i < TWOFA_SCRIPT_COUNT; i++) {
        snprintf(path, sizeof(path), "%s/%s.lua", TWOFA_LUA_DIR,
                 twofa_scripts[i].name);

        text = slurp(path, &len);
        ok(text != NULL && len == twofa_scripts[i].len
           && memcmp(text, twofa_scripts[i].text, len) == 0,
           "%s.lua is embedded as it is", twofa_scripts[i].name);
        free(text);

        snprintf(cmd, sizeof(cmd), "sha1sum '%s'", path);
        p = popen(cmd, "r");
        sum[0] = '\0';

        if (p) {
            if (fgets(sum, sizeof(sum), p) == NULL) {
                sum[0] = '\0';
            }

            pclose(p);
        }

        sum[40] = '\0';
        is_str(twofa_scripts[i].sha1, sum, "%s: the SHA1 of sha1sum",
               twofa_scripts[i].name);
    }
}


static void
test_keys(void)
{
    char    buf[128];
    size_t  n;

    n = twofa_key(buf, TWOFA_KEY_USER, "twofa:", 6, "acme", 4, "alice", 5);
    ok(n == twofa_key_len(TWOFA_KEY_USER, 6, "acme", 4, "alice", 5)
       && n == sizeof("twofa:user:acme:alice") - 1
       && memcmp(buf, "twofa:user:acme:alice", n) == 0, "user key");

    n = twofa_key(buf, TWOFA_KEY_ORG, "p:", 2, "acme", 4, NULL, 0);
    ok(n == twofa_key_len(TWOFA_KEY_ORG, 2, "acme", 4, NULL, 0)
       && memcmp(buf, "p:org:acme", n) == 0, "org key");

    n = twofa_key(buf, TWOFA_KEY_DEPLOYMENT, "twofa:", 6, NULL, 0, NULL, 0);
    ok(n == sizeof("twofa:deployment") - 1
       && memcmp(buf, "twofa:deployment", n) == 0, "deployment key");

    n = twofa_key(buf, TWOFA_KEY_HOLD, "twofa:", 6, NULL, 0, NULL, 0);
    ok(n == sizeof("twofa:hold:") - 1
       && memcmp(buf, "twofa:hold:", n) == 0, "the prefix of hold keys");

    n = twofa_key(buf, TWOFA_KEY_HOLDS, "twofa:", 6, "o", 1, "u", 1);
    ok(memcmp(buf, "twofa:holds:o:u", n) == 0, "holds key");

    n = twofa_key(buf, TWOFA_KEY_PENDING, "twofa:", 6, "tok", 3, NULL, 0);
    ok(memcmp(buf, "twofa:pending:tok", n) == 0, "pending key");

    n = twofa_key(buf, TWOFA_KEY_FAIL, "twofa:", 6, "o", 1, "u", 1);
    ok(memcmp(buf, "twofa:fail:o:u", n) == 0, "fail key");

    n = twofa_key(buf, TWOFA_KEY_REVOCATIONS, "twofa:", 6, NULL, 0, NULL, 0);
    ok(memcmp(buf, "twofa:revocations", n) == 0, "revocations key");

    n = twofa_key(buf, TWOFA_KEY_AUDIT, "twofa:", 6, NULL, 0, NULL, 0);
    ok(n == sizeof("twofa:audit") - 1 && memcmp(buf, "twofa:audit", n) == 0,
       "audit key");

    /* identities are escaped in their keys, and only there */

    n = twofa_key(buf, TWOFA_KEY_USER, "twofa:", 6, "a:b", 3, "CORP\\j d",
                  8);
    ok(n == twofa_key_len(TWOFA_KEY_USER, 6, "a:b", 3, "CORP\\j d", 8)
       && n == sizeof("twofa:user:a|3Ab:CORP|5Cj|20d") - 1
       && memcmp(buf, "twofa:user:a|3Ab:CORP|5Cj|20d", n) == 0,
       "user key of escaped identities");

    n = twofa_key(buf, TWOFA_KEY_FAIL, "twofa:", 6, "a", 1, "b:c", 3);
    ok(n == sizeof("twofa:fail:a:b|3Ac") - 1
       && memcmp(buf, "twofa:fail:a:b|3Ac", n) == 0,
       "fail key: org a, user b:c");

    n = twofa_key(buf, TWOFA_KEY_FAIL, "twofa:", 6, "a:b", 3, "c", 1);
    ok(n == sizeof("twofa:fail:a|3Ab:c") - 1
       && memcmp(buf, "twofa:fail:a|3Ab:c", n) == 0,
       "fail key: org a:b, user c, another key");

    n = twofa_key(buf, TWOFA_KEY_HOLDS, "twofa:", 6, "o", 1, "*", 1);
    ok(memcmp(buf, "twofa:holds:o:|2A", n) == 0, "holds key, glob escaped");

    n = twofa_key(buf, TWOFA_KEY_ORG, "twofa:", 6, "100%{x}", 7, NULL, 0);
    ok(memcmp(buf, "twofa:org:100%{x}", n) == 0,
       "org key: what was valid before UTF-8 is unchanged");

    n = twofa_key(buf, TWOFA_KEY_PENDING, "twofa:", 6, "a:b", 3, NULL, 0);
    ok(memcmp(buf, "twofa:pending:a:b", n) == 0,
       "pending key: a binding is not an identity");
}


int
main(void)
{
    test_scripts();
    test_keys();

    return done();
}
