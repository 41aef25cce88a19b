/*
 * CLUSTER SLOTS replies read into ranges: replies as Redis 6 and 7 write
 * them, an empty host, a host name passed on for the caller to judge, and
 * every fault the parser refuses.  The replies are RESP bytes read by
 * hiredis's own reader, as the module's and the CLI's connections read
 * them.
 */

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "tap.h"
#include "twofa_slots.h"


#define SELF  "10.0.0.9"

/* three primaries, each with a replica and node ids (Redis 6) */
#define THREE                                                                 \
    "*3\r\n"                                                                  \
    "*4\r\n:0\r\n:5460\r\n"                                                   \
    "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$4\r\nid-a\r\n"                        \
    "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$4\r\nid-d\r\n"                        \
    "*4\r\n:5461\r\n:10922\r\n"                                               \
    "*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$4\r\nid-b\r\n"                        \
    "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$4\r\nid-e\r\n"                        \
    "*4\r\n:10923\r\n:16383\r\n"                                              \
    "*3\r\n$9\r\n127.0.0.1\r\n:7002\r\n$4\r\nid-c\r\n"                        \
    "*3\r\n$9\r\n127.0.0.1\r\n:7005\r\n$4\r\nid-f\r\n"


static twofa_slots_range_t  ranges[TWOFA_SLOTS_RANGES];


/* The one reply that resp spells, read as a connection reads it. */

