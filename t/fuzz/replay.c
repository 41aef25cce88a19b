/*
 * Seed corpus replayer: with gcc, a fuzz target plus this main() becomes a
 * TAP test that runs every file of TWOFA_CORPUS through
 * LLVMFuzzerTestOneInput (a target that finds a bug aborts, which fails
 * the test).
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TWOFA_CORPUS
#error "TWOFA_CORPUS must name the corpus directory"
#endif


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int
replay_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


static int
replay_file(const char *path)
{
    long      size;
    FILE     *f;
    uint8_t  *data;

    f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return -1;
    }

    /* One byte more so that an empty file still gets a real pointer. */

    data = malloc(size + 1);
    if (data == NULL || fread(data, 1, size, f) != (size_t) size) {
        free(data);
        fclose(f);
        return -1;
    }

    fclose(f);

    LLVMFuzzerTestOneInput(data, size);

    free(data);

    return 0;
}


int
main(void)
{
    int             failed;
    DIR            *dir;
    char            path[4096];
    char          **names, **grown;
    size_t          i, n, cap;
    struct dirent  *entry;

    dir = opendir(TWOFA_CORPUS);
    if (dir == NULL) {
        printf("1..1\nnot ok 1 - no corpus at %s\n", TWOFA_CORPUS);
        return 1;
    }

    names = NULL;
    n = 0;
    cap = 0;

    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') {
            continue;
        }

        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            grown = realloc(names, cap * sizeof(char *));
            if (grown == NULL) {
                return 1;
            }
            names = grown;
        }

        names[n] = strdup(entry->d_name);
        if (names[n] == NULL) {
            return 1;
        }
        n++;
    }

    closedir(dir);

    /* The same order every run, whatever the file system's. */

    qsort(names, n, sizeof(char *), replay_compare);

    printf("1..%zu\n", n);
    fflush(stdout);

    failed = 0;

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", TWOFA_CORPUS, names[i]);

        if (replay_file(path) != 0) {
            printf("not ok %zu - %s (unreadable)\n", i + 1, names[i]);
            failed++;

        } else {
            printf("ok %zu - %s\n", i + 1, names[i]);
        }

        fflush(stdout);
        free(names[i]);
    }

    free(names);

    return failed ? 1 : 0;
}
