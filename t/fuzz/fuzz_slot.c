/*
 * Key slots of anything.  The slot agrees with the rule of the Redis
 * Cluster specification written out index by index, is below 16384, and
 * the tag found, put alone in braces between any prefix without '{' and
 * any suffix, gives the same slot.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twofa_slot.h"


#define FUZZ_MAX  4096


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         wrapped[FUZZ_MAX + 16];
    size_t       start, end, tag_len;
    unsigned     slot, want;
    const char  *key, *tag;

    if (size > FUZZ_MAX) {
        return 0;
    }

    key = (const char *) data;

    for (start = 0; start < size && key[start] != '{'; start++) {
        /* void */
    }

    for (end = start + 1; end < size && key[end] != '}'; end++) {
        /* void */
    }

    if (start < size && end < size && end > start + 1) {
        tag = key + start + 1;
        tag_len = end - start - 1;

    } else {
        tag = key;
        tag_len = size;
    }

    want = twofa_crc16(tag, tag_len) % TWOFA_SLOTS;
    slot = twofa_slot(key, size);

    if (slot != want || slot >= TWOFA_SLOTS) {
        abort();
    }

    /* a real tag (no '}' inside, not empty) survives being wrapped */

    if (tag_len > 0 && memchr(tag, '}', tag_len) == NULL) {
        memcpy(wrapped, "p:{", 3);
        memcpy(wrapped + 3, tag, tag_len);
        memcpy(wrapped + 3 + tag_len, "}:{s}", 5);

        if (twofa_slot(wrapped, tag_len + 8) != slot) {
            abort();
        }
    }

    return 0;
}
