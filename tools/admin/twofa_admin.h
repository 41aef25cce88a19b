/*
 * twofa-admin: the operator's command line for twofa-edge.
 *
 * It runs the module's own Redis scripts (the files in lua/, compiled in:
 * include/twofa_scripts.h) on keys named by the module's own builder
 * (include/twofa_keys.h), so the tool and the module read and write the
 * same state with the same meaning.  Each script's file says what it
 * takes and returns.
 *
 * Synchronous hiredis is right here: a command-line tool has nothing else
 * to do while it waits, and --timeout bounds every wait.  The secret and
 * the recovery hashes are never printed: the state script counts the
 * hashes in Redis, and the (sealed) secret it returns with the rest is
 * wiped from the reply unread.
 *
 * The files, and the way calls go (main -> commands -> the rest -> the
 * core in include/):
 *
 *   main.c      entry: the command table, the order of the steps
 *   options.c   the command line: options, the command and its values
 *   help.c      the usage message and --help
 *   password.c  the password files
 *   sentinel.c  --redis "sentinel=... service=...": the primary, asked of
 *               the sentinels in turn, checked with ROLE
 *   cluster.c   --redis "cluster=...": the slot map, each command to its
 *               org's primary, MOVED, ASK, TRYAGAIN; init in every slot
 *   init.c      init
 *   org.c       org require, org show
 *   user.c      user show, user reset
 *   audit.c     audit: the audit trail, listed and followed
 *   audit_cluster.c  audit of a cluster without --org: every slot's
 *               stream, merged in the order of their entries
 *   redis.c     the connection (AUTH, SELECT), the one way a script is
 *               sent (EVALSHA, and EVAL once after NOSCRIPT), the script's
 *               keys and arguments, the checks of a reply's shape
 *   output.c    "key: value" lines or one JSON object, the audit line,
 *               the audit trail's entries
 *
 * This header is private to tools/admin/.
 */

#ifndef TWOFA_ADMIN_H
#define TWOFA_ADMIN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "twofa_cookie.h"
#include "twofa_ident.h"
#include "twofa_keys.h"
#include "twofa_scripts.h"


/* exit codes: part of the interface, documented in --help */
#define TWOFA_ADMIN_OK           0
#define TWOFA_ADMIN_EREDIS       1
#define TWOFA_ADMIN_EUSAGE       2
#define TWOFA_ADMIN_HELP         (-1)    /* internal: --help was asked */

#define TWOFA_ADMIN_PREFIX_MAX   64      /* as twofa_redis prefix= */
#define TWOFA_ADMIN_SENTINELS    16      /* in sentinel= */
#define TWOFA_ADMIN_SPEC_MAX     4096    /* the whole --redis value */
#define TWOFA_ADMIN_SERVICE_MAX  128     /* as twofa_redis service= */
#define TWOFA_ADMIN_PASSWORD_MAX 4096    /* as twofa_redis password_file= */
#define TWOFA_ADMIN_HOST_MAX     255
#define TWOFA_ADMIN_CLUSTER_NODES 64     /* as the module's */
#define TWOFA_ADMIN_SLOTS        16384   /* TWOFA_SLOTS */

/*
 * with its NUL; 16 is more than the longest kind, "revocations"; an
 * escaped identity is at most 3 times as long (twofa_ident_key_escape)
 */
#define TWOFA_ADMIN_KEY_MAX                                                  \
    (TWOFA_ADMIN_PREFIX_MAX + 16 + 2 * 3 * TWOFA_ID_MAX + 1 + 1)

#define TWOFA_ADMIN_INT_LEN      24
#define TWOFA_ADMIN_ARGS_MAX     16      /* a script's keys and arguments */
#define TWOFA_ADMIN_KEYS_MAX     5       /* a script's keys */
#define TWOFA_ADMIN_ACTOR_MAX    (sizeof("cli:") + TWOFA_ID_MAX)

/* audit */
#define TWOFA_ADMIN_LIMIT_MAX    100000  /* --limit */
#define TWOFA_ADMIN_LIMIT        100     /* --limit's default */
#define TWOFA_ADMIN_SINCE_MAX    253402300799LL  /* 9999-12-31T23:59:59Z */

/* a stream entry id ("ms-seq", two 64-bit numbers), "(" first, its NUL */
#define TWOFA_ADMIN_ID_MAX       (1 + 20 + 1 + 20 + 1)

#define TWOFA_ADMIN_UNIX_MAX                                                 \
    sizeof(((struct sockaddr_un *) 0)->sun_path)


