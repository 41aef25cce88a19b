/*
 * Redis Cluster key slots: the CRC against its bit-by-bit definition and
 * the check value, the slots and hash tags of the Redis Cluster
 * specification, the edges of the tag rule, and a tag for every slot that
 * is the shortest and least, found again here by brute force.  (t/40-
 * redis-topologies.t compares both with CLUSTER KEYSLOT of a real node.)
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "twofa_keys.h"
#include "twofa_slot.h"


static const char  alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static char  tags[TWOFA_SLOTS][TWOFA_SLOT_TAG_MAX + 1];
static char  brute[TWOFA_SLOTS][TWOFA_SLOT_TAG_MAX + 1];


/* The definition: shift in each bit of each byte, MSB first. */

static uint16_t
crc16_bitwise(const char *buf, size_t len)
{
    int       bit;
    size_t    i;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) ((unsigned char) buf[i] << 8);

        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


static unsigned
slot_str(const char *key)
{
    return twofa_slot(key, strlen(key));
}


static void
test_crc(void)
{
    int     bad;
    char    buf[64];
    size_t  i, j, len;

    is_int(twofa_crc16("123456789", 9), 0x31c3, "CRC16/XMODEM check value");
    is_int(twofa_crc16("", 0), 0, "CRC of nothing is 0");

    bad = 0;
    for (i = 0; i < 256; i++) {
        buf[0] = (char) i;
        bad += twofa_crc16(buf, 1) != crc16_bitwise(buf, 1);
    }
    is_int(bad, 0, "table: every byte as the bitwise definition");

    bad = 0;
    srand(16384);
    for (i = 0; i < 2000; i++) {
        len = (size_t) rand() % sizeof(buf);
        for (j = 0; j < len; j++) {
            buf[j] = (char) (rand() & 0xff);
        }
        bad += twofa_crc16(buf, len) != crc16_bitwise(buf, len);
    }
    is_int(bad, 0, "2000 random strings as the bitwise definition");
}


static void
test_slots(void)
{
    /* values as CLUSTER KEYSLOT of redis-server 7.0 gives them */

    is_int(slot_str("foo"), 12182, "foo");
    is_int(slot_str("123456789"), 0x31c3, "123456789: its CRC (< 16384)");
    is_int(slot_str("bar"), 5061, "bar");
    is_int(slot_str("user1000"), 3443, "user1000");
    is_int(slot_str("{user1000}.following"), 3443,
           "{user1000}.following hashes user1000");
    is_int(slot_str("{user1000}.followers"), 3443,
           "{user1000}.followers: the same slot");
    is_int(slot_str("foo{}{bar}"), 8363,
           "foo{}{bar}: empty first tag, the whole key");
    is_int(slot_str("foo{}{bar}"),
           twofa_crc16("foo{}{bar}", 10) & (TWOFA_SLOTS - 1),
           "foo{}{bar}: that is the CRC of the whole key");
    is_int(slot_str("foo{{bar}}zap"), slot_str("{bar"),
           "foo{{bar}}zap hashes {bar");
    is_int(slot_str("foo{{bar}}zap"), 4015, "foo{{bar}}zap");
    is_int(slot_str("foo{bar}{zap}"), 5061,
           "foo{bar}{zap} hashes bar, the first tag");
    is_int(slot_str("twofa:user:{acme}:alice"), slot_str("acme"),
           "a prefix and a suffix around the tag do not count");

    /* the edges of the rule */

    is_int(twofa_slot("", 0), 0, "the empty key: slot 0");
    is_int(slot_str("{"), twofa_crc16("{", 1) & (TWOFA_SLOTS - 1),
           "{ alone: the whole key");
    is_int(slot_str("{}"), twofa_crc16("{}", 2) & (TWOFA_SLOTS - 1),
           "{}: the whole key");
    is_int(slot_str("abc{def"), twofa_crc16("abc{def", 7) & (TWOFA_SLOTS - 1),
           "no closing brace: the whole key");
    is_int(slot_str("a}b{c}"), slot_str("c"),
           "a '}' before the first '{' is ignored");
    is_int(slot_str("x{a{b}c}"), slot_str("a{b"),
           "the tag runs to the first '}' and may hold a '{'");
    is_int(slot_str("{{}}"), slot_str("{"), "{{}}: the tag is {");
    is_int(twofa_slot("a\0b{x}", 6), slot_str("x"),
           "a NUL byte before the tag is a byte like any other");
    is_int(twofa_slot("{x\0y}", 5), twofa_crc16("x\0y", 3) & (TWOFA_SLOTS - 1),
           "a NUL byte inside the tag is hashed");
    is_int(twofa_slot("foo{bar}", 3), slot_str("foo"),
           "only len bytes are read");
    is_int(twofa_slot("foo{bar}", 7),
           twofa_crc16("foo{bar", 7) & (TWOFA_SLOTS - 1),
           "a '}' past len closes no tag");
}


/* Every string of one to four characters in order, hashed from scratch. */

