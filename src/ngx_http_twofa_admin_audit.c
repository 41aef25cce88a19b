/*
 * twofa-edge: GET {admin}/audit without org= with a Redis Cluster, where
 * the trail is one stream per slot ({prefix}{TAG}audit): the whole trail,
 * merged.  All on the event loop, through the worker's cluster client,
 * each command with the command timeout:
 *
 *   1. EXISTS of every slot's stream (16384 commands, pipelined to the
 *      primaries), to find the streams there are;
 *   2. audit_read.lua on each of them, from the cursor, in parallel;
 *   3. the rows merged by (entry id, slot), oldest first.
 *
 * Entry ids are per stream (each primary's clock), so an entry is named
 * "ms-seq@slot" and the trail is ordered by (ms, seq, slot).  A cursor
 * after=ID@SLOT resumes each stream after it: a stream of a later slot
 * from ID inclusive, the others after ID.  Every stream's rows are known
 * up to the entry it looked at last (the script looks at 1000 at most);
 * the page keeps only the rows up to the first of those horizons, so
 * paging neither skips nor repeats an entry that was there.  (An entry
 * written later with an id below the cursor, a primary's clock behind
 * another's, is not seen by that paging.)  Any command failing: 503.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"
#include "twofa_keys.h"
#include "twofa_scripts.h"
#include "twofa_slot.h"


#define NGX_HTTP_TWOFA_MERGE_ARGS  9     /* EVALSHA sha 1 key from ... */
#define NGX_HTTP_TWOFA_MERGE_CALLS  10    /* of a stream, for one page */


typedef struct ngx_http_twofa_merge_s  ngx_http_twofa_merge_t;


/* one slot's EXISTS of its stream */
typedef struct {
    ngx_http_twofa_merge_t            *m;
    unsigned                           slot;
    const char                        *argv[2];
    size_t                             lens[2];
} ngx_http_twofa_merge_probe_t;


/* a stream there is: audit_read.lua, then its rows */
typedef struct {
    ngx_http_twofa_merge_t            *m;
    unsigned                           slot;
    unsigned                           loaded:1;  /* sent as EVAL */
    unsigned                           ended:1;   /* read to its end */
    ngx_uint_t                         calls;
    const char                        *argv[NGX_HTTP_TWOFA_MERGE_ARGS];
    size_t                             lens[NGX_HTTP_TWOFA_MERGE_ARGS];
    ngx_http_twofa_store_reply_t       out;       /* the last call's */
    ngx_array_t                        rows;      /* every call's rows */
    ngx_str_t                          last;      /* the last looked at */
    u_char                             from[2 * NGX_INT64_LEN + 4];
} ngx_http_twofa_merge_stream_t;


/* a row, with its place in the merged order */
typedef struct {
    ngx_http_twofa_audit_entry_t      *e;
    uint64_t                           ms;
    uint64_t                           seq;
    unsigned                           slot;
} ngx_http_twofa_merge_row_t;


struct ngx_http_twofa_merge_s {
    ngx_http_twofa_fan_t               fan;       /* first: the probes */
    ngx_http_twofa_audit_query_t      *q;
    ngx_array_t                        found;     /* of stream pointers */
    u_char                             nums[2][NGX_INT_T_LEN];
};


static ngx_int_t ngx_http_twofa_merge_probe(ngx_http_twofa_fan_t *fan,
    unsigned slot);
static void ngx_http_twofa_merge_exists(void *data, redisReply *reply);
static void ngx_http_twofa_merge_read(ngx_http_twofa_merge_t *m);
static ngx_int_t ngx_http_twofa_merge_send(
    ngx_http_twofa_merge_stream_t *s);
static void ngx_http_twofa_merge_rows(void *data, redisReply *reply);
static ngx_int_t ngx_http_twofa_merge_more(ngx_http_twofa_merge_stream_t *s);
static void ngx_http_twofa_merge_done(ngx_http_twofa_merge_t *m);
static ngx_int_t ngx_http_twofa_merge_page(ngx_http_twofa_merge_t *m,
    ngx_http_twofa_store_reply_t *out);
static ngx_int_t ngx_http_twofa_merge_name(ngx_http_request_t *r,
    ngx_http_twofa_merge_row_t *row, ngx_str_t *name);
static ngx_int_t ngx_http_twofa_merge_id(ngx_str_t *id, uint64_t *ms,
    uint64_t *seq);
static int ngx_libc_cdecl ngx_http_twofa_merge_cmp(const void *a,
    const void *b);


/*
 * NGX_OK: the handler will be called once, when every command sent has
 * its reply; NGX_ERROR: none was sent, nothing will be called.
 */