static redisReply *
reply_of(const char *resp, size_t len)
{
    void         *reply;
    redisReader  *reader;

    reader = redisReaderCreate();
    if (reader == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    reply = NULL;

    if (redisReaderFeed(reader, resp, len) != REDIS_OK
        || redisReaderGetReply(reader, &reply) != REDIS_OK
        || reply == NULL)
    {
        fprintf(stderr, "not one whole reply: %s\n", resp);
        exit(255);
    }

    redisReaderFree(reader);

    return reply;
}


/*
 * The parser's verdict on resp: the ranges, or -1 and the reason.  The
 * reply lives until the next call, as the ranges' hosts and an error
 * reply's text point into it.
 */

static int
parse(const char *resp, const char **err)
{
    static redisReply  *reply;

    freeReplyObject(reply);
    reply = NULL;

    if (resp == NULL) {
        return 0;
    }

    reply = reply_of(resp, strlen(resp));

    *err = NULL;

    return twofa_slots_parse(reply, SELF, strlen(SELF), ranges,
                             TWOFA_SLOTS_RANGES, err);
}


static int
host_is(const twofa_slots_range_t *r, const char *want)
{
    return r->host_len == strlen(want)
           && memcmp(r->host, want, r->host_len) == 0;
}


static void
test_good(void)
{
    int          n;
    const char  *err;
    redisReply  *reply;

    reply = reply_of(THREE, sizeof(THREE) - 1);

    n = twofa_slots_parse(reply, SELF, strlen(SELF), ranges,
                          TWOFA_SLOTS_RANGES, &err);

    is_int(n, 3, "three ranges");
    is_int(ranges[0].first, 0, "the first range's first slot");
    is_int(ranges[0].last, 5460, "its last");
    ok(host_is(&ranges[0], "127.0.0.1"), "its primary's host");
    is_int(ranges[0].port, 7000, "its primary's port, not its replica's");
    ok(ranges[0].host == reply->element[0]->element[2]->element[0]->str,
       "the host points into the reply");
    is_int(ranges[1].first, 5461, "the second range");
    is_int(ranges[1].port, 7001, "its primary");
    is_int(ranges[2].last, 16383, "the third ends at the last slot");
    is_int(ranges[2].port, 7002, "its primary");

    freeReplyObject(reply);

    /* Redis 7: a node's metadata, a map written as an array in RESP2 */

    n = parse("*1\r\n*3\r\n:0\r\n:16383\r\n"
              "*4\r\n$8\r\n10.0.0.1\r\n:6379\r\n$2\r\nid\r\n"
              "*2\r\n$8\r\nhostname\r\n$6\r\nnode-1\r\n", &err);
    is_int(n, 1, "Redis 7's metadata passed over");
    ok(host_is(&ranges[0], "10.0.0.1"), "the address, not the metadata");

    n = parse("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$0\r\n\r\n:6379\r\n",
              &err);
    is_int(n, 1, "an empty host");
    ok(host_is(&ranges[0], SELF), "is the node asked's");
    is_int(ranges[0].port, 6379, "with the port the reply says");

    n = parse("*1\r\n*3\r\n:7\r\n:7\r\n*2\r\n$14\r\nnode-1.example\r\n"
              ":6379\r\n", &err);
    is_int(n, 1, "a host name: passed on (a worker refuses it, the CLI not)");
    ok(host_is(&ranges[0], "node-1.example"), "as written");
    is_int(ranges[0].first, 7, "a range of one slot");
    is_int(ranges[0].last, 7, "first and last alike");

    n = parse("*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\n1\r\n:0\r\n", &err);
    is_int(n, 1, "port 0: the caller's to refuse");
    is_int(ranges[0].port, 0, "passed on as 0");

    n = parse("*0\r\n", &err);
    is_int(n, 0, "no ranges: a cluster serving no slot");
}


static void
test_refused(void)
{
    size_t                i;
    const char           *err;
    redisReply           *reply;
    twofa_slots_range_t   two[2];

    static const struct {
        const char  *resp;
        const char  *err;
        const char  *name;
    } bad[] = {
        { "-ERR This instance has cluster support disabled\r\n",
          "ERR This instance has cluster support disabled",
          "an error reply: its text" },
        { "+OK\r\n", "not an array", "a status" },
        { "*-1\r\n", "not an array", "a nil array" },
        { ":3\r\n", "not an array", "an integer" },

        { "*1\r\n:0\r\n", NULL, "a range that is no array" },
        { "*1\r\n*2\r\n:0\r\n:1\r\n", NULL, "a range of two items" },
        { "*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n", NULL,
          "first a string" },
        { "*1\r\n*3\r\n:0\r\n$1\r\n1\r\n*2\r\n$1\r\nh\r\n:1\r\n", NULL,
          "last a string" },
        { "*1\r\n*3\r\n:0\r\n:1\r\n$1\r\nh\r\n", NULL, "no node array" },
        { "*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n", NULL,
          "a node of one item" },
        { "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$-1\r\n:1\r\n", NULL,
          "a nil host (Redis 7's unknown endpoint)" },
        { "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n:1\r\n:1\r\n", NULL,
          "an integer host" },
        { "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n$4\r\n6379\r\n", NULL,
          "a string port" },

        { "*1\r\n*3\r\n:-1\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n", NULL,
          "a negative first slot" },
        { "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n", NULL,
          "a last slot beyond 16383" },
        { "*1\r\n*3\r\n:9\r\n:8\r\n*2\r\n$1\r\nh\r\n:1\r\n", NULL,
          "first after last" },
        { "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:65536\r\n", NULL,
          "port 65536" },
        { "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:4294973675\r\n", NULL,
          "a port that a 32-bit cast would make 6379" },
        { "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:-1\r\n", NULL,
          "a negative port" },

        /* a good range first: the reply is refused all the same */
        { "*2\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n:0\r\n", NULL,
          "a fault after a good range" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(parse(bad[i].resp, &err), -1, "refused: %s", bad[i].name);

        if (bad[i].err) {
            is_str(err, bad[i].err, "why: %s", bad[i].name);

        } else {
            ok(err != NULL && err[0] != '\0', "why: %s (%s)", bad[i].name,
               err ? err : "none");
        }
    }

    is_int(twofa_slots_parse(NULL, SELF, strlen(SELF), ranges,
                             TWOFA_SLOTS_RANGES, &err), -1,
           "refused: no reply (a lost connection)");
    is_str(err, "no reply", "why: no reply");

    /* the caller's room, and the slots, bound the ranges */

    reply = reply_of(THREE, sizeof(THREE) - 1);

    is_int(twofa_slots_parse(reply, SELF, strlen(SELF), two, 2, &err), -1,
           "refused: three ranges, room for two");
    is_str(err, "more ranges than room for them", "why: no room");

    freeReplyObject(reply);
}


/* 16384 ranges of one slot each: the most a map holds; one more is not */

static void
test_most(void)
{
    int          n;
    char        *resp, *p;
    size_t       i, size;
    const char  *err;
    redisReply  *reply;

    size = 32 + (TWOFA_SLOTS + 1) * 64;

    resp = malloc(size);
    if (resp == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(255);
    }

    for (n = TWOFA_SLOTS; n <= TWOFA_SLOTS + 1; n++) {
        p = resp + sprintf(resp, "*%d\r\n", n);

        for (i = 0; i < (size_t) n; i++) {
            p += sprintf(p, "*3\r\n:%zu\r\n:%zu\r\n*2\r\n$1\r\nh\r\n:1\r\n",
                         i % TWOFA_SLOTS, i % TWOFA_SLOTS);
        }

        reply = reply_of(resp, (size_t) (p - resp));

        if (n == TWOFA_SLOTS) {
            is_int(twofa_slots_parse(reply, SELF, strlen(SELF), ranges,
                                     TWOFA_SLOTS_RANGES, &err),
                   TWOFA_SLOTS, "a range for every slot");
            is_int(ranges[TWOFA_SLOTS - 1].first, TWOFA_SLOTS - 1,
                   "the last one");

        } else {
            is_int(twofa_slots_parse(reply, SELF, strlen(SELF), ranges,
                                     TWOFA_SLOTS_RANGES, &err),
                   -1, "refused: more ranges than slots");
            is_str(err, "more ranges than slots", "why: too many ranges");
        }

        freeReplyObject(reply);
    }

    free(resp);
}


int
main(void)
{
    test_good();
    test_refused();
    test_most();

    parse(NULL, NULL);      /* the last reply freed */

    return done();
}