static void
brute_tags(void)
{
    char      text[TWOFA_SLOT_TAG_MAX + 1];
    size_t    len, n, count, i, v;
    unsigned  slot, left;

    memset(brute, 0, sizeof(brute));
    left = TWOFA_SLOTS;

    for (len = 1, count = 36; len <= TWOFA_SLOT_TAG_MAX; len++, count *= 36) {
        for (n = 0; n < count && left > 0; n++) {
            for (i = len, v = n; i > 0; i--, v /= 36) {
                text[i - 1] = alphabet[v % 36];
            }
            text[len] = '\0';

            slot = crc16_bitwise(text, len) & (TWOFA_SLOTS - 1);
            if (brute[slot][0] == '\0') {
                memcpy(brute[slot], text, len + 1);
                left--;
            }
        }
    }
}


static double
seconds(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
test_tags(void)
{
    int       rc, run;
    char      key[64];
    size_t    slot, len, by_len[TWOFA_SLOT_TAG_MAX + 1];
    double    start, best;
    unsigned  wrong_slot, wrong_key, wrong_chars, differ;

    best = 1e9;
    rc = 0;

    for (run = 0; run < 5; run++) {
        memset(tags, 'X', sizeof(tags));
        start = seconds();
        rc |= twofa_slot_tags(tags);
        if (seconds() - start < best) {
            best = seconds() - start;
        }
    }

    is_int(rc, 0, "twofa_slot_tags: every slot has a tag");
    diag("twofa_slot_tags: %.2f ms (best of 5)", best * 1e3);
    ok(best < 0.1, "twofa_slot_tags takes well under 100 ms");

    memset(by_len, 0, sizeof(by_len));
    wrong_slot = wrong_key = wrong_chars = 0;

    for (slot = 0; slot < TWOFA_SLOTS; slot++) {
        len = strnlen(tags[slot], TWOFA_SLOT_TAG_MAX + 1);

        if (len == 0 || len > TWOFA_SLOT_TAG_MAX
            || strspn(tags[slot], alphabet) != len)
        {
            wrong_chars++;
            continue;
        }

        by_len[len]++;
        wrong_slot += twofa_slot(tags[slot], len) != slot;

        snprintf(key, sizeof(key), "twofa:marker:{%.*s}", (int) len,
                 tags[slot]);
        wrong_key += slot_str(key) != slot;
    }

    is_int(wrong_chars, 0, "every tag: 1 to %d characters of [0-9a-z]",
           TWOFA_SLOT_TAG_MAX);
    is_int(wrong_slot, 0, "every tag hashes to its slot");
    is_int(wrong_key, 0, "twofa:marker:{TAG} lands in the tag's slot");

    is_int(by_len[1], 36, "36 slots have a one-character tag");
    is_int(by_len[2], 1104, "1104 two");
    is_int(by_len[3], 15159, "15159 three");
    is_int(by_len[4], 85, "85 need four");

    brute_tags();
    differ = 0;
    for (slot = 0; slot < TWOFA_SLOTS; slot++) {
        differ += strcmp(tags[slot], brute[slot]) != 0;
    }
    is_int(differ, 0, "each tag is the shortest, then least, by brute force");

    is_str(tags[0], "1bz", "slot 0: 1bz");
    is_str(tags[12182], "foo", "slot 12182: foo");
    is_str(tags[TWOFA_SLOTS - 1], "hia", "slot 16383: hia");
}


/* the cluster layout's helpers: a slot's tag, an org's slot, tokens */
static void
test_layout(void)
{
    char        tok[33], key[64];
    unsigned    slot, wrong_tag, wrong_tok;
    const char *tag;

    wrong_tag = 0;
    wrong_tok = 0;
    memcpy(tok, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 33);

    for (slot = 0; slot < TWOFA_SLOTS; slot++) {
        tag = twofa_slot_tag(slot);
        snprintf(key, sizeof(key), "twofa:{%s}user:acme:alice",
                 tag ? tag : "");
        wrong_tag += tag == NULL || slot_str(key) != slot;

        twofa_slot_mark_token(tok, slot);
        wrong_tok += twofa_slot_of_token(tok, 32) != (int) slot
                     || strcmp(tok + 3, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAA") != 0;
    }

    is_int(wrong_tag, 0, "twofa:{tag}... lands in the tag's slot, each slot");
    is_int(wrong_tok, 0, "a marked token gives its slot back, each slot");
    is_str(twofa_slot_tag(16383), "hia", "the table: slot 16383 is hia");

    is_int(twofa_slot_of_org("foo", 3), 12182, "org foo: CRC16 of foo");
    is_int(twofa_slot_of_org("{a}b", 4), twofa_crc16("{a}b", 4) & 16383,
           "an org's braces are plain bytes to its slot");

    memset(key, 0, sizeof(key));
    is_int((long long) twofa_key_cluster_prefix(key, "twofa:", 6, 11304), 11,
           "the cluster prefix of slot 11304: 11 bytes");
    is_str(key, "twofa:{a14}", "twofa:{a14}, the tag of acme's slot");
    is_int(twofa_slot_of_org("acme", 4), 11304, "acme is in slot 11304");

    is_int(twofa_slot_of_token("A*A", 3), -1, "not base64url: -1");
    is_int(twofa_slot_of_token("AB", 2), -1, "too short: -1");
    is_int(twofa_slot_of_token("___", 3), -1, "over the last slot: -1");
    is_int(twofa_slot_of_token("D__", 3), 16383, "D__ is slot 16383");
}


int
main(void)
{
    test_crc();
    test_slots();
    test_tags();
    test_layout();

    return done();
}
