/*
 * twofa-edge: the nginx layer's private header.  The files, by layer
 * (calls go down this list, never up; the pure core is include/twofa_*.h):
 *
 * the module
 *   ngx_http_twofa_module.c     tables, handler and filter registration,
 *                               per-worker state
 *   ngx_http_twofa_conf.c       configuration made, merged, checked
 *   ngx_http_twofa_directive.c  the directives' parsers
 *   ngx_http_twofa_directive_redis.c  twofa_redis: a Redis, a Sentinel
 *                               service or a Redis Cluster
 *   ngx_http_twofa_variables.c  $twofa_user, $twofa_org, $twofa_result,
 *                               $twofa_amr, $twofa_form_NAME
 * the request handlers
 *   ngx_http_twofa_login.c      a login location's phase handler: proxy,
 *                               decide, hold or pass
 *   ngx_http_twofa_gate.c       the step-up gate
 *   ngx_http_twofa_pages.c      the pages' routes and their life cycle
 *   ngx_http_twofa_admin.c      the admin JSON API: its operations and
 *                               answers
 *   ngx_http_twofa_metrics.c    the counters as a Prometheus page
 * their parts
 *   ngx_http_twofa_admin_request.c  what an admin request asks: path,
 *                               query, body
 *   ngx_http_twofa_capture.c    the login's filters (capture, guard)
 *   ngx_http_twofa_identity.c   who logs in, the password's verdict,
 *                               $twofa_form_*, the app's session cookies
 *   ngx_http_twofa_bind.c       the app's session bound to the module's
 *   ngx_http_twofa_hold.c       held responses sealed, opened, sent
 *   ngx_http_twofa_flows.c      the pages' steps: enroll, verify, ...
 *   ngx_http_twofa_views.c      the pages' answers, HTML or JSON
 *   ngx_http_twofa_codes.c      codes checked, secrets sealed, CSRF
 *   ngx_http_twofa_templates.c  templates loaded and rendered
 *   ngx_http_twofa_session.c    the session and hold cookies
 *   ngx_http_twofa_store.c      typed operations over Redis (lua/)
 *   ngx_http_twofa_store_send.c  their scripts sent (EVALSHA, NOSCRIPT,
 *                               WAIT, the cluster's slot)
 *   ngx_http_twofa_store_reply.c  their replies into outcomes
 *   ngx_http_twofa_revoke.c     revoked sessions, per worker
 * the shared low level
 *   ngx_http_twofa_http.c       ctx, headers, cookies, bodies, responses
 *   ngx_http_twofa_sentinel.c   the primary found through Redis Sentinel,
 *                               found again after a failover
 *   ngx_http_twofa_cluster.c    Redis Cluster: the slot map, a connection
 *                               per primary, MOVED, ASK, TRYAGAIN
 *   ngx_http_twofa_discovery.c  what both ask their nodes in turn, with
 *                               backoff; the addresses named checked
 *   ngx_http_twofa_redis.c      commands on a Redis connection: timers,
 *                               WAIT after replay guards
 *   ngx_http_twofa_redis_conn.c  a Redis connection's life: connect,
 *                               setup, ROLE, backoff, stall check
 *   ngx_http_twofa_redis_event.c  hiredis's event hooks on nginx's
 *                               (private header: ngx_http_twofa_redis.h)
 *   ngx_http_twofa_counters.c   the counters, in shared memory
 *   ngx_http_twofa_file.c       files read at configuration time
 */

#ifndef NGX_HTTP_TWOFA_H
#define NGX_HTTP_TWOFA_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "twofa_keys.h"
#include "twofa_seal.h"
#include "twofa_cookie.h"
#include "twofa_totp.h"
#include "twofa_tpl.h"


#define NGX_HTTP_TWOFA_REDIS_ERROR_CLOSED  0
#define NGX_HTTP_TWOFA_REDIS_ERROR_OPEN    1

#define NGX_HTTP_TWOFA_CASE_LOWER          1    /* twofa_user case= */
#define NGX_HTTP_TWOFA_CASE_KEEP           2

#define NGX_HTTP_TWOFA_HOLD_COOKIE         "twofa_hold"
#define NGX_HTTP_TWOFA_HOLD_TOKEN_SIZE     24    /* random bytes */
#define NGX_HTTP_TWOFA_HOLD_TOKEN_LEN      32    /* their base64url */

#define NGX_HTTP_TWOFA_SECRET_SIZE         20    /* 160-bit TOTP keys */
#define NGX_HTTP_TWOFA_FORM_MAX            4096  /* bytes of a page POST */
#define NGX_HTTP_TWOFA_ADMIN_BODY_MAX      4096
#define NGX_HTTP_TWOFA_JSON_MAX            4096  /* our JSON documents */

#define NGX_HTTP_TWOFA_DEFAULT_ORG         "default"

/*
 * Live holds a user may have: a new login drops the oldest, so one
 * password cannot fill Redis with held logins.
 */
#define NGX_HTTP_TWOFA_HOLDS_PER_USER      5

#define ngx_http_twofa_isalnum(c)                                            \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z')                \
     || ((c) >= 'A' && (c) <= 'Z'))


/* What happened to a request, for $twofa_result and the logs. */
typedef enum {
    NGX_HTTP_TWOFA_RESULT_NONE = 0,
    NGX_HTTP_TWOFA_RESULT_PASSED,      /* login needed no second factor */
    NGX_HTTP_TWOFA_RESULT_HELD,        /* login held for a code */
    NGX_HTTP_TWOFA_RESULT_ENROLLED,    /* first code accepted, secret on */
    NGX_HTTP_TWOFA_RESULT_VERIFIED,    /* code accepted, login released */
    NGX_HTTP_TWOFA_RESULT_FAILED,      /* wrong or reused code */
    NGX_HTTP_TWOFA_RESULT_LOCKED,      /* too many failures */
    NGX_HTTP_TWOFA_RESULT_EXPIRED,     /* no such hold */
    NGX_HTTP_TWOFA_RESULT_DENIED,      /* gate: no fresh TOTP session */
    NGX_HTTP_TWOFA_RESULT_ERROR,       /* Redis or internal failure */
    NGX_HTTP_TWOFA_RESULT_UNSAFE,      /* the app kept its session id */
    NGX_HTTP_TWOFA_RESULT_UNBOUND      /* app cookies removed (bind) */
} ngx_http_twofa_result_e;


/*
 * Where Redis is and how to talk to it (twofa_redis).  With sentinel=,
 * host and port are empty: the primary is whatever the sentinels name,
 * and each sentinel has a conf of its own (sentinel_node set).  With
 * cluster=, likewise: the nodes are whatever the slot map names, asked of
 * the seeds (cluster, a conf each, only their addresses used).
 */