ngx_int_t
ngx_http_twofa_admin_audit_merged(ngx_http_request_t *r,
    ngx_http_twofa_audit_query_t *q, ngx_http_twofa_store_handler_pt handler)
{
    ngx_http_twofa_merge_t  *m;

    m = ngx_pcalloc(r->pool, sizeof(ngx_http_twofa_merge_t));

    if (m == NULL
        || ngx_http_twofa_fan_init(&m->fan, r, "audit",
                                   ngx_http_twofa_merge_probe, handler)
           != NGX_OK
        || ngx_array_init(&m->found, r->pool, 16, sizeof(void *)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    m->q = q;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twofa admin: audit of every slot from \"%V\" slot %ui",
                   &q->from, q->cursor_slot);

    return ngx_http_twofa_fan_start(&m->fan);
}


/* EXISTS of one slot's stream; its key stays for the read */

static ngx_int_t
ngx_http_twofa_merge_probe(ngx_http_twofa_fan_t *fan, unsigned slot)
{
    ngx_http_twofa_merge_t *m = (ngx_http_twofa_merge_t *) fan;

    ngx_str_t                      key;
    ngx_http_twofa_merge_probe_t  *s;

    s = ngx_palloc(m->fan.r->pool, sizeof(ngx_http_twofa_merge_probe_t));

    if (s == NULL
        || ngx_http_twofa_fan_key(&m->fan, slot, TWOFA_KEY_AUDIT, &key)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    s->m = m;
    s->slot = slot;
    s->argv[0] = "EXISTS";
    s->lens[0] = 6;
    s->argv[1] = (const char *) key.data;
    s->lens[1] = key.len;

    return ngx_http_twofa_fan_send(&m->fan, slot, ngx_http_twofa_merge_exists,
                                   s, 2, s->argv, s->lens);
}


static void
ngx_http_twofa_merge_exists(void *data, redisReply *reply)
{
    ngx_http_twofa_merge_probe_t *p = data;

    ngx_http_twofa_merge_t          *m;
    ngx_http_twofa_merge_stream_t  **found, *s;

    m = p->m;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_twofa_fan_failed(&m->fan, reply);

    } else if (reply->integer == 1) {
        found = ngx_array_push(&m->found);
        s = ngx_pcalloc(m->fan.r->pool, sizeof(ngx_http_twofa_merge_stream_t));

        if (found == NULL || s == NULL) {
            m->fan.failed++;

        } else {
            s->m = m;
            s->slot = p->slot;
            s->argv[1] = p->argv[1];      /* the key */
            s->lens[1] = p->lens[1];
            *found = s;
        }
    }

    if (!ngx_http_twofa_fan_replied(&m->fan)) {
        return;
    }

    if (m->fan.failed) {
        ngx_http_twofa_merge_done(m);
        return;
    }

    ngx_http_twofa_merge_read(m);
}


/* audit_read.lua on every stream found, each from the cursor */

static void
ngx_http_twofa_merge_read(ngx_http_twofa_merge_t *m)
{
    ngx_uint_t                       i;
    ngx_http_twofa_audit_query_t    *q;
    ngx_http_twofa_merge_stream_t  **found, *s;

    q = m->q;
    found = m->found.elts;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, m->fan.r->connection->log, 0,
                   "twofa admin: audit: %ui streams", m->found.nelts);

    *ngx_sprintf(m->nums[0], "%ui", q->limit) = '\0';
    *ngx_sprintf(m->nums[1], "%d", TWOFA_AUDIT_READ_MOST) = '\0';

    for (i = 0; i < m->found.nelts; i++) {
        s = found[i];

        s->argv[3] = s->argv[1];          /* the key */
        s->lens[3] = s->lens[1];
        s->argv[0] = "EVALSHA";
        s->lens[0] = 7;
        s->argv[1] = twofa_scripts[TWOFA_SCRIPT_AUDIT_READ].sha1;
        s->lens[1] = 40;
        s->argv[2] = "1";
        s->lens[2] = 1;
        s->argv[4] = (const char *) q->from.data;
        s->lens[4] = q->from.len;

        /* a later slot than the cursor's: from its id, inclusive */

        if (q->cursor && s->slot > q->cursor_slot) {
            s->argv[4]++;
            s->lens[4]--;
        }

        s->argv[5] = "";
        s->lens[5] = 0;
        s->argv[6] = q->user.len ? (const char *) q->user.data : "";
        s->lens[6] = q->user.len;
        s->argv[7] = (const char *) m->nums[0];
        s->lens[7] = ngx_strlen(m->nums[0]);
        s->argv[8] = (const char *) m->nums[1];
        s->lens[8] = ngx_strlen(m->nums[1]);

        if (ngx_http_twofa_merge_send(s) != NGX_OK) {
            m->fan.failed++;
            break;
        }

        m->fan.pending++;
    }

    if (m->fan.pending == 0) {
        ngx_http_twofa_merge_done(m);
    }
}


