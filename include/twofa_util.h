/*
 * Low-level pieces more than one core file needs: decimal numbers
 * written out, and strings of fixed-width digits (base32, base64) turned
 * into bytes.  Pure C99.
 */

#ifndef TWOFA_UTIL_H
#define TWOFA_UTIL_H

#include <stddef.h>
#include <stdint.h>


/* Decimal digits of the largest uint64_t. */
#define TWOFA_UTIL_UINT_DIGITS  20

/* What a digit function returns for a character to pass over. */
#define TWOFA_UTIL_SKIP         (-2)

/*
 * A character's value for twofa_util_unpack(): 0 to 2^width - 1,
 * TWOFA_UTIL_SKIP to pass over the character, -1 to refuse the input.
 * arg is the caller's (base64: which alphabet).
 */
typedef int (*twofa_util_digit_pt)(int arg, unsigned char c);

/*
 * v in decimal (no sign, no leading zero, no NUL) into out, which has
 * room for TWOFA_UTIL_UINT_DIGITS characters.  Returns the characters
 * written.
 */
size_t twofa_util_put_uint(char *out, uint64_t v);

/*
 * The text of entry i of a table of n (a status's reason), or unknown
 * when i is past its end.
 */
const char *twofa_util_text(const char *const *table, size_t n, unsigned i,
    const char *unknown);

/*
 * The same of a table that is an array in scope, its size taken from its
 * definition: a status added to the table needs no count changed.
 */
#define TWOFA_UTIL_TEXT(table, i, unknown)                                  \
    twofa_util_text(table, sizeof(table) / sizeof((table)[0]),              \
                    (unsigned) (i), unknown)

/*
 * The bytes spelled by the len characters of in, each a digit of width
 * (1 to 8) bits as digit() says, most significant bit first.  out must
 * hold len * width / 8 bytes; the caller checks that, and the length.
 * The bits left over at the end must be zero, or two inputs would decode
 * alike.  Returns the bytes written, or -1 with them wiped.
 */
int twofa_util_unpack(const char *in, size_t len, unsigned width,
    twofa_util_digit_pt digit, int arg, uint8_t *out);

#endif /* TWOFA_UTIL_H */
