/*
 * A Redis Cluster's slot map, read from its CLUSTER SLOTS reply (a
 * hiredis redisReply): the ranges of slots and the address of each
 * range's primary.  The module's workers and twofa-admin read the map
 * alike, so every check of the reply's shape is here; what an address may
 * be (an IP literal in a worker, which must not block on DNS; a name too
 * in the CLI) and how many nodes fit are the caller's.  C99 and hiredis's
 * reply type; no allocation.
 */

#ifndef TWOFA_SLOTS_H
#define TWOFA_SLOTS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "twofa_slot.h"


/*
 * Room for the ranges of any map: each range holds one slot at least, and
 * a map with more ranges than slots is refused.
 */
#define TWOFA_SLOTS_RANGES  TWOFA_SLOTS


typedef struct {
    unsigned       first;     /* first <= last < TWOFA_SLOTS */
    unsigned       last;
    const char    *host;      /* not NUL-terminated: in the reply, or self */
    size_t         host_len;
    unsigned       port;      /* 0 to 65535: 0 is the caller's to refuse */
} twofa_slots_range_t;


/*
 * The ranges of a CLUSTER SLOTS reply,
 *
 *     [[first, last, [host, port, ...], replica, ...], ...]
 *
 * into ranges, which has room for room of them: the primary's host and
 * port of each (a replica, a node id and a node's metadata, the fourth
 * and later items, are passed over).  An empty host (a node that does not
 * know its own address) is the node asked's: self, of self_len bytes.
 *
 * Returns the number of ranges, or -1 with *err set to why for a log line:
 * no reply, an error reply (its text: it lives as long as the reply), a
 * reply that is not an array, a range of another shape, slots or a port
 * out of bounds, more ranges than slots or than room.  A reply refused gives no
 * map at all, not the ranges before the fault: the caller keeps the map
 * it has (what ranges holds then is not to be read).
 */
int twofa_slots_parse(const redisReply *reply, const char *self,
    size_t self_len, twofa_slots_range_t *ranges, size_t room,
    const char **err);

#endif /* TWOFA_SLOTS_H */
