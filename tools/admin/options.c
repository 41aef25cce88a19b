/*
 * The command line: options (getopt_long), then COMMAND and its values,
 * or its own options (audit's, getopt_long again), all checked before
 * anything touches Redis.  The usage message and --help are in help.c.
 */

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "twofa_admin.h"


/* getopt_long's values for the long options: past any character */
enum {
    TWOFA_ADMIN_OPT_REDIS = 256,
    TWOFA_ADMIN_OPT_PASSWORD_FILE,
    TWOFA_ADMIN_OPT_DB,
    TWOFA_ADMIN_OPT_PREFIX,
    TWOFA_ADMIN_OPT_TIMEOUT,
    TWOFA_ADMIN_OPT_LOCKOUT,
    TWOFA_ADMIN_OPT_AUDIT_MAX_LEN,
    TWOFA_ADMIN_OPT_JSON,

    /* audit's, after the word */
    TWOFA_ADMIN_OPT_ORG,
    TWOFA_ADMIN_OPT_USER,
    TWOFA_ADMIN_OPT_SINCE,
    TWOFA_ADMIN_OPT_LIMIT,
    TWOFA_ADMIN_OPT_FOLLOW
};


static int twofa_admin_option(twofa_admin_t *adm, int opt,
    const char *value);
static int twofa_admin_number(twofa_admin_t *adm,
    const struct option *options, int opt, const char *value);
static int twofa_admin_bad_option(int ret, char **argv,
    const struct option *options);
static const char *twofa_admin_option_name(const struct option *options,
    int opt);
static int twofa_admin_check_options(twofa_admin_t *adm);
static int twofa_admin_audit_options(twofa_admin_t *adm, int argc,
    char **argv);
static int twofa_admin_is_global(const char *arg);
static const twofa_admin_command_t *twofa_admin_find_command(
    const twofa_admin_command_t *commands, int argc, char **argv);
static int twofa_admin_parse_addr(twofa_admin_t *adm, const char *addr);
static int twofa_admin_parse_sentinel(twofa_admin_t *adm, const char *value);
static int twofa_admin_parse_timeout(const char *s, long min, long max,
    long *out);
static int twofa_admin_parse_since(const char *s, int64_t *out);
static int twofa_admin_digits(const char *s, size_t n);
static int twofa_admin_set_org(twofa_admin_t *adm, const char *value);
static int twofa_admin_set_user(twofa_admin_t *adm, const char *value);
static int twofa_admin_check_ident(const char *what, const char *value,
    char *buf, const char **out);
static void twofa_admin_print_value(FILE *f, const char *s);