typedef struct {
    ngx_str_t                   addr;        /* as configured, for logs */
    ngx_str_t                   host;        /* numeric, NUL-terminated */
    in_port_t                   port;
    ngx_str_t                   unix_path;   /* NUL-terminated, or empty */
    ngx_uint_t                  db;
    ngx_str_t                   password;    /* from password_file */
    ngx_msec_t                  timeout;
    ngx_msec_t                  replica_wait; /* WAIT 1 this; 0: off */
    ngx_array_t                *sentinels;   /* of this type, or NULL */
    ngx_array_t                *cluster;     /* its seeds, or NULL */
    ngx_str_t                   service;     /* the sentinels' name */
    ngx_str_t                   sentinel_password;
    unsigned                    sentinel_node:1; /* a sentinel's conf */
} ngx_http_twofa_redis_conf_t;


typedef struct ngx_http_twofa_redis_s  ngx_http_twofa_redis_t;
typedef struct ngx_http_twofa_sentinel_s  ngx_http_twofa_sentinel_t;
typedef struct ngx_http_twofa_cluster_s  ngx_http_twofa_cluster_t;
typedef struct ngx_http_twofa_revocations_s  ngx_http_twofa_revocations_t;


/*
 * Session cookies this worker verified already: a keep-alive client sends
 * the same cookie with every request, and the gate would check its MAC
 * each time.  Direct-mapped; an entry is the exact cookie and what it
 * said, compared in constant time; expiry is checked on every use.
 */

#define NGX_HTTP_TWOFA_SESSION_CACHE  256   /* entries, a power of two */

typedef struct {
    uint32_t                    hash;
    size_t                      len;        /* 0: empty */
    u_char                      cookie[TWOFA_COOKIE_MAX];
    twofa_session_t             session;
} ngx_http_twofa_session_entry_t;


/*
 * Bindings this worker verified already (twofa_bind): the exact Cookie
 * header bytes of a bound request, for one location, and the session
 * they carried.
 */

#define NGX_HTTP_TWOFA_BIND_CACHE      256   /* entries, a power of two */
#define NGX_HTTP_TWOFA_BIND_CACHE_MAX  1024  /* longer ones: MAC each time */
#define NGX_HTTP_TWOFA_COOKIE_NAME_MAX 256   /* looked at, of a cookie name */

typedef struct {
    uint32_t                    hash;
    size_t                      len;        /* 0: empty */
    void                       *lcf;        /* the location's conf */
    twofa_session_t             session;
    u_char                      cookies[NGX_HTTP_TWOFA_BIND_CACHE_MAX];
} ngx_http_twofa_bind_entry_t;


typedef struct {
    ngx_http_twofa_redis_conf_t *redis;      /* NULL: no twofa_redis */
    ngx_str_t                   prefix;      /* of every Redis key */
    ngx_array_t                *keys;        /* twofa_key_t, first active */
    ngx_http_twofa_redis_t     *client;      /* this worker's connection */
    ngx_http_twofa_sentinel_t  *sentinel;    /* its discovery, or NULL */
    ngx_http_twofa_cluster_t   *cluster;     /* cluster=: the slot map */
    ngx_http_twofa_session_entry_t *sessions; /* this worker's cache */
    ngx_http_twofa_bind_entry_t *bindings;    /* this worker's cache */
    ngx_http_twofa_revocations_t *revocations; /* this worker's table */
    ngx_array_t                *guarded_headers; /* identity headers of
                                                  every login, lowcase */
    ngx_uint_t                  audit_max_len;   /* entries kept */
} ngx_http_twofa_main_conf_t;


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   domain;
    ngx_str_t                   path;
    time_t                      max_age;
    ngx_str_t                   samesite;
    ngx_flag_t                  secure;
} ngx_http_twofa_cookie_conf_t;


/* The page templates, compiled by the core (twofa_tpl.h). */
typedef struct {
    twofa_tpl_t                *layout;
    twofa_tpl_t                *enroll;
    twofa_tpl_t                *verify;
    twofa_tpl_t                *recovery;
    twofa_tpl_t                *settings;
    twofa_tpl_t                *message;
} ngx_http_twofa_templates_t;


typedef struct {
    ngx_str_t                   issuer;
    ngx_str_t                   pages_url;
    ngx_str_t                   login_url;
    ngx_http_twofa_cookie_conf_t cookie;
    ngx_uint_t                  skew;
    ngx_uint_t                  lockout;
    time_t                      lockout_window;
    time_t                      hold_ttl;
    ngx_uint_t                  on_redis_error;
    ngx_str_t                   bind_cookie;     /* the session's + _bind */
    ngx_str_t                   templates_dir;
    ngx_http_twofa_templates_t *templates;
} ngx_http_twofa_srv_conf_t;


typedef struct {
    ngx_flag_t                  login;
    ngx_flag_t                  pages;
    ngx_flag_t                  admin;
    ngx_flag_t                  metrics;
    ngx_flag_t                  gate;
    time_t                      gate_max_age;    /* 0: any TOTP session */
    ngx_http_complex_value_t   *user;
    ngx_uint_t                  user_case;       /* NGX_HTTP_TWOFA_CASE_* */
    ngx_uint_t                  user_lower;      /* merged: fold case */
    ngx_flag_t                  user_from_form;  /* reads $twofa_form_* */
    ngx_http_complex_value_t   *org;
    ngx_array_t                *login_success;   /* predicates, or NULL */
    ngx_array_t                *app_cookies;     /* ngx_str_t, or NULL */
    ngx_flag_t                  bind;            /* twofa_bind */
    size_t                      hold_max_size;
    ngx_flag_t                  hide_identity;
    ngx_array_t                *identity_headers; /* ngx_str_t, lowcase */
    ngx_str_t                   admin_token;
} ngx_http_twofa_loc_conf_t;


/*
 * The login response as the app sent it, captured from the subrequest
 * that proxied the login.
 */
typedef struct {
    ngx_uint_t                  status;
    ngx_str_t                   status_line;
    ngx_str_t                   content_type;
    ngx_array_t                 headers;     /* ngx_http_twofa_header_t */
    ngx_chain_t                *body;
    size_t                      body_size;
} ngx_http_twofa_response_t;


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   value;
    ngx_uint_t                  role;        /* which headers_out pointer */
} ngx_http_twofa_header_t;

#define NGX_HTTP_TWOFA_HEADER_PLAIN             0
#define NGX_HTTP_TWOFA_HEADER_LOCATION          1
#define NGX_HTTP_TWOFA_HEADER_CONTENT_ENCODING  2


