/*
 * The Redis scripts of twofa-edge, shared by the module and the admin
 * CLI: the files in lua/, compiled in by tools/embed (src/twofa_lua.c).
 * Each goes out as EVALSHA with the SHA1 computed here, and as EVAL once
 * after NOSCRIPT.
 */

#ifndef TWOFA_SCRIPTS_H
#define TWOFA_SCRIPTS_H

#include <stddef.h>


/* one per file in lua/, in the order of their names */
typedef enum {
    TWOFA_SCRIPT_ACCEPT = 0,
    TWOFA_SCRIPT_AUDIT_READ,
    TWOFA_SCRIPT_DISABLE,
    TWOFA_SCRIPT_ENABLE,
    TWOFA_SCRIPT_FAIL,
    TWOFA_SCRIPT_INIT,
    TWOFA_SCRIPT_LOGIN,
    TWOFA_SCRIPT_ORG_GET,
    TWOFA_SCRIPT_ORG_SET,
    TWOFA_SCRIPT_PENDING,
    TWOFA_SCRIPT_RESET,
    TWOFA_SCRIPT_STATE,
    TWOFA_SCRIPT_TAKE,
    TWOFA_SCRIPT_COUNT
} twofa_script_id_t;


/*
 * Entries audit_read.lua looks at per call, module and CLI alike: one call
 * never holds Redis for long; the caller goes on from the last id seen.
 */
#define TWOFA_AUDIT_READ_MOST  1000


typedef struct {
    const char  *name;          /* the file's name, for logs */
    const char  *text;
    size_t       len;
    char         sha1[41];      /* hex, set by twofa_scripts_init() */
} twofa_script_t;


extern twofa_script_t  twofa_scripts[TWOFA_SCRIPT_COUNT];


/* Computes every script's SHA1, once per process.  0 or -1. */
int twofa_scripts_init(void);

#endif /* TWOFA_SCRIPTS_H */
