/*
 * The output: "key: value" lines, or one JSON object built with jansson;
 * the audit line every change prints, naming who made it; and the audit
 * trail's entries, one line or one JSON object each.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "twofa_admin.h"


#define TWOFA_ADMIN_TIME_LEN     sizeof("2026-11-27T22:33:39Z")
#define TWOFA_ADMIN_AUDIT_MAX    2048


static void twofa_admin_time(int64_t t, char *buf);
static void twofa_admin_out_json(twofa_admin_t *adm, const char *key,
    json_t *value);
static int twofa_admin_name_char(unsigned char c);
static void twofa_admin_put_clean(const char *s, size_t len, int spaces);
static json_t *twofa_admin_json_bytes(const redisReply *r, int empty_null);


/*
 * Who runs the tool: $SUDO_USER, else $USER, or NULL.  The name comes
 * from the environment, so it is used only when it is a plain login
 * name (ASCII letters, digits and . _ - @ +): nothing can forge a second
 * field or line with it.
 */

const char *
twofa_admin_who(void)
{
    int          i;
    size_t       j, len;
    const char  *env[2];

    env[0] = getenv("SUDO_USER");
    env[1] = getenv("USER");

    for (i = 0; i < 2; i++) {
        if (env[i] == NULL) {
            continue;
        }

        len = strlen(env[i]);

        for (j = 0; j < len; j++) {
            if (!twofa_admin_name_char((unsigned char) env[i][j])) {
                break;
            }
        }

        if (len > 0 && len <= TWOFA_ID_MAX && j == len) {
            return env[i];
        }
    }

    return NULL;
}


static int
twofa_admin_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
           || c == '@' || c == '+';
}


/*
 * A value for a "key=value" text line: as twofa_ident_log_escape()
 * makes it (UTF-8 kept; '"', '\\', controls and bytes that are not
 * UTF-8 as \xHH), and the space as \x20 unless spaces are allowed, so
 * that no value can forge another field.  A value valid before
 * identities were UTF-8 comes out as it is.  malloc'd, NUL-terminated;
 * NULL when out of memory.
 */

char *
twofa_admin_escape(const char *s, size_t len, int spaces)
{
    char    *esc, *out, *p;
    size_t   i, n, extra;

    n = twofa_ident_log_escaped_len(s, len);

    esc = malloc(n + 1);
    if (esc == NULL) {
        return NULL;
    }

    twofa_ident_log_escape(s, len, esc);

    extra = 0;

    for (i = 0; i < n && !spaces; i++) {
        if (esc[i] == ' ') {
            extra += 3;
        }
    }

    out = malloc(n + extra + 1);
    if (out == NULL) {
        free(esc);
        return NULL;
    }

    p = out;

    for (i = 0; i < n; i++) {
        if (esc[i] == ' ' && !spaces) {
            memcpy(p, "\\x20", 4);
            p += 4;
            continue;
        }

        *p++ = esc[i];
    }

    *p = '\0';
    free(esc);

    return out;
}


/* "audit: {time} {what} org={org} [user={user}] by={who or uid:N}" */

void
twofa_admin_audit(twofa_admin_t *adm, time_t now, const char *what)
{
    char         line[TWOFA_ADMIN_AUDIT_MAX], t[TWOFA_ADMIN_TIME_LEN];
    char         uid[TWOFA_ADMIN_INT_LEN + 4];
    char        *org, *user;
    const char  *who;

    who = twofa_admin_who();

    if (who == NULL) {
        snprintf(uid, sizeof(uid), "uid:%lu", (unsigned long) getuid());
        who = uid;
    }

    twofa_admin_time((int64_t) now, t);

    org = adm->org ? twofa_admin_escape(adm->org, strlen(adm->org), 0)
                   : NULL;
    user = adm->user ? twofa_admin_escape(adm->user, strlen(adm->user), 0)
                     : NULL;

    if ((adm->org && org == NULL) || (adm->user && user == NULL)) {
        /* the change was made: say so, without the names */
        snprintf(line, sizeof(line), "%s %s by=%s", t, what, who);

    } else {
        /* line is long enough for two escaped identities of 128 bytes */
        snprintf(line, sizeof(line), "%s %s%s%s%s%s by=%s", t, what,
                 org ? " org=" : "", org ? org : "",
                 user ? " user=" : "", user ? user : "", who);
    }

    free(org);
    free(user);

    twofa_admin_out_str(adm, "audit", line);
}