/* The state of a user (and of a hold), read in one round trip. */
typedef struct {
    unsigned                    hold_verified:1; /* its owner passed */
    unsigned                    require:1;       /* the org requires 2FA */
    unsigned                    enabled:1;       /* TOTP is on */
    ngx_uint_t                  hold_attempts;
    ngx_str_t                   org;
    ngx_str_t                   user;
    ngx_str_t                   secret;          /* sealed, base64 */
    ngx_str_t                   pending;         /* of this hold/session */
    ngx_str_t                   response;        /* the hold's, sealed */
    ngx_str_t                   recovery_codes;  /* new ones, sealed */
    ngx_str_t                   amr;             /* how the hold passed */
    ngx_str_t                   recovery_kid;    /* key of the hashes */
    int64_t                     last_step;       /* -1: never */
    int64_t                     enrolled_at;
    int64_t                     updated;         /* of the org's policy */
    ngx_uint_t                  recovery_left;
    ngx_uint_t                  failures;
    ngx_msec_t                  fail_ttl;
} ngx_http_twofa_state_t;


/* What a store operation came to: one meaning each. */
typedef enum {
    NGX_HTTP_TWOFA_DONE = 0,       /* what was asked (passed, for a login) */
    NGX_HTTP_TWOFA_CONFLICT,       /* the state changed meanwhile */
    NGX_HTTP_TWOFA_REPLAY,         /* the step or code was used already */
    NGX_HTTP_TWOFA_NO_HOLD,        /* the hold is gone (or not passed) */
    NGX_HTTP_TWOFA_REQUIRED,       /* the org requires 2FA */
    NGX_HTTP_TWOFA_HELD,           /* a login decision: held */
    NGX_HTTP_TWOFA_UNHOLDABLE,     /* to hold, but not holdable: refused */
    NGX_HTTP_TWOFA_NO_STATE,       /* no deployment mark: data lost */
    NGX_HTTP_TWOFA_LOCKED,         /* past the failure limit */
    NGX_HTTP_TWOFA_ALREADY_ON      /* TOTP is on already */
} ngx_http_twofa_outcome_e;


/* One entry of the audit trail, as Redis keeps it. */
typedef struct {
    ngx_str_t                   id;            /* the stream's */
    ngx_str_t                   time;          /* unix seconds */
    ngx_str_t                   event;
    ngx_str_t                   org;
    ngx_str_t                   user;
    ngx_str_t                   actor;
    ngx_str_t                   client;
    ngx_str_t                   edge;
} ngx_http_twofa_audit_entry_t;


/* What the audit trail is asked for. */
typedef struct {
    ngx_str_t                   from;          /* "-", or "(" id, id */
    ngx_str_t                   org;           /* empty: any */
    ngx_str_t                   user;          /* empty: any */
    ngx_uint_t                  limit;         /* entries at most */
    ngx_uint_t                  cursor;        /* after=ID@SLOT: a */
    ngx_uint_t                  cursor_slot;   /* cluster's merged trail */
} ngx_http_twofa_audit_query_t;


#define NGX_HTTP_TWOFA_ADMIN_SEGMENTS  5


/* The admin API's operations. */
typedef enum {
    NGX_HTTP_TWOFA_ADMIN_ORG_GET = 0,
    NGX_HTTP_TWOFA_ADMIN_ORG_PUT,
    NGX_HTTP_TWOFA_ADMIN_USER_GET,
    NGX_HTTP_TWOFA_ADMIN_USER_RESET,
    NGX_HTTP_TWOFA_ADMIN_INIT,
    NGX_HTTP_TWOFA_ADMIN_AUDIT
} ngx_http_twofa_admin_op_e;


#define NGX_HTTP_TWOFA_AUDIT_LIMIT      100     /* entries, by default */
#define NGX_HTTP_TWOFA_AUDIT_LIMIT_MAX  1000


/* What an admin request asks (ngx_http_twofa_admin_request.c). */
typedef struct {
    ngx_http_twofa_admin_op_e   op;
    const char                 *error;      /* why the route failed */
    const char                 *message;
    ngx_str_t                   org;
    ngx_str_t                   user;
    ngx_uint_t                  require;
    ngx_uint_t                  token;      /* authenticated by token */
    ngx_http_twofa_audit_query_t audit;     /* what GET audit asks */
} ngx_http_twofa_admin_t;


/*
 * Replies of the store, handed to the caller's handler.  rc: NGX_OK, an
 * answer; NGX_ERROR, no answer in time (or no connection); NGX_ABORT, an
 * error reply or one that makes no sense: only the second may ever fall
 * open (twofa_on_redis_error open).
 */
typedef struct {
    ngx_int_t                   rc;
    ngx_http_twofa_outcome_e    outcome;
    ngx_http_twofa_state_t      state;         /* the state read's */
    ngx_str_t                   data;          /* a pending secret */
    unsigned                    existed:1;     /* reset: there was state */
    unsigned                    was_enrolled:1;
    unsigned                    created:1;     /* init: marked now */
    ngx_array_t                *audit;         /* of audit entries */
    ngx_str_t                   audit_last;    /* id looked at, or empty:
                                                  the end of the trail */
} ngx_http_twofa_store_reply_t;


/* What a page asks the state read for. */
typedef struct {
    ngx_str_t                   hold;          /* token, or empty: */
    ngx_str_t                   org;           /* a signed-in user */
    ngx_str_t                   user;
    ngx_str_t                   bind;          /* their pending binding */
    ngx_uint_t                  want_response; /* the hold's response */
} ngx_http_twofa_state_query_t;

typedef void (*ngx_http_twofa_store_handler_pt)(ngx_http_request_t *r,
    ngx_http_twofa_store_reply_t *reply);


/* Per-request state of the module, on the main request. */
typedef struct {
    ngx_http_twofa_result_e     result;          /* for $twofa_result */
    ngx_str_t                   user;            /* for $twofa_user */
    ngx_str_t                   org;             /* for $twofa_org */
    ngx_str_t                   actor;           /* who acts, for the
                                                    audit: empty, the user */

    /* the login */
    ngx_uint_t                  phase;           /* where the login is */
    ngx_http_twofa_loc_conf_t  *lcf;             /* of the login location */
    ngx_http_request_t         *subrequest;      /* proxies the login */
    ngx_http_post_subrequest_t  proxied;         /* its end, told to us */
    ngx_http_twofa_response_t   response;        /* what the app answered */
    ngx_chain_t               **last_body;       /* where the next part goes */
    ngx_int_t                   subrequest_rc;   /* how it ended, for logs */
    ngx_str_t                   hold_token;      /* names the hold */
    unsigned                    captured:1;      /* headers are in */
    unsigned                    body_done:1;     /* the last part is in */
    unsigned                    too_big:1;       /* > twofa_hold_max_size */
    unsigned                    need_enroll:1;   /* held for enrollment */
    unsigned                    no_session:1;    /* pass without a cookie */
    unsigned                    own_response:1;  /* the app's, sent by us */
    unsigned                    bad_identity:1;  /* passed, but no one
                                                    usable named */
    ngx_str_t                  *unsafe_cookie;   /* not new at login */
    const char                 *unsafe_why;      /* and why */
    ngx_str_t                   session_cookie;  /* the one just set */

    /* the pages and the admin API */
    ngx_str_t                   body;            /* the POSTed form */
    size_t                      body_max;        /* the most it may be */
    void                       *page;            /* the handler's own state */

    /* the login decision, kept until the phase handler runs again */
    ngx_http_twofa_store_reply_t reply;
} ngx_http_twofa_ctx_t;