typedef struct twofa_admin_s  twofa_admin_t;

/* a command's work, once its values are checked and Redis is connected */
typedef int twofa_admin_run_fn(twofa_admin_t *adm);


/* what follows a command's name */
typedef enum {
    TWOFA_ADMIN_TAKES_NOTHING = 0,
    TWOFA_ADMIN_TAKES_ORG,
    TWOFA_ADMIN_TAKES_ORG_ON_OFF,
    TWOFA_ADMIN_TAKES_ORG_USER,
    TWOFA_ADMIN_TAKES_OPTIONS           /* options of its own (audit) */
} twofa_admin_takes_e;


typedef struct {
    const char           *name;         /* "org require", for messages */
    const char           *obj;          /* its first word */
    const char           *verb;         /* its second, or NULL */
    int                   words;        /* with its values */
    twofa_admin_takes_e   takes;
    twofa_admin_run_fn   *run;
} twofa_admin_command_t;


struct twofa_admin_s {
    /* options */
    const char                   *addr;          /* as given */
    char                          host[TWOFA_ADMIN_HOST_MAX + 1];
    int                           port;
    char                          unix_path[TWOFA_ADMIN_UNIX_MAX];
    const char                   *password_file;
    long                          db;

    /* --redis "sentinel=H:P,... service=NAME [sentinel_password_file=F]" */
    char                          spec[TWOFA_ADMIN_SPEC_MAX];
    int                           nsentinels;    /* 0: not this form */
    char                         *sentinel[TWOFA_ADMIN_SENTINELS];
    const char                   *service;
    const char                   *sentinel_password_file;
    char                          primary[TWOFA_ADMIN_HOST_MAX + 16];

    /* --redis "cluster=H:P,...": the seeds, then the map */
    int                           ncluster;      /* 0: not this form */
    char                         *seed[TWOFA_ADMIN_SENTINELS];
    struct {
        char                      host[TWOFA_ADMIN_HOST_MAX + 1];
        int                       port;
    }                             nodes[TWOFA_ADMIN_CLUSTER_NODES];
    int                           nnodes;
    int                           node;          /* c's, or -1 */
    unsigned char                 slots[TWOFA_ADMIN_SLOTS]; /* node + 1 */
    char                          node_addr[TWOFA_ADMIN_HOST_MAX + 16];
    char                          base_prefix[TWOFA_ADMIN_PREFIX_MAX + 1];
    char                          tagged[TWOFA_ADMIN_PREFIX_MAX
                                         + TWOFA_KEY_CLUSTER_EXTRA];
    const char                   *key_org;       /* org show's, shown */
    const char                   *prefix;
    size_t                        prefix_len;
    long                          timeout;       /* ms */
    long                          lockout;
    long                          audit_max_len; /* as twofa_audit_max_len */
    int                           json;

    /* the command and its values */
    const twofa_admin_command_t  *cmd;
    const char                   *org;
    const char                   *user;
    char                          org_buf[TWOFA_ID_MAX + 1];
    char                          user_buf[TWOFA_ID_MAX + 1];
    int                           require;

    /* audit's options: org and user above are NULL when not given */
    int64_t                       since;         /* unix time, or -1 */
    long                          limit;
    int                           follow;

    /* run time */
    redisContext                 *c;
    char                          password[TWOFA_ADMIN_PASSWORD_MAX + 1];
    size_t                        password_len;
    char                          sentinel_password[
                                      TWOFA_ADMIN_PASSWORD_MAX + 1];
    size_t                        sentinel_password_len;
    json_t                       *out;           /* --json: the object */
    char                          audit_max[TWOFA_ADMIN_INT_LEN];
    char                          actor[TWOFA_ADMIN_ACTOR_MAX];
    char                          edge[TWOFA_ADMIN_HOST_MAX + 1];
    int                           out_failed;    /* a member was lost */
};


/* A script's keys, then its arguments; the keys live here too. */

typedef struct {
    int          n;
    int          nkeys;
    const char  *argv[TWOFA_ADMIN_ARGS_MAX];
    size_t       lens[TWOFA_ADMIN_ARGS_MAX];
    char         keys[TWOFA_ADMIN_KEYS_MAX][TWOFA_ADMIN_KEY_MAX];
    char         now[TWOFA_ADMIN_INT_LEN];
} twofa_admin_args_t;


/* options.c */
int twofa_admin_options(twofa_admin_t *adm, int argc, char **argv,
    int *next);