/* ISO-8601 UTC, or "" for none (0 or a time gmtime cannot express) */

static void
twofa_admin_time(int64_t t, char *buf)
{
    time_t     tt;
    struct tm  tm;

    buf[0] = '\0';

    if (t <= 0) {
        return;
    }

    tt = (time_t) t;

    if (gmtime_r(&tt, &tm) == NULL
        || strftime(buf, TWOFA_ADMIN_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm)
           == 0)
    {
        buf[0] = '\0';
    }
}


/*
 * Output: "key: value" lines, or with --json one object with the same
 * keys in the same order; on/off and yes/no become true/false, counts
 * numbers, times ISO-8601 strings, and a missing value "-" or null.  The
 * lines go out as they come; the object is built with jansson and
 * written whole by twofa_admin_out_end().
 */

void
twofa_admin_out_begin(twofa_admin_t *adm)
{
    if (adm->json) {
        adm->out = json_object();
        adm->out_failed = (adm->out == NULL);
    }
}


/* One member; value may be NULL (it could not be made): an error later. */

static void
twofa_admin_out_json(twofa_admin_t *adm, const char *key, json_t *value)
{
    if (adm->out == NULL) {
        json_decref(value);
        adm->out_failed = 1;
        return;
    }

    /* it releases value when it fails */

    if (json_object_set_new(adm->out, key, value) != 0) {
        adm->out_failed = 1;
    }
}


void
twofa_admin_out_str(twofa_admin_t *adm, const char *key, const char *value)
{
    if (adm->json) {
        twofa_admin_out_json(adm, key, value ? json_string(value)
                                             : json_null());

    } else {
        printf("%s: %s\n", key, value ? value : "-");
    }
}


void
twofa_admin_out_flag(twofa_admin_t *adm, const char *key, int value,
    const char *yes, const char *no)
{
    if (adm->json) {
        twofa_admin_out_json(adm, key, json_boolean(value));

    } else {
        printf("%s: %s\n", key, value ? yes : no);
    }
}


void
twofa_admin_out_int(twofa_admin_t *adm, const char *key, long long value)
{
    if (adm->json) {
        twofa_admin_out_json(adm, key, json_integer((json_int_t) value));

    } else {
        printf("%s: %lld\n", key, value);
    }
}


void
twofa_admin_out_time(twofa_admin_t *adm, const char *key, int64_t t)
{
    char  buf[TWOFA_ADMIN_TIME_LEN];

    twofa_admin_time(t, buf);

    twofa_admin_out_str(adm, key, buf[0] ? buf : NULL);
}


/* A change that cannot be reported is reported as an error. */

int
twofa_admin_out_end(twofa_admin_t *adm)
{
    int  rc;

    rc = TWOFA_ADMIN_OK;

    if (adm->json) {
        if (adm->out_failed) {
            fprintf(stderr, "twofa-admin: cannot build the JSON output: "
                    "out of memory\n");
            rc = TWOFA_ADMIN_EREDIS;

        } else if (json_dumpf(adm->out, stdout,
                              JSON_COMPACT | JSON_PRESERVE_ORDER) != 0
                   || fputc('\n', stdout) == EOF)
        {
            rc = TWOFA_ADMIN_EREDIS;
        }

        json_decref(adm->out);
        adm->out = NULL;
    }

    if (fflush(stdout) != 0 || ferror(stdout)) {
        rc = TWOFA_ADMIN_EREDIS;
    }

    if (rc != TWOFA_ADMIN_OK && !adm->out_failed) {
        fprintf(stderr, "twofa-admin: cannot write the output: %s\n",
                strerror(errno));
    }

    return rc;
}


/* --- the audit trail's entries ---------------------------------------- */


/*
 * One entry, audit_read.lua's row of eight strings: id, time, event, org,
 * user, actor, client, edge.  One line, "TIME EVENT [org=ORG] [user=USER]
 * actor=ACTOR client=CLIENT edge=EDGE id=ID", or with --json one object
 * on one line (JSON Lines), the org and user null when empty.  Every
 * value comes from Redis and may hold any byte: a line never holds a
 * control character, and a value (but the event) no space, so no value
 * can make a line of its own; the JSON is ASCII, jansson escaping.
 */