/* The pages: the routes, the placeholders of templates, one page's state */

typedef struct ngx_http_twofa_route_s  ngx_http_twofa_route_t;

typedef enum {
    NGX_HTTP_TWOFA_ROUTE_INDEX = 0,
    NGX_HTTP_TWOFA_ROUTE_ENROLL,
    NGX_HTTP_TWOFA_ROUTE_CONTINUE,
    NGX_HTTP_TWOFA_ROUTE_VERIFY,
    NGX_HTTP_TWOFA_ROUTE_SETTINGS,
    NGX_HTTP_TWOFA_ROUTE_SETTINGS_ENABLE,
    NGX_HTTP_TWOFA_ROUTE_SETTINGS_DISABLE,
    NGX_HTTP_TWOFA_ROUTE_UNKNOWN
} ngx_http_twofa_route_e;


/* the placeholders templates may use */
typedef enum {
    NGX_HTTP_TWOFA_V_TITLE = 0,
    NGX_HTTP_TWOFA_V_ISSUER,
    NGX_HTTP_TWOFA_V_CONTENT,
    NGX_HTTP_TWOFA_V_USER,
    NGX_HTTP_TWOFA_V_ORG,
    NGX_HTTP_TWOFA_V_ACTION,
    NGX_HTTP_TWOFA_V_CSRF,
    NGX_HTTP_TWOFA_V_ERROR,
    NGX_HTTP_TWOFA_V_SECRET,
    NGX_HTTP_TWOFA_V_SECRET_GROUPED,
    NGX_HTTP_TWOFA_V_OTPAUTH,
    NGX_HTTP_TWOFA_V_QR,
    NGX_HTTP_TWOFA_V_RECOVERY_ITEMS,
    NGX_HTTP_TWOFA_V_RETURN,
    NGX_HTTP_TWOFA_V_MESSAGE,
    NGX_HTTP_TWOFA_V_STATUS,
    NGX_HTTP_TWOFA_V_ENROLLED_AT,
    NGX_HTTP_TWOFA_V_RECOVERY_LEFT,
    NGX_HTTP_TWOFA_V_REQUIRED,
    NGX_HTTP_TWOFA_V_ENABLED,
    NGX_HTTP_TWOFA_V_ENABLE_ACTION,
    NGX_HTTP_TWOFA_V_DISABLE_ACTION,
    NGX_HTTP_TWOFA_V_HEADING,
    NGX_HTTP_TWOFA_V_LINK,
    NGX_HTTP_TWOFA_V_LINK_TEXT,
    NGX_HTTP_TWOFA_V_COUNT
} ngx_http_twofa_var_e;


typedef struct ngx_http_twofa_page_s  ngx_http_twofa_page_t;

/* A page's step, once the state is read: the rc, or NGX_DONE. */
typedef ngx_int_t ngx_http_twofa_step_t(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
typedef ngx_http_twofa_step_t  *ngx_http_twofa_step_pt;

/* A step that continues with a store reply. */
typedef ngx_int_t ngx_http_twofa_then_t(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_http_twofa_store_reply_t *reply);


/* What one page request knows; lives in the request pool. */
struct ngx_http_twofa_page_s {
    ngx_http_twofa_route_t   *route;         /* what was asked */
    ngx_http_twofa_then_t    *then;          /* the step a reply goes to */
    ngx_uint_t                json;          /* the client wants JSON */
    ngx_str_t                 hold;          /* token: a held login */
    twofa_session_t           session;       /* or a signed-in user */
    unsigned                  has_session:1;
    unsigned                  locked:1;
    ngx_str_t                 org;
    ngx_str_t                 user;
    ngx_str_t                 csrf;          /* for the forms we render */
    ngx_str_t                 code;          /* posted */
    ngx_str_t                 return_to;     /* step-up: where to go */
    ngx_http_twofa_state_t    state;
    ngx_str_t                 bind;          /* a session's pending key */
    ngx_http_twofa_response_t response;      /* the hold's, opened */
    u_char                    secret[NGX_HTTP_TWOFA_SECRET_SIZE];
    uint64_t                  step;
    twofa_amr_t               amr;
    char                      recovery[TWOFA_RECOVERY_COUNT]
                                      [TWOFA_RECOVERY_LEN + 1];
    ngx_str_t                 error;
    ngx_str_t                 message;
};


/* whom a page is about */
#define NGX_HTTP_TWOFA_FOR_HOLD     0   /* a held login */
#define NGX_HTTP_TWOFA_FOR_SESSION  1   /* the signed-in user */
#define NGX_HTTP_TWOFA_FOR_EITHER   2   /* a hold, else the session */

/* when the state read brings the hold's sealed response */
#define NGX_HTTP_TWOFA_NEVER        0
#define NGX_HTTP_TWOFA_ALWAYS       1
#define NGX_HTTP_TWOFA_ON_POST      2

struct ngx_http_twofa_route_s {
    ngx_str_t                 name;       /* under the prefix */
    ngx_http_twofa_route_e    id;
    ngx_uint_t                methods;    /* NGX_HTTP_GET|... */
    ngx_uint_t                subject;    /* NGX_HTTP_TWOFA_FOR_* */
    ngx_uint_t                response;   /* NGX_HTTP_TWOFA_NEVER, ... */
    ngx_http_twofa_step_pt    step;       /* NULL: 303 to go */
    const char               *go;
};


extern ngx_module_t  ngx_http_twofa_module;


/* ngx_http_twofa_conf.c */
void *ngx_http_twofa_create_main_conf(ngx_conf_t *cf);
char *ngx_http_twofa_init_main_conf(ngx_conf_t *cf, void *conf);
void *ngx_http_twofa_create_srv_conf(ngx_conf_t *cf);
char *ngx_http_twofa_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child);
void *ngx_http_twofa_create_loc_conf(ngx_conf_t *cf);
char *ngx_http_twofa_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);


/* ngx_http_twofa_directive_redis.c */
char *ngx_http_twofa_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


