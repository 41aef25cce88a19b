/*
 * The shared low level: decimal numbers at their edges, and digits of
 * several widths unpacked, passed over, refused and held to canonical
 * trailing bits (base32 and base64 test the same through their decoders),
 * and a status's text looked up.
 */

#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "twofa_util.h"


/* Hex digits, upper case only; '-' passed over. */

static int
hex_digit(int arg, unsigned char c)
{
    (void) arg;

    if (c == '-') {
        return TWOFA_UTIL_SKIP;
    }

    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/* '0' and '1'; arg is the value of 'x'. */

static int
bit_digit(int arg, unsigned char c)
{
    if (c == 'x') {
        return arg;
    }

    return (c == '0' || c == '1') ? c - '0' : -1;
}


static void
put(uint64_t v, const char *want)
{
    char    out[TWOFA_UTIL_UINT_DIGITS + 1];
    size_t  n;

    memset(out, '#', sizeof(out));
    n = twofa_util_put_uint(out, v);

    is_int((long long) n, (long long) strlen(want), "%s: length", want);
    out[n < sizeof(out) ? n : sizeof(out) - 1] = '\0';
    is_str(out, want, "%s: digits", want);
}


static void
test_put_uint(void)
{
    put(0, "0");
    put(7, "7");
    put(10, "10");
    put(1000000, "1000000");
    put(UINT32_MAX, "4294967295");
    put(INT64_MAX, "9223372036854775807");
    put(UINT64_MAX, "18446744073709551615");
}


static void
test_unpack(void)
{
    int      n;
    uint8_t  out[8];

    n = twofa_util_unpack("4A-fF", 5, 4, hex_digit, 0, out);
    is_int(n, -1, "a refused character refuses the input");

    memset(out, 0xee, sizeof(out));
    n = twofa_util_unpack("4A-FF-00", 8, 4, hex_digit, 0, out);
    is_int(n, 3, "hex: three bytes, the '-' passed over");
    is_mem(out, "\x4a\xff\x00", 3, "hex: the bytes");

    n = twofa_util_unpack("", 0, 4, hex_digit, 0, out);
    is_int(n, 0, "nothing: no bytes");

    n = twofa_util_unpack("4A0", 3, 4, hex_digit, 0, out);
    is_int(n, 1, "a zero half byte left over is allowed");

    memset(out, 0xee, sizeof(out));
    n = twofa_util_unpack("4A1", 3, 4, hex_digit, 0, out);
    is_int(n, -1, "non-zero bits left over: refused");
    is_mem(out, "\x00\xee", 2, "what was written is wiped");

    memset(out, 0xee, sizeof(out));
    n = twofa_util_unpack("4AZ", 3, 4, hex_digit, 0, out);
    is_int(n, -1, "a bad digit after a byte: refused");
    is_mem(out, "\x00\xee", 2, "the byte before it is wiped");

    n = twofa_util_unpack("0100000x", 8, 1, bit_digit, 1, out);
    is_int(n, 1, "width 1, arg passed to the digit function");
    is_int(out[0], 'A', "width 1: the byte");

    n = twofa_util_unpack("MZXW6", 5, 5, bit_digit, 0, out);
    is_int(n, -1, "width 5: a refused first digit");
}


static void
test_text(void)
{
    static const char *const  texts[] = { "zero", "one" };
    static const char *const  three[] = { "zero", "one", "two" };

    is_str(twofa_util_text(texts, 2, 0, "?"), "zero", "text: the first");
    is_str(twofa_util_text(texts, 2, 1, "?"), "one", "text: the last");
    is_str(twofa_util_text(texts, 2, 2, "?"), "?", "text: past the end");
    is_str(twofa_util_text(texts, 2, (unsigned) -1, "?"), "?",
           "text: a negative status cast");

    /* the macro counts the table itself: three entries, not two */

    is_str(TWOFA_UTIL_TEXT(three, 2, "?"), "two", "TEXT: the last of three");
    is_str(TWOFA_UTIL_TEXT(three, 3, "?"), "?", "TEXT: past the end");
    is_str(TWOFA_UTIL_TEXT(three, -1, "?"), "?", "TEXT: a negative status");
}


int
main(void)
{
    test_put_uint();
    test_unpack();
    test_text();

    return done();
}
