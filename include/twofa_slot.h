/*
 * Redis Cluster key slots: CRC16 (XMODEM) of the key, or of its hash tag,
 * modulo 16384, exactly as Redis computes them; and a short hash tag for
 * every slot.  Pure C99; knows nothing of nginx.
 */

#ifndef TWOFA_SLOT_H
#define TWOFA_SLOT_H

#include <stddef.h>
#include <stdint.h>


#define TWOFA_SLOTS          16384

/*
 * The longest of the shortest tags: strings of at most three characters
 * over [0-9a-z] reach 16299 slots, four characters reach all of them.
 */
#define TWOFA_SLOT_TAG_MAX   4


/* CRC16/XMODEM (polynomial 0x1021, initial value 0, not reflected). */
uint16_t twofa_crc16(const char *buf, size_t len);

/*
 * The slot of a key.  When the key holds a '{' followed later by a '}'
 * with at least one character between the first '{' and the first '}'
 * after it, only those characters are hashed (the hash tag); otherwise
 * the whole key is.
 */
unsigned twofa_slot(const char *key, size_t len);

/*
 * Fills tags[slot], for each of the TWOFA_SLOTS slots, with the shortest
 * string over [0-9a-z] (the first in byte order among the shortest) whose
 * slot is that slot, NUL terminated: a key "prefix{TAG}suffix" then lands
 * in that slot.  The caller provides TWOFA_SLOTS rows (80 KiB).
 *
 * Cost: 60822 strings are visited (all of one to three characters, then
 * four-character ones up to "09wh", which reaches the last slot), each one
 * CRC step of one table lookup: about 0.2 ms, no allocation.
 * Returns 0, or -1 if some slot were left without a tag (it cannot, with
 * TWOFA_SLOT_TAG_MAX 4; the unit test checks every slot).
 */
int twofa_slot_tags(char (*tags)[TWOFA_SLOT_TAG_MAX + 1]);

/*
 * The tag of one slot, from a table of all of them made at the first
 * call (80 KiB, about 0.2 ms, once per process).  NULL if the table could
 * not be made (it can, see twofa_slot_tags()).
 */
const char *twofa_slot_tag(unsigned slot);

/*
 * Redis Cluster layout (issue 12): the slot an org's keys live in is the
 * CRC16 of the org as it is (not of its key escape: one org, one slot,
 * whatever it holds, braces included).
 */
unsigned twofa_slot_of_org(const char *org, size_t len);

/*
 * A hold token carries the slot of its org in its first three characters
 * (base64url, 18 bits for the 14 of a slot), so that a request holding
 * only the token finds the slot of the hold, and of its owner's keys.
 * twofa_slot_mark_token() writes them over the token's first three;
 * twofa_slot_of_token() reads them back: -1 for a token too short or not
 * base64url there, or a value over the last slot.
 */
#define TWOFA_SLOT_TOKEN_CHARS  3

void twofa_slot_mark_token(char *token, unsigned slot);
int twofa_slot_of_token(const char *token, size_t len);

#endif /* TWOFA_SLOT_H */
