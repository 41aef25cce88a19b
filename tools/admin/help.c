/*
 * What twofa-admin says of its own use: the short usage message after a
 * command line it refuses, and the whole text of --help (the man page,
 * twofa-admin.1, says the same at more length).
 */

#include <stdio.h>

#include "twofa_admin.h"


/* the usage message, after what was wrong: the exit code of a usage error */

int
twofa_admin_usage(const char *fmt, const char *arg)
{
    fputs("twofa-admin: ", stderr);

    if (arg) {
        fprintf(stderr, fmt, arg);

    } else {
        fputs(fmt, stderr);
    }

    fputs("\nusage: twofa-admin [OPTIONS] init\n"
          "       twofa-admin [OPTIONS] org require ORG on|off\n"
          "       twofa-admin [OPTIONS] org show ORG\n"
          "       twofa-admin [OPTIONS] user show ORG USER\n"
          "       twofa-admin [OPTIONS] user reset ORG USER\n"
          "       twofa-admin [OPTIONS] audit [--org ORG] [--user USER] "
          "[--since TIME]\n"
          "                                   [--limit N] [--follow]\n"
          "See twofa-admin --help.\n", stderr);

    return TWOFA_ADMIN_EUSAGE;
}

/* the text of --help */

static const char  twofa_admin_help_text[] =
"NAME\n"
"    twofa-admin - manage twofa-edge two-factor policy and users in Redis\n"
"\n"
"SYNOPSIS\n"
"    twofa-admin [OPTIONS] init\n"
"    twofa-admin [OPTIONS] org require ORG on|off\n"
"    twofa-admin [OPTIONS] org show ORG\n"
"    twofa-admin [OPTIONS] user show ORG USER\n"
"    twofa-admin [OPTIONS] user reset ORG USER\n"
"    twofa-admin [OPTIONS] audit [--org ORG] [--user USER] [--since TIME]\n"
"                                [--limit N] [--follow]\n"
"\n"
"DESCRIPTION\n"
"    Reads and changes the Redis state of the twofa-edge nginx module,\n"
"    under the same keys and with the same meaning: it runs the module's\n"
"    own Redis scripts (EVALSHA, loaded again with EVAL after a Redis\n"
"    restart or SCRIPT FLUSH).  Changes take effect at the user's next\n"
"    login; sessions already open are left alone.\n"
"    An app without orgs uses the org \"default\".\n"
"\n"
"COMMANDS\n"
"    init\n"
"        Marks this Redis as holding a twofa deployment (the key\n"
"        {prefix}deployment).  Run it once for a new deployment, before\n"
"        the module takes logins: a Redis without the mark is one that\n"
"        lost its data (flushed, restarted without persistence), and the\n"
"        module then refuses every login, and this tool org require and\n"
"        user show (exit 1), until an admin restores the data or runs\n"
"        init again.\n"
"    org require ORG on|off\n"
"        Require 2FA for every user of ORG from their next login (on), or\n"
"        not (off; users who enrolled on their own are still asked).\n"
"        One HSET of require (1/0) and updated (now).\n"
"    org show ORG\n"
"        The org's policy.  An org never set shows require: off and\n"
"        updated: -, since that is the policy the module applies.\n"
"    user show ORG USER\n"
"        Enrolled, since when, the org's requirement, locked, failed\n"
"        codes in the lockout window and seconds until that window ends,\n"
"        recovery codes left.  A user with no state shows enrolled: no.\n"
"        The secret and the recovery codes are never shown.\n"
"    user reset ORG USER\n"
"        Forget the user's TOTP secret, recovery codes, failure count and\n"
"        held logins, and revoke the user's sessions on every edge (within\n"
"        a second): the user enrolls again at the next login if the org\n"
"        requires 2FA.  Says whether there was TOTP state (existed) and\n"
"        whether the user was enrolled.\n"
"    audit [--org ORG] [--user USER] [--since TIME] [--limit N] [--follow]\n"
"        The audit trail ({prefix}audit), oldest first: the changes made\n"
"        here or through the module's admin API, and the users' own\n"
"        (enroll, disable, recovery code, lockout).  Lists the first N\n"
"        entries from TIME on (by default from the oldest entry kept), of\n"
"        ORG and USER when given.  --follow then waits for new entries and\n"
"        prints each within a second, until SIGINT or SIGTERM (exit 0);\n"
"        entries --limit left out are skipped.  Only reads: needs no\n"
"        deployment mark.  Its options come after the word audit.\n"
"\n"
"OPTIONS\n"
"    Options go before the command; what follows the command is taken\n"
"    literally.  --name=value works too, and so does a name cut short\n"
"    while it names one option (--time 500).\n"
"    --redis ADDR          host:port, host, [ipv6]:port or unix:/path\n"
"                          (default 127.0.0.1:6379), or, as one value,\n"
"                          \"sentinel=H:P[,H:P...] service=NAME\n"
"                          [sentinel_password_file=F]\": the primary\n"
"                          the sentinels name (asked in turn, F their\n"
"                          own password), checked with ROLE; or\n"
"                          \"cluster=H:P[,H:P...]\": a Redis Cluster,\n"
"                          each command to its org's primary (init\n"
"                          marks every slot, audit needs --org)\n"
"    --password-file F     AUTH with the first line of F (a trailing\n"
"                          newline is ignored), as password_file=\n"
"    --db N                SELECT N first (default 0), as db=\n"
"    --prefix P            key prefix (default \"twofa:\"), as prefix=\n"
"    --timeout T           connect and reply timeout in ms (default\n"
"                          2000; \"500ms\" and \"2s\" work too)\n"
"    --lockout N           failures that mean locked, as twofa_lockout\n"
"                          (default 5; the tool cannot see the server's)\n"
"    --audit-max-len N     entries the audit trail keeps, as\n"
"                          twofa_audit_max_len (default 100000); changes\n"
"                          trim the trail to about that length\n"
"    --json                one JSON object instead of lines (audit: one\n"
"                          per entry and line, JSON Lines)\n"
"    -h, --help            this text\n"
"    audit's own, after the word audit:\n"
"    --org ORG             only ORG's entries\n"
"    --user USER           only USER's entries (of any org without --org)\n"
"    --since TIME          from TIME on: unix seconds or ISO-8601 UTC\n"
"                          (2026-11-27T22:33:39Z)\n"
"    --limit N             at most N entries, 1 to 100000 (default 100)\n"
"    --follow              then print new entries as they come\n"
"    ORG and USER are checked as the module checks them: 1 to 128\n"
"    visible ASCII characters, none of : | / \\ \" * ? [ ]\n"
"\n"
"OUTPUT\n"
"    One \"key: value\" per line, keys in a fixed order:\n"
"      org show     org, require (on/off), updated\n"
"      org require  org, require, updated, audit\n"
"      init         initialised (yes), created (yes/no), audit\n"
"      user show    org, user, enrolled (yes/no), enrolled_at,\n"
"                   org_require (on/off),\n"
"                   locked (yes/no), failures, failures_ttl, lockout,\n"
"                   recovery_left\n"
"      user reset   org, user, existed (yes/no), was_enrolled (yes/no),\n"
"                   audit\n"
"    audit prints one line per entry, oldest first (wrapped here):\n"
"      TIME EVENT [org=ORG] [user=USER] actor=ACTOR client=CLIENT\n"
"          edge=EDGE id=ID\n"
"    org= and user= are left out when the entry has none (init).  A\n"
"    control character or a byte past ASCII shows as \"?\", and so does a\n"
"    space in any value but EVENT.  With --json: one object per line\n"
"    (JSON Lines) with id, time, event, org, user, actor, client, edge;\n"
"    org and user are null when there is none.\n"
"    Times are ISO-8601 UTC (2026-11-27T22:33:39Z), \"-\" when there is\n"
"    none.  failures_ttl is in seconds: 0 without failures, -1 for a\n"
"    counter with no expiry.  With --json: one object with the same\n"
"    keys; on/off and yes/no become true/false, counts are numbers, a\n"
"    missing time is null.\n"
"    Every change prints one audit line (with --json: the \"audit\"\n"
"    member, the same text without \"audit: \"):\n"
"      audit: TIME WHAT org=ORG [user=USER] by=WHO\n"
"    WHO is $SUDO_USER, else $USER, else uid:N.\n"
"\n"
"EXIT STATUS\n"
"    0  done (also a show of an org or user with no state, and a reset\n"
"       of a user who had none: the output says so)\n"
"    1  Redis unreachable, timed out, AUTH failed, a Redis error or an\n"
"       unexpected reply, a Redis without the deployment mark (see\n"
"       init), or the output could not be written (message on stderr)\n"
"    2  usage error or invalid argument (an invalid ORG or USER, an\n"
"       unreadable password file); Redis was not touched\n"
"    3  reserved for \"not found\"; not returned by these commands\n"
"\n"
"KEYS\n"
"    {prefix}deployment          hash: created, by (see init)\n"
"    {prefix}org:{org}           hash: require, updated\n"
"    {prefix}user:{org}:{user}   hash: secret, enabled, enrolled_at,\n"
"                                last_step, recovery\n"
"    {prefix}fail:{org}:{user}   failure counter, TTL = lockout window\n"
"    {prefix}holds:{org}:{user}  the user's held logins, each a\n"
"                                {prefix}hold:{token} (gone at reset)\n"
"    {prefix}revocations         hash and channel: sessions revoked by\n"
"                                user reset\n"
"    {prefix}audit               stream: the audit trail, entries of\n"
"                                time, event, org, user, actor, client,\n"
"                                edge (see audit)\n"
"\n"
"EXAMPLES\n"
"    twofa-admin org require acme on\n"
"    twofa-admin --json user show acme alice\n"
"    twofa-admin --redis unix:/run/redis/redis.sock \\\n"
"        --password-file /etc/nginx/twofa/redis.pass user reset acme bob\n"
"    twofa-admin audit --org acme --since 2026-11-27T00:00:00Z\n"
"    twofa-admin --json audit --user bob --follow\n";


void
twofa_admin_help(void)
{
    fputs(twofa_admin_help_text, stdout);
}