int
twofa_admin_out_entry(twofa_admin_t *adm, redisReply **e)
{
    int       rc, i;
    char      t[TWOFA_ADMIN_TIME_LEN], *text, *p;
    json_t   *obj, *v;
    int64_t   when;

    static const char  *keys[8] = {
        "id", "time", "event", "org", "user", "actor", "client", "edge"
    };

    if (twofa_admin_parse_int64(e[1]->str, e[1]->len, &when) != 0) {
        when = 0;
    }

    twofa_admin_time(when, t);

    if (!adm->json) {
        fputs(t[0] ? t : "-", stdout);
        fputc(' ', stdout);

        /* an event may have spaces: "require on" */

        if (e[2]->len) {
            twofa_admin_put_clean(e[2]->str, e[2]->len, 1);

        } else {
            fputc('-', stdout);
        }

        for (i = 3; i < 8; i++) {
            /* an entry with no org (init) or no user leaves it out */

            if (e[i]->len == 0 && i <= 4) {
                continue;
            }

            printf(" %s=", keys[i]);
            twofa_admin_put_clean(e[i]->str, e[i]->len, 0);
        }

        fputs(" id=", stdout);
        twofa_admin_put_clean(e[0]->str, e[0]->len, 0);
        fputc('\n', stdout);

        return TWOFA_ADMIN_OK;
    }

    obj = json_object();
    rc = (obj == NULL);

    for (i = 0; i < 8 && rc == 0; i++) {
        if (i == 1) {
            v = t[0] ? json_string(t) : json_null();

        } else {
            v = twofa_admin_json_bytes(e[i], i == 3 || i == 4);
        }

        /* it releases v when it fails, and fails with a NULL v */

        rc = json_object_set_new(obj, keys[i], v);
    }

    if (rc != 0) {
        json_decref(obj);
        fprintf(stderr, "twofa-admin: cannot build the JSON output: out of "
                "memory\n");
        return TWOFA_ADMIN_EREDIS;
    }

    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER
                           | JSON_ENSURE_ASCII);

    json_decref(obj);

    if (text == NULL) {
        fprintf(stderr, "twofa-admin: cannot build the JSON output: out of "
                "memory\n");
        return TWOFA_ADMIN_EREDIS;
    }

    /* ASCII now, but DEL, which JSON strings may hold as it is */

    for (p = text; *p; p++) {
        if (*p == 0x7f) {
            fputs("\\u007f", stdout);

        } else {
            fputc(*p, stdout);
        }
    }

    free(text);

    fputc('\n', stdout);

    return TWOFA_ADMIN_OK;
}


/* what was printed, out now: an entry followed is seen as it comes */

int
twofa_admin_out_flush(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "twofa-admin: cannot write the output: %s\n",
                strerror(errno));
        return TWOFA_ADMIN_EREDIS;
    }

    return TWOFA_ADMIN_OK;
}


/*
 * A value as twofa_admin_escape() makes it (UTF-8 identities readable),
 * or '?' for each byte when memory is short.
 */

static void
twofa_admin_put_clean(const char *s, size_t len, int spaces)
{
    char    *esc;
    size_t   i;

    esc = twofa_admin_escape(s, len, spaces);

    if (esc) {
        fputs(esc, stdout);
        free(esc);
        return;
    }

    for (i = 0; i < len; i++) {
        fputc('?', stdout);
    }
}


/*
 * A string reply as a JSON string: as is when it is UTF-8 (jansson
 * escapes the rest), else with '?' for each non-ASCII byte; null for an
 * empty one when asked.  NULL when out of memory.
 */

static json_t *
twofa_admin_json_bytes(const redisReply *r, int empty_null)
{
    char    *copy;
    size_t   i;
    json_t  *v;

    if (r->len == 0 && empty_null) {
        return json_null();
    }

    v = json_stringn(r->str, r->len);
    if (v) {
        return v;
    }

    copy = malloc(r->len);
    if (copy == NULL) {
        return NULL;
    }

    for (i = 0; i < r->len; i++) {
        copy[i] = (unsigned char) r->str[i] < 0x80 ? r->str[i] : '?';
    }

    v = json_stringn(copy, r->len);

    free(copy);

    return v;
}