static ngx_int_t
ngx_http_twofa_merge_send(ngx_http_twofa_merge_stream_t *s)
{
    ngx_http_twofa_merge_t      *m;
    ngx_http_twofa_main_conf_t  *tmcf;

    m = s->m;
    tmcf = ngx_http_get_module_main_conf(m->fan.r, ngx_http_twofa_module);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, m->fan.r->connection->log, 0,
                   "twofa admin: audit: slot %ui from \"%*s\"",
                   (ngx_uint_t) s->slot, s->lens[4], s->argv[4]);

    return ngx_http_twofa_cluster_command(tmcf->cluster, s->slot,
                                          m->fan.r->pool,
                                          m->fan.r->connection->log,
                                          ngx_http_twofa_merge_rows, s,
                                          NGX_HTTP_TWOFA_MERGE_ARGS,
                                          s->argv, s->lens, 0);
}


/* one stream's rows; a node that does not know the script gets it once */

static void
ngx_http_twofa_merge_rows(void *data, redisReply *reply)
{
    ngx_http_twofa_merge_stream_t *s = data;

    ngx_http_twofa_merge_t  *m;

    m = s->m;

    if (reply && reply->type == REDIS_REPLY_ERROR && !s->loaded
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        s->loaded = 1;
        s->argv[0] = "EVAL";
        s->lens[0] = 4;
        s->argv[1] = twofa_scripts[TWOFA_SCRIPT_AUDIT_READ].text;
        s->lens[1] = twofa_scripts[TWOFA_SCRIPT_AUDIT_READ].len;

        if (ngx_http_twofa_merge_send(s) == NGX_OK) {
            return;
        }

        reply = NULL;
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_twofa_fan_failed(&m->fan, reply);

    } else if (ngx_http_twofa_store_parse_audit(m->fan.r, reply, &s->out)
               != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, m->fan.r->connection->log, 0,
                      "twofa admin: audit: unexpected reply from redis");
        m->fan.failed++;

    } else {
        switch (ngx_http_twofa_merge_more(s)) {

        case NGX_AGAIN:
            return;

        case NGX_OK:
            break;

        default:
            m->fan.failed++;
            break;
        }
    }

    if (--m->fan.pending == 0) {
        ngx_http_twofa_merge_done(m);
    }
}


/*
 * One call's rows kept; while the stream gave fewer than limit rows and
 * did not end, read on from the last entry looked at (a filter that
 * matches little), NGX_HTTP_TWOFA_MERGE_CALLS calls at most: then the
 * last looked at bounds the page (merge_page).  NGX_AGAIN: sent again.
 */

