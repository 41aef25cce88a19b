/*
 * twofa-admin's entry: the commands it knows, and the order of the steps
 * (see twofa_admin.h for the files).
 */

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "twofa_admin.h"


static const twofa_admin_command_t  twofa_admin_commands[] = {
    { "init", "init", NULL, 1, TWOFA_ADMIN_TAKES_NOTHING,
      twofa_admin_init },
    { "org require", "org", "require", 4, TWOFA_ADMIN_TAKES_ORG_ON_OFF,
      twofa_admin_org_require },
    { "org show", "org", "show", 3, TWOFA_ADMIN_TAKES_ORG,
      twofa_admin_org_show },
    { "user show", "user", "show", 4, TWOFA_ADMIN_TAKES_ORG_USER,
      twofa_admin_user_show },
    { "user reset", "user", "reset", 4, TWOFA_ADMIN_TAKES_ORG_USER,
      twofa_admin_user_reset },
    { "audit", "audit", NULL, 1, TWOFA_ADMIN_TAKES_OPTIONS,
      twofa_admin_audit_read },
    { NULL, NULL, NULL, 0, TWOFA_ADMIN_TAKES_NOTHING, NULL }
};


int
main(int argc, char **argv)
{
    int            rc, next;
    twofa_admin_t  adm;

    memset(&adm, 0, sizeof(twofa_admin_t));

    /* a peer gone mid-write (Redis, or stdout's reader) is an error */
    signal(SIGPIPE, SIG_IGN);

    rc = twofa_admin_options(&adm, argc, argv, &next);
    if (rc == TWOFA_ADMIN_HELP) {
        twofa_admin_help();
        rc = TWOFA_ADMIN_OK;
        goto done;
    }

    if (rc != TWOFA_ADMIN_OK) {
        goto done;
    }

    /* everything is checked before anything touches Redis */

    rc = twofa_admin_command_line(&adm, twofa_admin_commands, argc - next,
                                  argv + next);
    if (rc != TWOFA_ADMIN_OK) {
        goto done;
    }

    if (adm.password_file || adm.sentinel_password_file) {
        rc = twofa_admin_read_password(&adm);
        if (rc != TWOFA_ADMIN_OK) {
            goto done;
        }
    }

    if (twofa_scripts_init() != 0) {
        fprintf(stderr, "twofa-admin: cannot compute the scripts' SHA1\n");
        rc = TWOFA_ADMIN_EREDIS;
        goto done;
    }

    rc = twofa_admin_connect(&adm);
    if (rc != TWOFA_ADMIN_OK) {
        goto done;
    }

    /* a cluster: the slot of the org the command is about */

    if (adm.ncluster && adm.cmd->run != twofa_admin_init) {
        rc = twofa_admin_cluster_org(&adm, adm.org);
        if (rc != TWOFA_ADMIN_OK) {
            goto done;
        }
    }

    rc = adm.cmd->run(&adm);

done:

    if (adm.c) {
        redisFree(adm.c);
    }

    json_decref(adm.out);

    OPENSSL_cleanse(adm.password, sizeof(adm.password));
    OPENSSL_cleanse(adm.sentinel_password, sizeof(adm.sentinel_password));

    return rc;
}