int twofa_admin_command_line(twofa_admin_t *adm,
    const twofa_admin_command_t *commands, int argc, char **argv);

/* help.c */
int twofa_admin_usage(const char *fmt, const char *arg);
void twofa_admin_help(void);

/* options.c: also for sentinel.c and cluster.c */
int twofa_admin_parse_hostport(const char *addr, long dflt, char *host,
    int *port);
int twofa_admin_parse_list(char *list, long dflt, char **out, int *n);
int twofa_admin_parse_long(const char *s, long min, long max, long *out);

/* password.c */
int twofa_admin_read_password(twofa_admin_t *adm);

/* sentinel.c */
int twofa_admin_sentinel_primary(twofa_admin_t *adm);
int twofa_admin_sentinel_role(twofa_admin_t *adm);

/* cluster.c */
int twofa_admin_cluster_parse(twofa_admin_t *adm, const char *value);
int twofa_admin_cluster_connect(twofa_admin_t *adm);
int twofa_admin_cluster_org(twofa_admin_t *adm, const char *org);
int twofa_admin_cluster_slot(twofa_admin_t *adm, unsigned slot);
int twofa_admin_cluster_redirect(twofa_admin_t *adm, redisReply **reply,
    int *tries, long *waited);
int twofa_admin_cluster_init(twofa_admin_t *adm, const char *now,
    const char *by, long *created);
int twofa_admin_cluster_revocation(twofa_admin_t *adm, const char *key,
    const char *subject, time_t now);

/* init.c, org.c, user.c, audit.c: the commands */
twofa_admin_run_fn  twofa_admin_init, twofa_admin_org_require,
    twofa_admin_org_show, twofa_admin_user_show, twofa_admin_user_reset,
    twofa_admin_audit_read;

/* audit.c, audit_cluster.c: the whole trail of a cluster, merged */
int twofa_admin_audit_fetch(twofa_admin_t *adm, char *from, const char *org,
    long limit, redisReply **out, int *end);
int twofa_admin_audit_cluster(twofa_admin_t *adm);
int twofa_admin_audit_signals(twofa_admin_t *adm, sigset_t *stop);
int twofa_admin_audit_stopped(const sigset_t *stop, time_t secs);

/* redis.c */
int twofa_admin_connect(twofa_admin_t *adm);
int twofa_admin_open(twofa_admin_t *adm);
int twofa_admin_audit_wait(twofa_admin_t *adm, const char *after);
redisReply *twofa_admin_script(twofa_admin_t *adm, twofa_script_id_t id,
    twofa_admin_args_t *args);
int twofa_admin_unexpected(twofa_admin_t *adm, twofa_script_id_t id);
int twofa_admin_no_deployment(twofa_admin_t *adm);
int twofa_admin_is_pair(redisReply *reply);
int twofa_admin_parse_int64(const char *s, size_t len, int64_t *out);
size_t twofa_admin_key(twofa_admin_t *adm, char *buf, twofa_key_kind_t kind,
    const char *a, const char *b);
void twofa_admin_key_arg(twofa_admin_t *adm, twofa_admin_args_t *args,
    twofa_key_kind_t kind, const char *a, const char *b);
void twofa_admin_arg(twofa_admin_args_t *args, const char *s, size_t len);
void twofa_admin_arg_now(twofa_admin_args_t *args, time_t now);
void twofa_admin_audit_args(twofa_admin_t *adm, twofa_admin_args_t *args,
    const char *org, const char *user);
time_t twofa_admin_now(void);

/* output.c */
const char *twofa_admin_who(void);
char *twofa_admin_escape(const char *s, size_t len, int spaces);
void twofa_admin_audit(twofa_admin_t *adm, time_t now, const char *what);
void twofa_admin_out_begin(twofa_admin_t *adm);
void twofa_admin_out_str(twofa_admin_t *adm, const char *key,
    const char *value);
void twofa_admin_out_flag(twofa_admin_t *adm, const char *key, int value,
    const char *yes, const char *no);
void twofa_admin_out_int(twofa_admin_t *adm, const char *key,
    long long value);
void twofa_admin_out_time(twofa_admin_t *adm, const char *key, int64_t t);
int twofa_admin_out_end(twofa_admin_t *adm);
int twofa_admin_out_entry(twofa_admin_t *adm, redisReply **e);
int twofa_admin_out_flush(void);


#endif /* TWOFA_ADMIN_H */
