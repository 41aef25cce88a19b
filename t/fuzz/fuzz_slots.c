/*
 * CLUSTER SLOTS replies of any bytes: each reply hiredis's reader makes
 * of the input (as a connection would) is read by the parser, which
 * either refuses it with a reason or gives one range per item, each
 * within the slots, first before last, with a port of 16 bits and a host
 * that is the item's own (or, when empty, the node asked's).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "twofa_slots.h"


#define FUZZ_MAX  16384


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const char           self[] = "10.0.0.9";
static twofa_slots_range_t  ranges[TWOFA_SLOTS_RANGES];


/*
 * hiredis before 1.0 allocates an array's items as soon as it reads its
 * count, and has no limit on it: "*999999999" would be an allocation of
 * gigabytes, not a finding.  No reply of size bytes has more items than
 * bytes, so a larger count (wherever a '*' is followed by digits) ends
 * the run.
 */

static int
fuzz_counts_fit(const uint8_t *data, size_t size)
{
    size_t  i, count;

    for (i = 0; i < size; i++) {
        if (data[i] != '*') {
            continue;
        }

        count = 0;

        while (i + 1 < size && data[i + 1] >= '0' && data[i + 1] <= '9') {
            i++;
            count = count * 10 + (data[i] - '0');

            if (count > size) {
                return 0;
            }
        }
    }

    return 1;
}


static void
fuzz_check(const redisReply *reply)
{
    int                    n, i;
    const char            *err;
    const redisReply      *host;
    twofa_slots_range_t   *r;

    err = NULL;
    n = twofa_slots_parse(reply, self, sizeof(self) - 1, ranges,
                          TWOFA_SLOTS_RANGES, &err);

    if (n < 0) {
        if (err == NULL) {
            abort();
        }

        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || (size_t) n != reply->elements) {
        abort();
    }

    for (i = 0; i < n; i++) {
        r = &ranges[i];
        host = reply->element[i]->element[2]->element[0];

        if (r->first > r->last || r->last >= TWOFA_SLOTS || r->port > 65535
            || r->port != reply->element[i]->element[2]->element[1]->integer
            || r->first != reply->element[i]->element[0]->integer
            || r->last != reply->element[i]->element[1]->integer)
        {
            abort();
        }

        if (host->len == 0
            ? r->host != self || r->host_len != sizeof(self) - 1
            : r->host != host->str || r->host_len != host->len)
        {
            abort();
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void         *reply;
    redisReader  *reader;

    if (size > FUZZ_MAX || !fuzz_counts_fit(data, size)) {
        return 0;
    }

    reader = redisReaderCreate();
    if (reader == NULL) {
        return 0;
    }

    if (redisReaderFeed(reader, (const char *) data, size) == REDIS_OK) {

        for ( ;; ) {
            reply = NULL;

            if (redisReaderGetReply(reader, &reply) != REDIS_OK
                || reply == NULL)
            {
                break;
            }

            fuzz_check(reply);
            freeReplyObject(reply);
        }
    }

    redisReaderFree(reader);

    return 0;
}
