/*
 * The SHA1 of every embedded Redis script, as Redis computes it for
 * EVALSHA and SCRIPT LOAD.  Pure C99 + OpenSSL.
 */

#include <string.h>

#include <openssl/evp.h>

#include "twofa_scripts.h"


int
twofa_scripts_init(void)
{
    size_t         i, k;
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < TWOFA_SCRIPT_COUNT; i++) {

        if (twofa_scripts[i].text == NULL) {
            return -1;
        }

        if (twofa_scripts[i].sha1[0] != '\0') {
            continue;
        }

        if (EVP_Digest(twofa_scripts[i].text, twofa_scripts[i].len, md, &n,
                       EVP_sha1(), NULL)
            != 1 || n != 20)
        {
            return -1;
        }

        for (k = 0; k < 20; k++) {
            twofa_scripts[i].sha1[2 * k] = hex[md[k] >> 4];
            twofa_scripts[i].sha1[2 * k + 1] = hex[md[k] & 0x0f];
        }

        twofa_scripts[i].sha1[40] = '\0';
    }

    return 0;
}