static const struct option  twofa_admin_long_options[] = {
    { "redis", required_argument, NULL, TWOFA_ADMIN_OPT_REDIS },
    { "password-file", required_argument, NULL,
      TWOFA_ADMIN_OPT_PASSWORD_FILE },
    { "db", required_argument, NULL, TWOFA_ADMIN_OPT_DB },
    { "prefix", required_argument, NULL, TWOFA_ADMIN_OPT_PREFIX },
    { "timeout", required_argument, NULL, TWOFA_ADMIN_OPT_TIMEOUT },
    { "lockout", required_argument, NULL, TWOFA_ADMIN_OPT_LOCKOUT },
    { "audit-max-len", required_argument, NULL,
      TWOFA_ADMIN_OPT_AUDIT_MAX_LEN },
    { "json", no_argument, NULL, TWOFA_ADMIN_OPT_JSON },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


static const struct option  twofa_admin_audit_long_options[] = {
    { "org", required_argument, NULL, TWOFA_ADMIN_OPT_ORG },
    { "user", required_argument, NULL, TWOFA_ADMIN_OPT_USER },
    { "since", required_argument, NULL, TWOFA_ADMIN_OPT_SINCE },
    { "limit", required_argument, NULL, TWOFA_ADMIN_OPT_LIMIT },
    { "follow", no_argument, NULL, TWOFA_ADMIN_OPT_FOLLOW },
    { NULL, 0, NULL, 0 }
};


/*
 * The options that take a number: its range, how it is read, the long
 * in twofa_admin_t it goes to, and what the usage message says after
 * the range ("invalid --NAME "VALUE": MIN to MAX...").
 */

typedef struct {
    int           opt;
    long          min;
    long          max;
    int         (*parse)(const char *s, long min, long max, long *out);
    size_t        offset;
    const char   *unit;
} twofa_admin_number_t;


static const twofa_admin_number_t  twofa_admin_numbers[] = {
    { TWOFA_ADMIN_OPT_DB, 0, 65535, twofa_admin_parse_long,
      offsetof(twofa_admin_t, db), "" },
    { TWOFA_ADMIN_OPT_TIMEOUT, 1, 3600000, twofa_admin_parse_timeout,
      offsetof(twofa_admin_t, timeout), " ms (\"500\", \"500ms\", \"2s\")" },
    { TWOFA_ADMIN_OPT_LOCKOUT, 1, 1000000, twofa_admin_parse_long,
      offsetof(twofa_admin_t, lockout), "" },
    { TWOFA_ADMIN_OPT_AUDIT_MAX_LEN, 1, 1000000000, twofa_admin_parse_long,
      offsetof(twofa_admin_t, audit_max_len), "" },
    { TWOFA_ADMIN_OPT_LIMIT, 1, TWOFA_ADMIN_LIMIT_MAX, twofa_admin_parse_long,
      offsetof(twofa_admin_t, limit), "" }
};


/*
 * Options come before COMMAND: "+" stops getopt_long at the first word
 * that is not one, so identity values after COMMAND may start with "-".
 * "--name value", "--name=value" and unambiguous abbreviations work.
 */

int
twofa_admin_options(twofa_admin_t *adm, int argc, char **argv, int *next)
{
    int  opt, rc;

    *next = argc;

    adm->addr = "127.0.0.1:6379";
    adm->prefix = "twofa:";
    adm->timeout = 2000;
    adm->lockout = 5;
    adm->audit_max_len = 100000;

    /* the messages are ours, with the usage text */
    opterr = 0;

    for ( ;; ) {
        opt = getopt_long(argc, argv, "+:h", twofa_admin_long_options, NULL);

        switch (opt) {

        case -1:
            *next = optind;
            return twofa_admin_check_options(adm);

        case 'h':
            return TWOFA_ADMIN_HELP;

        case TWOFA_ADMIN_OPT_JSON:
            adm->json = 1;
            break;

        case ':':
        case '?':
            return twofa_admin_bad_option(opt, argv,
                                          twofa_admin_long_options);

        default:
            rc = twofa_admin_option(adm, opt, optarg);
            if (rc != TWOFA_ADMIN_OK) {
                return rc;
            }
        }
    }
}


static int
twofa_admin_option(twofa_admin_t *adm, int opt, const char *value)
{
    switch (opt) {

    case TWOFA_ADMIN_OPT_REDIS:
        adm->addr = value;
        break;

    case TWOFA_ADMIN_OPT_PASSWORD_FILE:
        if (value[0] == '\0') {
            return twofa_admin_usage("--password-file needs a file name",
                                     NULL);
        }

        adm->password_file = value;
        break;

    case TWOFA_ADMIN_OPT_PREFIX:
        adm->prefix = value;
        break;

    default: /* --db, --timeout, --lockout, --audit-max-len */
        return twofa_admin_number(adm, twofa_admin_long_options, opt, value);
    }

    return TWOFA_ADMIN_OK;
}


/* one of twofa_admin_numbers, read into its place, or the usage message */

static int
twofa_admin_number(twofa_admin_t *adm, const struct option *options,
    int opt, const char *value)
{
    char                         fmt[128];
    const twofa_admin_number_t  *n;

    for (n = twofa_admin_numbers; n->opt != opt; n++) {
        /* void: every option that reaches here has an entry */
    }

    if (n->parse(value, n->min, n->max,
                 (long *) ((char *) adm + n->offset))
        == 0)
    {
        return TWOFA_ADMIN_OK;
    }

    /* the value goes in through %s: it may hold a "%" */

    snprintf(fmt, sizeof(fmt), "invalid %s \"%%s\": %ld to %ld%s",
             twofa_admin_option_name(options, opt), n->min, n->max, n->unit);

    return twofa_admin_usage(fmt, value);
}


/*
 * What getopt_long refused, in our words.  ':' is a missing value; '?'
 * with optopt 0 an unknown or ambiguous long option (argv[optind - 1]),
 * with one of ours a value given to an option that takes none, and with
 * any other character an unknown short option.
 */

static int
twofa_admin_bad_option(int ret, char **argv, const struct option *options)
{
    char         flag[3];
    const char  *name;

    name = twofa_admin_option_name(options, optopt);

    if (ret == ':') {
        return twofa_admin_usage("option \"%s\" needs a value",
                                 name ? name : argv[optind - 1]);
    }

    if (optopt == 0) {
        return twofa_admin_usage("unknown or ambiguous option \"%s\"",
                                 argv[optind - 1]);
    }

    if (name) {
        return twofa_admin_usage("option \"%s\" takes no value", name);
    }

    flag[0] = '-';
    flag[1] = (char) optopt;
    flag[2] = '\0';

    return twofa_admin_usage("unknown option \"%s\"", flag);
}


/* "--db" for its getopt_long value in options, or NULL */

static const char *
twofa_admin_option_name(const struct option *options, int opt)
{
    const struct option  *o;

    static char  name[32];

    for (o = options; o->name; o++) {
        if (o->val == opt) {
            snprintf(name, sizeof(name), "--%s", o->name);
            return name;
        }
    }

    return NULL;
}


/* what is checked once all options are known */

static int
twofa_admin_check_options(twofa_admin_t *adm)
{
    size_t  i;

    if (strncmp(adm->addr, "sentinel=", 9) == 0) {
        if (twofa_admin_parse_sentinel(adm, adm->addr) != 0) {
            return twofa_admin_usage("invalid --redis \"%s\": "
                                     "\"sentinel=HOST:PORT[,HOST:PORT...] "
                                     "service=NAME "
                                     "[sentinel_password_file=FILE]\"",
                                     adm->addr);
        }

    } else if (strncmp(adm->addr, "cluster=", 8) == 0) {
        if (twofa_admin_cluster_parse(adm, adm->addr) != 0) {
            return twofa_admin_usage("invalid --redis \"%s\": "
                                     "\"cluster=HOST:PORT[,HOST:PORT...]\"",
                                     adm->addr);
        }

        if (adm->db || strpbrk(adm->prefix, "{}")) {
            return twofa_admin_usage("--redis \"%s\" takes no --db, and "
                                     "no brace in --prefix", "cluster=...");
        }

    } else if (twofa_admin_parse_addr(adm, adm->addr) != 0) {
        return twofa_admin_usage("invalid --redis \"%s\": host:port, "
                                 "[ipv6]:port, unix:/path, "
                                 "\"sentinel=... service=...\" or "
                                 "\"cluster=...\"", adm->addr);
    }

    /* the module's rule for prefix=, so both name the same keys */

    adm->prefix_len = strlen(adm->prefix);

    for (i = 0; i < adm->prefix_len; i++) {
        if ((unsigned char) adm->prefix[i] <= ' '
            || (unsigned char) adm->prefix[i] >= 0x7f)
        {
            break;
        }
    }

    if (adm->prefix_len == 0 || adm->prefix_len > TWOFA_ADMIN_PREFIX_MAX
        || i != adm->prefix_len)
    {
        return twofa_admin_usage("invalid --prefix \"%s\": 1 to 64 "
                                 "printable characters, no spaces",
                                 adm->prefix);
    }

    return TWOFA_ADMIN_OK;
}


/* COMMAND and its values, checked as the module checks them */

int
twofa_admin_command_line(twofa_admin_t *adm,
    const twofa_admin_command_t *commands, int argc, char **argv)
{
    const twofa_admin_command_t  *cmd;

    cmd = twofa_admin_find_command(commands, argc, argv);
    if (cmd == NULL) {
        return TWOFA_ADMIN_EUSAGE;
    }

    adm->cmd = cmd;

    if (cmd->takes == TWOFA_ADMIN_TAKES_OPTIONS) {
        return twofa_admin_audit_options(adm, argc, argv);
    }

    if (argc != cmd->words) {
        if (argc > cmd->words && argv[cmd->words][0] == '-') {
            return twofa_admin_usage("too many arguments for \"%s\" "
                                     "(options go before the command)",
                                     cmd->name);
        }

        return twofa_admin_usage(argc > cmd->words
                                 ? "too many arguments for \"%s\""
                                 : "too few arguments for \"%s\"",
                                 cmd->name);
    }

    if (cmd->takes == TWOFA_ADMIN_TAKES_NOTHING) {
        return TWOFA_ADMIN_OK;
    }

    if (twofa_admin_set_org(adm, argv[2]) != 0) {
        return TWOFA_ADMIN_EUSAGE;
    }

    if (cmd->takes == TWOFA_ADMIN_TAKES_ORG_ON_OFF) {
        if (strcmp(argv[3], "on") == 0) {
            adm->require = 1;

        } else if (strcmp(argv[3], "off") != 0) {
            return twofa_admin_usage("\"org require\" takes on or off, "
                                     "not \"%s\"", argv[3]);
        }

    } else if (cmd->takes == TWOFA_ADMIN_TAKES_ORG_USER) {
        if (twofa_admin_set_user(adm, argv[3]) != 0) {
            return TWOFA_ADMIN_EUSAGE;
        }
    }

    return TWOFA_ADMIN_OK;
}


/*
 * audit's options, after the word: getopt_long again, on what follows
 * the global options ("audit" in argv[0] stands for the program's name).
 * optind 0 starts getopt_long afresh (glibc, musl), "+" included, which
 * stops it at the first word that is no option; audit takes none.
 */

static int
twofa_admin_audit_options(twofa_admin_t *adm, int argc, char **argv)
{
    int  opt, rc;

    adm->since = -1;
    adm->limit = TWOFA_ADMIN_LIMIT;

    optind = 0;

    for ( ;; ) {
        opt = getopt_long(argc, argv, "+:", twofa_admin_audit_long_options,
                          NULL);

        switch (opt) {

        case -1:
            if (optind < argc) {
                return twofa_admin_usage("unexpected argument \"%s\" for "
                                         "\"audit\" (see --org and "
                                         "--user)", argv[optind]);
            }

            return TWOFA_ADMIN_OK;

        case TWOFA_ADMIN_OPT_ORG:
            if (twofa_admin_set_org(adm, optarg) != 0) {
                return TWOFA_ADMIN_EUSAGE;
            }

            break;

        case TWOFA_ADMIN_OPT_USER:
            if (twofa_admin_set_user(adm, optarg) != 0) {
                return TWOFA_ADMIN_EUSAGE;
            }

            break;

        case TWOFA_ADMIN_OPT_SINCE:
            if (twofa_admin_parse_since(optarg, &adm->since) != 0) {
                return twofa_admin_usage("invalid --since \"%s\": unix "
                                         "seconds or ISO 8601 UTC "
                                         "(2026-11-27T22:33:39Z)", optarg);
            }

            break;

        case TWOFA_ADMIN_OPT_LIMIT:
            rc = twofa_admin_number(adm, twofa_admin_audit_long_options, opt,
                                    optarg);
            if (rc != TWOFA_ADMIN_OK) {
                return rc;
            }

            break;

        case TWOFA_ADMIN_OPT_FOLLOW:
            adm->follow = 1;
            break;

        default: /* ':' or '?' */
            if (opt == '?' && optopt == 0
                && twofa_admin_is_global(argv[optind - 1]))
            {
                return twofa_admin_usage("option \"%s\" goes before the "
                                         "command", argv[optind - 1]);
            }

            return twofa_admin_bad_option(opt, argv,
                                          twofa_admin_audit_long_options);
        }
    }
}


/* "--json", "--db=3": one of the options that go before COMMAND */

static int
twofa_admin_is_global(const char *arg)
{
    size_t                len;
    const struct option  *o;

    if (strncmp(arg, "--", 2) != 0) {
        return 0;
    }

    arg += 2;
    len = strcspn(arg, "=");

    for (o = twofa_admin_long_options; o->name; o++) {
        if (strlen(o->name) == len && strncmp(arg, o->name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the command the first words name, or NULL after a usage message */

static const twofa_admin_command_t *
twofa_admin_find_command(const twofa_admin_command_t *commands, int argc,
    char **argv)
{
    int                           known;
    const twofa_admin_command_t  *cmd;

    if (argc == 0) {
        twofa_admin_usage("no command given", NULL);
        return NULL;
    }

    known = 0;

    for (cmd = commands; cmd->name; cmd++) {
        if (strcmp(argv[0], cmd->obj) != 0) {
            continue;
        }

        if (cmd->verb == NULL
            || (argc > 1 && strcmp(argv[1], cmd->verb) == 0))
        {
            return cmd;
        }

        known = 1;
    }

    if (known && argc == 1) {
        twofa_admin_usage("\"%s\" needs a subcommand", argv[0]);

    } else {
        twofa_admin_usage("unknown command \"%s\"", known ? argv[1]
                                                          : argv[0]);
    }

    return NULL;
}


/* host:port, host (port 6379), [ipv6]:port, [ipv6], or unix:/path */

static int
twofa_admin_parse_addr(twofa_admin_t *adm, const char *addr)
{
    size_t  len;

    if (strncmp(addr, "unix:", 5) == 0) {
        len = strlen(addr + 5);

        if (addr[5] != '/' || len >= TWOFA_ADMIN_UNIX_MAX) {
            return -1;
        }

        memcpy(adm->unix_path, addr + 5, len + 1);
        return 0;
    }

    return twofa_admin_parse_hostport(addr, 6379, adm->host, &adm->port);
}


/*
 * host:port, host, [ipv6]:port or [ipv6]; port is dflt when not given.
 * host has room for TWOFA_ADMIN_HOST_MAX bytes and a NUL.
 */

int
twofa_admin_parse_hostport(const char *addr, long dflt, char *out, int *port)
{
    long         p;
    size_t       len;
    const char  *host, *end, *colon;

    p = dflt;

    if (addr[0] == '[') {
        host = addr + 1;
        end = strchr(host, ']');

        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            return -1;
        }

        colon = end[1] == ':' ? end + 1 : NULL;

    } else {
        host = addr;
        colon = strchr(addr, ':');

        /* a bare IPv6 address has several colons and no port */

        if (colon && strchr(colon + 1, ':')) {
            colon = NULL;
        }

        end = colon ? colon : addr + strlen(addr);
    }

    if (colon
        && twofa_admin_parse_long(colon + 1, 1, 65535, &p) != 0)
    {
        return -1;
    }

    len = (size_t) (end - host);

    if (len == 0 || len > TWOFA_ADMIN_HOST_MAX) {
        return -1;
    }

    memcpy(out, host, len);
    out[len] = '\0';
    *port = (int) p;

    return 0;
}


/*
 * "sentinel=H:P[,H:P...] service=NAME [sentinel_password_file=F]", as
 * twofa_redis takes it: split in place in a copy, each address checked
 * (the port defaults to 26379, the sentinels' own).
 */

static int
twofa_admin_parse_sentinel(twofa_admin_t *adm, const char *value)
{
    char    *word, *save, *list;
    size_t   len, i;

    len = strlen(value);

    if (len >= sizeof(adm->spec)) {
        return -1;
    }

    memcpy(adm->spec, value, len + 1);

    list = NULL;

    for (word = strtok_r(adm->spec, " \t", &save);
         word;
         word = strtok_r(NULL, " \t", &save))
    {
        if (list == NULL && strncmp(word, "sentinel=", 9) == 0) {
            list = word + 9;

        } else if (adm->service == NULL && strncmp(word, "service=", 8) == 0)
        {
            adm->service = word + 8;

        } else if (adm->sentinel_password_file == NULL
                   && strncmp(word, "sentinel_password_file=", 23) == 0
                   && word[23] != '\0')
        {
            adm->sentinel_password_file = word + 23;

        } else {
            return -1;
        }
    }

    if (list == NULL || adm->service == NULL) {
        return -1;
    }

    /* the module's rule for service=: it goes into a command */

    len = strlen(adm->service);

    if (len == 0 || len > TWOFA_ADMIN_SERVICE_MAX) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) adm->service[i] <= ' '
            || (unsigned char) adm->service[i] >= 0x7f)
        {
            return -1;
        }
    }

    return twofa_admin_parse_list(list, 26379, adm->sentinel,
                                  &adm->nsentinels);
}


/*
 * "H:P[,H:P...]" of sentinel= and cluster=, split in place at its commas
 * into out (room for TWOFA_ADMIN_SENTINELS) from *n on, each address
 * checked: a host, its port dflt when not given; never a unix socket,
 * which the module takes in neither.
 */

int
twofa_admin_parse_list(char *list, long dflt, char **out, int *n)
{
    int    port;
    char  *p, *comma;
    char   host[TWOFA_ADMIN_HOST_MAX + 1];

    for (p = list; ; p = comma + 1) {
        comma = strchr(p, ',');

        if (comma) {
            *comma = '\0';
        }

        if (*n == TWOFA_ADMIN_SENTINELS
            || strncmp(p, "unix:", 5) == 0
            || twofa_admin_parse_hostport(p, dflt, host, &port) != 0)
        {
            return -1;
        }

        out[(*n)++] = p;

        if (comma == NULL) {
            break;
        }
    }

    return 0;
}


/* A plain decimal in [min, max]: no sign, no spaces, no suffix. */

int
twofa_admin_parse_long(const char *s, long min, long max, long *out)
{
    long  v;

    if (*s == '\0') {
        return -1;
    }

    for (v = 0; *s; s++) {
        if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10) {
            return -1;
        }

        v = v * 10 + (*s - '0');
    }

    if (v < min) {
        return -1;
    }

    *out = v;

    return 0;
}


