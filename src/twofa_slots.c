/*
 * A CLUSTER SLOTS reply read into ranges of slots and their primaries'
 * addresses.  Every item is checked before it is read: a reply is the
 * network's, and a wrong map would send an org's keys to a node that
 * does not serve them.
 */

#include "twofa_slots.h"


/* [first, last, [host, port, ...], ...], first and last within the slots */

static const char *
twofa_slots_range(const redisReply *range, const char *self, size_t self_len,
    twofa_slots_range_t *out)
{
    const redisReply  *first, *last, *who;

    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
        || range->element[0]->type != REDIS_REPLY_INTEGER
        || range->element[1]->type != REDIS_REPLY_INTEGER
        || range->element[2]->type != REDIS_REPLY_ARRAY
        || range->element[2]->elements < 2
        || range->element[2]->element[0]->type != REDIS_REPLY_STRING
        || range->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
    {
        return "a range is not [first, last, [host, port, ...], ...]";
    }

    first = range->element[0];
    last = range->element[1];
    who = range->element[2];

    if (first->integer < 0 || last->integer >= TWOFA_SLOTS
        || first->integer > last->integer)
    {
        return "a range's slots are out of order or beyond the last slot";
    }

    /* checked here, not cast: a 32-bit long would wrap 65536 + 6379 */

    if (who->element[1]->integer < 0 || who->element[1]->integer > 65535) {
        return "a range's port is not within 0 to 65535";
    }

    out->first = (unsigned) first->integer;
    out->last = (unsigned) last->integer;
    out->port = (unsigned) who->element[1]->integer;

    if (who->element[0]->len == 0) {
        out->host = self;
        out->host_len = self_len;

    } else {
        out->host = who->element[0]->str;
        out->host_len = who->element[0]->len;
    }

    return NULL;
}


int
twofa_slots_parse(const redisReply *reply, const char *self,
    size_t self_len, twofa_slots_range_t *ranges, size_t room,
    const char **err)
{
    size_t  i;

    if (reply == NULL) {
        *err = "no reply";
        return -1;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        *err = reply->str;
        return -1;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        *err = "not an array";
        return -1;
    }

    if (reply->elements > TWOFA_SLOTS_RANGES) {
        *err = "more ranges than slots";
        return -1;
    }

    if (reply->elements > room) {
        *err = "more ranges than room for them";
        return -1;
    }

    for (i = 0; i < reply->elements; i++) {
        *err = twofa_slots_range(reply->element[i], self, self_len,
                                 &ranges[i]);
        if (*err != NULL) {
            return -1;
        }
    }

    return (int) reply->elements;
}