/* ngx_http_twofa_directive.c */
char *ngx_http_twofa_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_twofa_token_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_twofa_handler_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twofa_gate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_twofa_user(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_twofa_app_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twofa_cookie(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_twofa_lockout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_twofa_skew(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_uint_t ngx_http_twofa_param(ngx_str_t *arg, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_twofa_secret_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *file, size_t min, ngx_str_t *secret);
extern ngx_conf_post_t  ngx_http_twofa_url_post;      /* twofa_*_url */
extern ngx_conf_post_t  ngx_http_twofa_issuer_post;   /* twofa_issuer */
char *ngx_http_twofa_value_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_twofa_enum_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


/* ngx_http_twofa_file.c */
ngx_int_t ngx_http_twofa_conf_read_file(ngx_conf_t *cf, ngx_str_t *directive,
    ngx_str_t *name, size_t min, size_t max, ngx_uint_t missing_ok,
    ngx_str_t *out);


/* ngx_http_twofa_variables.c */
ngx_int_t ngx_http_twofa_add_variables(ngx_conf_t *cf);


/* ngx_http_twofa_http.c */
ngx_http_twofa_ctx_t *ngx_http_twofa_get_ctx(ngx_http_request_t *r);
void ngx_http_twofa_set_result(ngx_http_request_t *r,
    ngx_http_twofa_result_e result);
void *ngx_http_twofa_new_page(ngx_http_request_t *r, size_t size);
void *ngx_http_twofa_page(ngx_http_request_t *r);
ngx_int_t ngx_http_twofa_on_cleanup(ngx_pool_t *pool,
    ngx_pool_cleanup_pt handler, void *data);
const twofa_key_t *ngx_http_twofa_keys(ngx_http_request_t *r, size_t *n);
ngx_table_elt_t *ngx_http_twofa_push_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_http_twofa_set_cookie_value(ngx_str_t *header,
    ngx_str_t *line, ngx_str_t *name, ngx_str_t *value);
ngx_table_elt_t *ngx_http_twofa_cookie_header(ngx_http_request_t *r,
    ngx_table_elt_t *prev, ngx_uint_t *i);
ngx_uint_t ngx_http_twofa_cookie_pair(u_char **pos, u_char *end,
    ngx_str_t *pair, ngx_str_t *name);
ngx_int_t ngx_http_twofa_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_http_twofa_set_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, ngx_str_t *path, ngx_str_t *domain, ngx_str_t *samesite,
    ngx_flag_t secure, time_t max_age);
ngx_uint_t ngx_http_twofa_wants_json(ngx_http_request_t *r);
ngx_int_t ngx_http_twofa_read_body(ngx_http_request_t *r, size_t max,
    ngx_http_client_body_handler_pt handler);
ngx_int_t ngx_http_twofa_with_body(ngx_http_request_t *r, ngx_uint_t read,
    size_t max, ngx_http_client_body_handler_pt posted,
    ngx_http_client_body_handler_pt start);
ngx_int_t ngx_http_twofa_body(ngx_http_request_t *r);
ngx_int_t ngx_http_twofa_form_value(ngx_http_request_t *r, ngx_str_t *body,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_http_twofa_json_string(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
ngx_str_t *ngx_http_twofa_shown(ngx_http_request_t *r, ngx_str_t *s);
void ngx_http_twofa_local_path(ngx_str_t *in, ngx_str_t *out);
ngx_int_t ngx_http_twofa_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t json, ngx_str_t *body);
ngx_int_t ngx_http_twofa_send_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_twofa_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
ngx_int_t ngx_http_twofa_redirect(ngx_http_request_t *r, ngx_str_t *uri);
void ngx_http_twofa_done(ngx_http_request_t *r, ngx_int_t rc);
ngx_int_t ngx_http_twofa_unavailable(ngx_http_request_t *r);


/* ngx_http_twofa_session.c */
ngx_int_t ngx_http_twofa_get_hold_token(ngx_http_request_t *r,
    ngx_str_t *token);
ngx_int_t ngx_http_twofa_get_session(ngx_http_request_t *r,
    const twofa_session_t **s);
ngx_int_t ngx_http_twofa_set_session(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, twofa_amr_t amr);
ngx_int_t ngx_http_twofa_set_session_at(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, twofa_amr_t amr, int64_t iat);
ngx_int_t ngx_http_twofa_set_hold_cookie(ngx_http_request_t *r,
    ngx_str_t *token, time_t max_age);


/* ngx_http_twofa_login.c */
ngx_int_t ngx_http_twofa_login_handler(ngx_http_request_t *r);


/* ngx_http_twofa_capture.c */
ngx_int_t ngx_http_twofa_login_init_filters(ngx_conf_t *cf);


/* ngx_http_twofa_identity.c */
ngx_int_t ngx_http_twofa_identity_capture(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
ngx_int_t ngx_http_twofa_form_field(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);
ngx_int_t ngx_http_twofa_app_cookies_rotated(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);
void ngx_http_twofa_log_unsafe(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx);


/* ngx_http_twofa_bind.c */
ngx_int_t ngx_http_twofa_bind_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_twofa_bind_login(ngx_http_request_t *r,
    ngx_http_twofa_loc_conf_t *lcf);
ngx_int_t ngx_http_twofa_bind_session(ngx_http_request_t *r,
    ngx_http_twofa_response_t *resp);
ngx_int_t ngx_http_twofa_bind_rotated(ngx_http_request_t *r);


/* ngx_http_twofa_hold.c */
ngx_int_t ngx_http_twofa_hold_encode(ngx_http_request_t *r,
    ngx_http_twofa_ctx_t *ctx, ngx_str_t *out);
ngx_int_t ngx_http_twofa_hold_open(ngx_http_request_t *r, ngx_str_t *token,
    ngx_str_t *value, ngx_str_t *org, ngx_str_t *user,
    ngx_http_twofa_response_t *resp);
ngx_int_t ngx_http_twofa_send_response(ngx_http_request_t *r,
    ngx_http_twofa_response_t *resp);
ngx_int_t ngx_http_twofa_release(ngx_http_request_t *r, ngx_str_t *org,
    ngx_str_t *user, ngx_http_twofa_response_t *resp, twofa_amr_t amr);


/* ngx_http_twofa_pages.c */
ngx_int_t ngx_http_twofa_pages_handler(ngx_http_request_t *r);


/* ngx_http_twofa_flows.c: the steps of the routes */
ngx_http_twofa_step_t  ngx_http_twofa_flow_index;
ngx_http_twofa_step_t  ngx_http_twofa_flow_enroll;
ngx_http_twofa_step_t  ngx_http_twofa_flow_continue;
ngx_http_twofa_step_t  ngx_http_twofa_flow_verify;
ngx_http_twofa_step_t  ngx_http_twofa_flow_settings;
ngx_http_twofa_step_t  ngx_http_twofa_flow_disable;


/*
 * ngx_http_twofa_codes.c: the page's secret, recovery codes and CSRF
 * token, each made or sealed into the string given (out), or opened or
 * checked from it (in): the secret and codes land in pg.
 */
typedef ngx_int_t ngx_http_twofa_page_secret_t(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_str_t *s);

ngx_http_twofa_page_secret_t  ngx_http_twofa_new_secret;   /* out */
ngx_http_twofa_page_secret_t  ngx_http_twofa_open_secret;  /* in */
ngx_http_twofa_page_secret_t  ngx_http_twofa_seal_codes;   /* out */
ngx_http_twofa_page_secret_t  ngx_http_twofa_open_codes;   /* in */
ngx_http_twofa_page_secret_t  ngx_http_twofa_check_csrf;   /* in */
ngx_int_t ngx_http_twofa_make_csrf(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
ngx_int_t ngx_http_twofa_check_code(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);


/* ngx_http_twofa_views.c */
ngx_int_t ngx_http_twofa_show_invalid(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
ngx_int_t ngx_http_twofa_go(ngx_http_request_t *r, ngx_http_twofa_page_t *pg,
    const char *route);
ngx_int_t ngx_http_twofa_show_enroll(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status);
ngx_int_t ngx_http_twofa_show_verify(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status);
ngx_int_t ngx_http_twofa_show_recovery(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
ngx_int_t ngx_http_twofa_show_settings(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status);
ngx_int_t ngx_http_twofa_show_message(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_uint_t status, const char *error,
    const char *heading, const char *message, ngx_uint_t link_login);
ngx_int_t ngx_http_twofa_show_expired(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
ngx_int_t ngx_http_twofa_show_required(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
ngx_int_t ngx_http_twofa_show_unopened(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg);
ngx_int_t ngx_http_twofa_show_locked(ngx_http_request_t *r,
    ngx_http_twofa_page_t *pg, ngx_msec_t ttl);


/* ngx_http_twofa_templates.c */
ngx_int_t ngx_http_twofa_render(ngx_http_request_t *r, twofa_tpl_t *tpl,
    ngx_str_t *title, ngx_str_t *vars, ngx_uint_t status);
ngx_int_t ngx_http_twofa_templates_load(ngx_conf_t *cf,
    ngx_http_twofa_srv_conf_t *conf, ngx_http_twofa_srv_conf_t *prev);


/* ngx_http_twofa_revoke.c */
ngx_http_twofa_revocations_t *ngx_http_twofa_revoke_init(ngx_cycle_t *cycle,
    ngx_http_twofa_main_conf_t *tmcf);
void ngx_http_twofa_revoke_exit(ngx_http_twofa_revocations_t *rv);
ngx_uint_t ngx_http_twofa_revoked(ngx_http_twofa_revocations_t *rv,
    const twofa_session_t *s);
int64_t ngx_http_twofa_revocation(ngx_http_twofa_revocations_t *rv,
    u_char *org, size_t org_len, u_char *user, size_t user_len);


/* ngx_http_twofa_gate.c */
ngx_int_t ngx_http_twofa_gate_handler(ngx_http_request_t *r);


/* ngx_http_twofa_admin.c */
ngx_int_t ngx_http_twofa_admin_handler(ngx_http_request_t *r);

/* ngx_http_twofa_admin_request.c */
ngx_int_t ngx_http_twofa_admin_route(ngx_http_request_t *r,
    ngx_http_twofa_admin_t *adm);
ngx_int_t ngx_http_twofa_admin_parse(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_twofa_admin_t *adm, ngx_str_t *err);


/* ngx_http_twofa_metrics.c */
ngx_int_t ngx_http_twofa_metrics_handler(ngx_http_request_t *r);


/*
 * ngx_http_twofa_counters.c: what is counted.  Each process adds to its
 * own block of the shared zone (no atomics, no shared cache lines); the
 * metrics page sums the blocks.  Gauges are set, not added: each process
 * says its own.
 */
#define NGX_HTTP_TWOFA_BUCKETS  12          /* of the latency histogram */

typedef enum {
    NGX_HTTP_TWOFA_M_LOGIN_PASSED = 0,
    NGX_HTTP_TWOFA_M_LOGIN_HELD,
    NGX_HTTP_TWOFA_M_LOGIN_RELEASED,
    NGX_HTTP_TWOFA_M_LOGIN_REFUSED,
    NGX_HTTP_TWOFA_M_LOGIN_ERROR,
    NGX_HTTP_TWOFA_M_LOGIN_UNSAFE,
    NGX_HTTP_TWOFA_M_CODE_VALID,
    NGX_HTTP_TWOFA_M_CODE_INVALID,
    NGX_HTTP_TWOFA_M_CODE_LOCKED,
    NGX_HTTP_TWOFA_M_RECOVERY_USED,
    NGX_HTTP_TWOFA_M_ENROLLMENTS,
    NGX_HTTP_TWOFA_M_LOCKOUTS,
    NGX_HTTP_TWOFA_M_GATE_PASSED,
    NGX_HTTP_TWOFA_M_GATE_DENIED,
    NGX_HTTP_TWOFA_M_ADMIN_CHANGES,
    NGX_HTTP_TWOFA_M_UNBOUND,
    NGX_HTTP_TWOFA_M_REDIS_OK,
    NGX_HTTP_TWOFA_M_REDIS_ERROR,
    NGX_HTTP_TWOFA_M_REDIS_TIMEOUT,
    NGX_HTTP_TWOFA_M_REDIS_BUCKET,          /* first of the histogram's */
    NGX_HTTP_TWOFA_M_REDIS_SUM_US =
        NGX_HTTP_TWOFA_M_REDIS_BUCKET + NGX_HTTP_TWOFA_BUCKETS,
                                            /* latency sum, microseconds */
    NGX_HTTP_TWOFA_M_REDIS_UP_COMMAND,      /* gauge */
    NGX_HTTP_TWOFA_M_REDIS_UP_SUBSCRIBER,   /* gauge */
    NGX_HTTP_TWOFA_M_N
} ngx_http_twofa_metric_e;

extern uint64_t  *ngx_http_twofa_counters;   /* this process's, or NULL */

ngx_int_t ngx_http_twofa_counters_zone(ngx_conf_t *cf);
void ngx_http_twofa_counters_init_process(ngx_cycle_t *cycle);
void ngx_http_twofa_counters_exit_process(void);
void ngx_http_twofa_counters_redis(ngx_int_t result, uint64_t us);
void ngx_http_twofa_counters_sum(uint64_t *sum);

static ngx_inline void
ngx_http_twofa_count(ngx_http_twofa_metric_e m)
{
    if (ngx_http_twofa_counters) {
        ngx_http_twofa_counters[m]++;
    }
}

static ngx_inline void
ngx_http_twofa_gauge(ngx_http_twofa_metric_e m, uint64_t v)
{
    if (ngx_http_twofa_counters) {
        ngx_http_twofa_counters[m] = v;
    }
}


/* an event of the module's own: a timer, or one posted */
static ngx_inline void
ngx_http_twofa_event_init(ngx_event_t *ev, ngx_event_handler_pt handler,
    void *data, ngx_log_t *log)
{
    ev->handler = handler;
    ev->data = data;
    ev->log = log;
}


/*
 * Walks the elements of an ngx_list_t (headers, shared zones) without
 * the part-and-index loop each caller would write again.
 */
typedef struct {
    ngx_list_part_t  *part;                  /* the part being walked */
    ngx_uint_t        i;                     /* the next element in it */
} ngx_http_twofa_list_walk_t;

static ngx_inline void
ngx_http_twofa_list_start(ngx_http_twofa_list_walk_t *w, ngx_list_t *list)
{
    w->part = &list->part;
    w->i = 0;
}

static ngx_inline void *
ngx_http_twofa_list_next(ngx_http_twofa_list_walk_t *w, size_t size)
{
    while (w->i >= w->part->nelts) {
        if (w->part->next == NULL) {
            return NULL;
        }

        w->part = w->part->next;
        w->i = 0;
    }

    return (u_char *) w->part->elts + size * w->i++;
}


/* ngx_http_twofa_redis.c and ngx_http_twofa_redis_conn.c */

/* reply is NULL when the command failed: connection lost or timed out. */
typedef void (*ngx_http_twofa_redis_reply_pt)(void *data,
    redisReply *reply);

/*
 * An error reply of the module's own making, handed to a reply handler
 * as if Redis had sent it: an error reply always fails closed, where NULL
 * (no answer) may be let through by twofa_on_redis_error open.  Static,
 * never freed: hiredis does not own it.  By field name: hiredis 1.x has
 * more fields than 0.14.
 */
#define ngx_http_twofa_redis_error_reply(text)                               \
    { .type = REDIS_REPLY_ERROR, .len = sizeof(text) - 1,                    \
      .str = (char *) (text) }

/* payload is NULL when the subscription is (re)made */
typedef void (*ngx_http_twofa_redis_message_pt)(void *data,
    ngx_str_t *payload);

ngx_http_twofa_redis_t *ngx_http_twofa_redis_create(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf);
ngx_http_twofa_redis_t *ngx_http_twofa_redis_subscriber(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf, ngx_str_t *channel,
    ngx_http_twofa_redis_message_pt on_message, void *data);
void ngx_http_twofa_redis_destroy(ngx_http_twofa_redis_t *rd);

/*
 * Sends one command.  NGX_OK: handler is called exactly once, later
 * (never from inside this call), unless the owner pool is destroyed
 * first; then it is never called.  NGX_DECLINED: no connection now.
 * NGX_ERROR: out of memory.
 */
ngx_int_t ngx_http_twofa_redis_command(ngx_http_twofa_redis_t *rd,
    ngx_pool_t *owner, ngx_log_t *log, ngx_http_twofa_redis_reply_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen);

/*
 * The same, with flags.  NGX_HTTP_TWOFA_REDIS_ACKED: a write that guards
 * against replay; WAIT 1 replica_wait follows it on the same connection
 * and the handler gets the reply only once a replica has it, NULL (fail
 * closed) when none said so in time.  owner may be NULL for commands of
 * the client's own (the sentinels'): then only the timer ends them early.
 */
#define NGX_HTTP_TWOFA_REDIS_ACKED  0x01

ngx_int_t ngx_http_twofa_redis_command_flags(ngx_http_twofa_redis_t *rd,
    ngx_pool_t *owner, ngx_log_t *log, ngx_http_twofa_redis_reply_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen,
    ngx_uint_t flags);

/* Sentinel mode: the connection to the primary is gone, ask again */
typedef void (*ngx_http_twofa_redis_lost_pt)(void *data,
    ngx_http_twofa_redis_t *rd);

void ngx_http_twofa_redis_set_lost(ngx_http_twofa_redis_t *rd,
    ngx_http_twofa_redis_lost_pt lost, void *data);
void ngx_http_twofa_redis_use(ngx_http_twofa_redis_t *rd, ngx_str_t *host,
    in_port_t port);
ngx_uint_t ngx_http_twofa_redis_ready(ngx_http_twofa_redis_t *rd);
void ngx_http_twofa_redis_leave(ngx_http_twofa_redis_t *rd);


/*
 * ngx_http_twofa_discovery.c: a question put to Sentinel's or Cluster's
 * nodes in turn.  The owner (sentinel, cluster) is made by
 * ngx_http_twofa_discovery_create(), its discovery its first member.
 * ask: to node i, NGX_OK if it went (the owner then calls
 * ngx_http_twofa_discovery_answered() from its reply handler); none: a
 * round ended with no node taking it; lost: an attached client lost its
 * node.
 */
typedef struct {
    const char                       *name;      /* in the log lines */
    ngx_msec_t                        backoff_min;
    ngx_msec_t                        backoff_max;
    ngx_int_t                       (*ask)(void *data, ngx_uint_t node);
    void                            (*none)(void *data);  /* or NULL */
    ngx_http_twofa_redis_lost_pt      lost;      /* of an attached client */
} ngx_http_twofa_discovery_spec_t;

typedef struct {
    ngx_event_t                       timer;     /* asks when it fires */
    const ngx_http_twofa_discovery_spec_t  *spec;
    void                             *data;      /* the owner */
    ngx_log_t                        *log;
    ngx_array_t                       clients;   /* ngx_http_twofa_redis_t *,
                                                    sent where it is found */
    ngx_array_t                       owned;     /* the nodes' connections,
                                                    destroyed on stop */
    ngx_uint_t                        nnodes;    /* set by the owner */
    ngx_uint_t                        next;      /* the node asked first */
    ngx_uint_t                        tried;     /* asked in this round */
    ngx_msec_t                        backoff;   /* before the next round */
    unsigned                          asking:1;  /* a question in flight */
    unsigned                          again:1;   /* news came meanwhile */
    unsigned                          exiting:1;
} ngx_http_twofa_discovery_t;

void *ngx_http_twofa_discovery_create(ngx_cycle_t *cycle,
    const ngx_http_twofa_discovery_spec_t *spec, size_t size);
ngx_int_t ngx_http_twofa_discovery_attach(ngx_http_twofa_discovery_t *dv,
    ngx_http_twofa_redis_t *rd);
ngx_http_twofa_redis_t *ngx_http_twofa_discovery_own(
    ngx_http_twofa_discovery_t *dv, ngx_http_twofa_redis_t *rd);
void ngx_http_twofa_discovery_stop(ngx_http_twofa_discovery_t *dv);
void ngx_http_twofa_discovery_schedule(ngx_http_twofa_discovery_t *dv,
    ngx_msec_t delay);
void ngx_http_twofa_discovery_backoff(ngx_http_twofa_discovery_t *dv);
void ngx_http_twofa_discovery_now(ngx_http_twofa_discovery_t *dv);
ngx_uint_t ngx_http_twofa_discovery_answered(ngx_http_twofa_discovery_t *dv);
void ngx_http_twofa_discovery_skip(ngx_http_twofa_discovery_t *dv);
ngx_uint_t ngx_http_twofa_discovery_again(ngx_http_twofa_discovery_t *dv,
    ngx_msec_t period);
ngx_int_t ngx_http_twofa_discovery_address(ngx_http_twofa_discovery_t *dv,
    u_char *host, size_t len, ngx_int_t port);


/* ngx_http_twofa_sentinel.c: the primary, found through Redis Sentinel */
ngx_http_twofa_sentinel_t *ngx_http_twofa_sentinel_create(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf);
void ngx_http_twofa_sentinel_attach(ngx_http_twofa_sentinel_t *sn,
    ngx_http_twofa_redis_t *rd);
void ngx_http_twofa_sentinel_destroy(ngx_http_twofa_sentinel_t *sn);


/* ngx_http_twofa_cluster.c: Redis Cluster, each slot to its primary */
ngx_http_twofa_cluster_t *ngx_http_twofa_cluster_create(ngx_cycle_t *cycle,
    ngx_http_twofa_redis_conf_t *conf);
void ngx_http_twofa_cluster_attach(ngx_http_twofa_cluster_t *cl,
    ngx_http_twofa_redis_t *rd);
ngx_int_t ngx_http_twofa_cluster_command(ngx_http_twofa_cluster_t *cl,
    unsigned slot, ngx_pool_t *owner, ngx_log_t *log,
    ngx_http_twofa_redis_reply_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen, ngx_uint_t flags);
void ngx_http_twofa_cluster_destroy(ngx_http_twofa_cluster_t *cl);


/* ngx_http_twofa_store.c */
ngx_int_t ngx_http_twofa_store_login(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, ngx_str_t *hold_token,
    ngx_str_t *hold_value, ngx_uint_t holdable,
    ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_state(ngx_http_request_t *r,
    ngx_http_twofa_state_query_t *q, ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_fail(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_save_pending(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, ngx_str_t *bind, ngx_str_t *hold_token,
    ngx_str_t *sealed_secret, ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_enable(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, ngx_str_t *bind, ngx_str_t *hold_token,
    ngx_str_t *sealed_secret, uint64_t step, ngx_str_t *recovery,
    ngx_str_t *sealed_codes, ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_accept_code(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, uint64_t step,
    ngx_str_t *recovery_hash, ngx_str_t *hold_token, twofa_amr_t amr,
    ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_take_hold(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, ngx_str_t *hold_token,
    ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_disable(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user, uint64_t step,
    ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_org_get(ngx_http_request_t *r,
    ngx_str_t *org, ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_org_set(ngx_http_request_t *r,
    ngx_str_t *org, ngx_uint_t require,
    ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_user_reset(ngx_http_request_t *r,
    ngx_str_t *org, ngx_str_t *user,
    ngx_http_twofa_store_handler_pt handler);
/* ngx_http_twofa_admin_audit.c: a cluster's whole trail, merged */
ngx_int_t ngx_http_twofa_admin_audit_merged(ngx_http_request_t *r,
    ngx_http_twofa_audit_query_t *q, ngx_http_twofa_store_handler_pt handler);
/*
 * ngx_http_twofa_admin_cluster.c: init of a cluster, every slot; and what
 * the operations across every slot share (init, the merged audit): each
 * slot's commands sent by send, a window of them at a time, each counted
 * until its reply; a slot's key; the first failure logged; one answer
 * when the last reply came.  The fan is its owner's first member.
 */
typedef struct ngx_http_twofa_fan_s  ngx_http_twofa_fan_t;

typedef ngx_int_t (*ngx_http_twofa_fan_send_pt)(ngx_http_twofa_fan_t *fan,
    unsigned slot);

struct ngx_http_twofa_fan_s {
    ngx_http_request_t               *r;
    ngx_http_twofa_store_handler_pt   handler;
    ngx_http_twofa_fan_send_pt        send;      /* a slot's commands */
    const char                       *what;      /* in the log */
    unsigned                          next;      /* the slot sent next */
    ngx_uint_t                        pending;   /* replies due */
    ngx_uint_t                        failed;    /* not sent or failed */
    char                             *prefix;    /* room for a slot's */
};

ngx_int_t ngx_http_twofa_admin_cluster_init(ngx_http_request_t *r,
    ngx_str_t *by, ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_fan_init(ngx_http_twofa_fan_t *fan,
    ngx_http_request_t *r, const char *what, ngx_http_twofa_fan_send_pt send,
    ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_fan_start(ngx_http_twofa_fan_t *fan);
ngx_uint_t ngx_http_twofa_fan_replied(ngx_http_twofa_fan_t *fan);
ngx_int_t ngx_http_twofa_fan_key(ngx_http_twofa_fan_t *fan, unsigned slot,
    twofa_key_kind_t kind, ngx_str_t *key);
ngx_int_t ngx_http_twofa_fan_send(ngx_http_twofa_fan_t *fan, unsigned slot,
    ngx_http_twofa_redis_reply_pt handler, void *data, int argc,
    const char **argv, const size_t *lens);
void ngx_http_twofa_fan_failed(ngx_http_twofa_fan_t *fan, redisReply *reply);
void ngx_http_twofa_fan_answer(ngx_http_twofa_fan_t *fan,
    ngx_http_twofa_store_reply_t *out);
ngx_int_t ngx_http_twofa_store_init(ngx_http_request_t *r, ngx_str_t *by,
    ngx_http_twofa_store_handler_pt handler);
ngx_int_t ngx_http_twofa_store_audit_read(ngx_http_request_t *r,
    ngx_http_twofa_audit_query_t *q, ngx_http_twofa_store_handler_pt handler);


/* ngx_http_twofa_store_reply.c: a reply into its outcome */
typedef ngx_int_t ngx_http_twofa_store_parse_t(ngx_http_request_t *r,
    redisReply *reply, ngx_http_twofa_store_reply_t *out);

/*
 * ngx_http_twofa_store_send.c: script id (twofa_script_id_t) with its
 * keys and arguments, to the Redis of slot; revoke: NULL, or the key,
 * field and stamp a cluster copies a revocation to once it is done.
 */
ngx_int_t ngx_http_twofa_store_script(ngx_http_request_t *r, ngx_uint_t id,
    unsigned slot, ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_str_t *revoke, ngx_http_twofa_store_parse_t *parse,
    ngx_http_twofa_store_handler_pt handler);

ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_outcome;
ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_reset;
ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_init;
ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_login;
ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_state;
ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_pending;
ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_fail;
ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_org;
ngx_http_twofa_store_parse_t  ngx_http_twofa_store_parse_audit;


#endif /* NGX_HTTP_TWOFA_H */