/*
 * "500", "500ms" or "2s", so a value copied from nginx.conf works too;
 * min and max are in ms: in seconds, min rounds up and max down.
 */

static int
twofa_admin_parse_timeout(const char *s, long min, long max, long *out)
{
    char    digits[16];
    long    mult, v;
    size_t  len, n;

    len = strlen(s);
    mult = 1;
    n = len;

    if (len > 2 && strcmp(s + len - 2, "ms") == 0) {
        n = len - 2;

    } else if (len > 1 && s[len - 1] == 's') {
        n = len - 1;
        mult = 1000;
    }

    if (n == 0 || n >= sizeof(digits)) {
        return -1;
    }

    memcpy(digits, s, n);
    digits[n] = '\0';

    if (twofa_admin_parse_long(digits, (min + mult - 1) / mult, max / mult,
                               &v)
        != 0)
    {
        return -1;
    }

    *out = v * mult;

    return 0;
}


/*
 * --since: unix seconds, or ISO 8601 UTC to the second
 * (2026-11-27T22:33:39Z), from 1970 to 9999.
 */

static int
twofa_admin_parse_since(const char *s, int64_t *out)
{
    int      y, mo, d, h, mi, sec, mdays;
    size_t   i, len;
    int64_t  v, days;

    static const int  month_days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    len = strlen(s);

    if (len > 0 && strspn(s, "0123456789") == len) {
        if (len > 12) {
            return -1;
        }

        for (v = 0, i = 0; i < len; i++) {
            v = v * 10 + (s[i] - '0');
        }

        if (v > TWOFA_ADMIN_SINCE_MAX) {
            return -1;
        }

        *out = v;
        return 0;
    }

    if (len != sizeof("2026-11-27T22:33:39Z") - 1
        || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':'
        || s[16] != ':' || s[19] != 'Z')
    {
        return -1;
    }

    y = twofa_admin_digits(s, 4);
    mo = twofa_admin_digits(s + 5, 2);
    d = twofa_admin_digits(s + 8, 2);
    h = twofa_admin_digits(s + 11, 2);
    mi = twofa_admin_digits(s + 14, 2);
    sec = twofa_admin_digits(s + 17, 2);

    if (y < 1970 || mo < 1 || mo > 12 || h < 0 || h > 23 || mi < 0
        || mi > 59 || sec < 0 || sec > 59)
    {
        return -1;
    }

    mdays = month_days[mo - 1];

    if (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) {
        mdays = 29;
    }

    if (d < 1 || d > mdays) {
        return -1;
    }

    /* days since 1970-01-01: March-based years put February last */

    if (mo <= 2) {
        y--;
    }

    days = (int64_t) y * 365 + y / 4 - y / 100 + y / 400
           + (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1
           - 719468;

    *out = ((days * 24 + h) * 60 + mi) * 60 + sec;

    return 0;
}


/* n decimal digits as a number, or -1 */

static int
twofa_admin_digits(const char *s, size_t n)
{
    int     v;
    size_t  i;

    for (v = 0, i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (s[i] - '0');
    }

    return v;
}


/* ORG or USER, after the command or after --org or --user */

static int
twofa_admin_set_org(twofa_admin_t *adm, const char *value)
{
    return twofa_admin_check_ident("org", value, adm->org_buf, &adm->org);
}


static int
twofa_admin_set_user(twofa_admin_t *adm, const char *value)
{
    return twofa_admin_check_ident("user", value, adm->user_buf, &adm->user);
}


/*
 * value into *out, in the spelling the module keeps (NFKC, white space
 * at the ends removed, as twofa_ident_canonical() without case folding:
 * a terminal that gives "e" and a combining accent names the user whose
 * login gave "\u00e9"), in buf of TWOFA_ID_MAX + 1; or a message and -1.
 */

static int
twofa_admin_check_ident(const char *what, const char *value, char *buf,
    const char **out)
{
    size_t                len;
    twofa_ident_status_t  st;

    st = twofa_ident_canonical(value, strlen(value), 0, buf,
                               TWOFA_ID_MAX + 1, &len);

    if (st == TWOFA_IDENT_OK && twofa_ident_valid(buf, len)) {
        *out = buf;
        return 0;
    }

    if (st == TWOFA_IDENT_NO_MEMORY) {
        fprintf(stderr, "twofa-admin: out of memory\n");
        return -1;
    }

    fprintf(stderr, "twofa-admin: invalid %s ", what);
    twofa_admin_print_value(stderr, value);
    fprintf(stderr, ": not an identity the module accepts (1 to %d "
            "bytes of UTF-8 without control characters)\n", TWOFA_ID_MAX);

    return -1;
}


/* A rejected value, quoted, escaped and cut short: it may be anything. */

static void
twofa_admin_print_value(FILE *f, const char *s)
{
    size_t         i;
    unsigned char  c;

    fputc('"', f);

    for (i = 0; s[i] && i < 64; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            fprintf(f, "\\x%02x", c);

        } else {
            fputc(c, f);
        }
    }

    fputs(s[i] ? "\"..." : "\"", f);
}