static ngx_int_t
ngx_http_twofa_merge_more(ngx_http_twofa_merge_stream_t *s)
{
    ngx_uint_t                     i;
    ngx_http_twofa_audit_entry_t  *e, *keep;

    if (s->rows.elts == NULL
        && ngx_array_init(&s->rows, s->m->fan.r->pool, 16,
                          sizeof(ngx_http_twofa_audit_entry_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    e = s->out.audit->elts;

    for (i = 0; i < s->out.audit->nelts; i++) {
        keep = ngx_array_push(&s->rows);
        if (keep == NULL) {
            return NGX_ERROR;
        }

        *keep = e[i];
    }

    if (s->out.audit_last.len == 0) {
        s->ended = 1;
        return NGX_OK;
    }

    s->last = s->out.audit_last;

    if (s->rows.nelts >= s->m->q->limit
        || ++s->calls >= NGX_HTTP_TWOFA_MERGE_CALLS
        || s->last.len + 1 > sizeof(s->from))
    {
        return NGX_OK;
    }

    s->from[0] = '(';
    ngx_memcpy(s->from + 1, s->last.data, s->last.len);
    s->argv[4] = (const char *) s->from;
    s->lens[4] = s->last.len + 1;

    return ngx_http_twofa_merge_send(s) == NGX_OK ? NGX_AGAIN : NGX_ERROR;
}


static void
ngx_http_twofa_merge_done(ngx_http_twofa_merge_t *m)
{
    ngx_http_twofa_store_reply_t  out;

    ngx_memzero(&out, sizeof(ngx_http_twofa_store_reply_t));

    out.rc = NGX_ERROR;

    if (m->fan.failed == 0) {
        out.rc = ngx_http_twofa_merge_page(m, &out);
    }

    ngx_http_twofa_fan_answer(&m->fan, &out);
}


/*
 * The rows up to the first horizon (the last entry looked at of a stream
 * not read to its end), in (id, slot) order, limit of them; next: the
 * last one given when the page is full, else the horizon, else empty
 * (null): every stream was read to its end.
 */

static ngx_int_t
ngx_http_twofa_merge_page(ngx_http_twofa_merge_t *m,
    ngx_http_twofa_store_reply_t *out)
{
    ngx_uint_t                       i, k, have;
    ngx_array_t                      rows;
    ngx_http_request_t              *r;
    ngx_http_twofa_merge_row_t       h, last, *row;
    ngx_http_twofa_audit_entry_t    *e, *give;
    ngx_http_twofa_merge_stream_t  **found, *s;

    r = m->fan.r;
    found = m->found.elts;
    have = 0;
    give = NULL;
    ngx_memzero(&h, sizeof(ngx_http_twofa_merge_row_t));

    if (ngx_array_init(&rows, r->pool, 64, sizeof(ngx_http_twofa_merge_row_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < m->found.nelts; i++) {
        s = found[i];

        /* a stream not read to its end bounds the page */

        if (!s->ended) {
            if (ngx_http_twofa_merge_id(&s->last, &last.ms, &last.seq)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            last.slot = s->slot;
            last.e = NULL;

            if (!have || ngx_http_twofa_merge_cmp(&last, &h) < 0) {
                h = last;
                have = 1;
            }
        }

        e = s->rows.elts;

        for (k = 0; k < s->rows.nelts; k++) {
            row = ngx_array_push(&rows);
            if (row == NULL
                || ngx_http_twofa_merge_id(&e[k].id, &row->ms, &row->seq)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            row->slot = s->slot;
            row->e = &e[k];
        }
    }

    ngx_qsort(rows.elts, rows.nelts, sizeof(ngx_http_twofa_merge_row_t),
              ngx_http_twofa_merge_cmp);

    out->audit = ngx_array_create(r->pool, m->q->limit,
                                  sizeof(ngx_http_twofa_audit_entry_t));
    if (out->audit == NULL) {
        return NGX_ERROR;
    }

    row = rows.elts;

    for (i = 0; i < rows.nelts && out->audit->nelts < m->q->limit; i++) {
        if (have && ngx_http_twofa_merge_cmp(&row[i], &h) > 0) {
            break;
        }

        give = ngx_array_push(out->audit);
        if (give == NULL) {
            return NGX_ERROR;
        }

        *give = *row[i].e;

        if (ngx_http_twofa_merge_name(r, &row[i], &give->id) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* the last given when the page is full, else the horizon, or null */

    if (out->audit->nelts == m->q->limit) {
        out->audit_last = give->id;
        return NGX_OK;
    }

    return have ? ngx_http_twofa_merge_name(r, &h, &out->audit_last) : NGX_OK;
}


/* an entry's name in the cluster: "ms-seq@slot" */

static ngx_int_t
ngx_http_twofa_merge_name(ngx_http_request_t *r,
    ngx_http_twofa_merge_row_t *row, ngx_str_t *name)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 2 * NGX_INT64_LEN + 8);
    if (p == NULL) {
        return NGX_ERROR;
    }

    name->data = p;
    name->len = ngx_sprintf(p, "%uL-%uL@%ui", row->ms, row->seq,
                            (ngx_uint_t) row->slot) - p;

    return NGX_OK;
}


/* "ms-seq", as audit_read.lua gives it */

static ngx_int_t
ngx_http_twofa_merge_id(ngx_str_t *id, uint64_t *ms, uint64_t *seq)
{
    u_char  *dash;
    off_t    a, b;

    dash = ngx_strlchr(id->data, id->data + id->len, '-');
    if (dash == NULL) {
        return NGX_ERROR;
    }

    a = ngx_atoof(id->data, dash - id->data);
    b = ngx_atoof(dash + 1, id->data + id->len - dash - 1);

    if (a == NGX_ERROR || b == NGX_ERROR) {
        return NGX_ERROR;
    }

    *ms = (uint64_t) a;
    *seq = (uint64_t) b;

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_twofa_merge_cmp(const void *one, const void *two)
{
    const ngx_http_twofa_merge_row_t  *a = one, *b = two;

    if (a->ms != b->ms) {
        return a->ms < b->ms ? -1 : 1;
    }

    if (a->seq != b->seq) {
        return a->seq < b->seq ? -1 : 1;
    }

    if (a->slot != b->slot) {
        return a->slot < b->slot ? -1 : 1;
    }

    return 0;
}
