/*
 * twofa-edge: the counters of twofa_metrics, in one shared zone, a block
 * per process slot.  Each worker adds to its own block with a plain
 * increment (no atomic, no cache line shared with another worker, so the
 * gate pays one add); ngx_http_twofa_counters_sum() adds the blocks up.
 * A slot taken over by a new worker keeps its counts, so sums never go
 * back; the zone outlives a reload (same name, size and tag), and so do
 * the counts.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twofa.h"


/* a block a process, in whole 128-byte lines (adjacent-line prefetch) */
#define NGX_HTTP_TWOFA_COUNTERS_STRIDE                                       \
    ngx_align(NGX_HTTP_TWOFA_M_N * sizeof(uint64_t), 128)

#define NGX_HTTP_TWOFA_COUNTERS_SIZE                                         \
    (NGX_MAX_PROCESSES * NGX_HTTP_TWOFA_COUNTERS_STRIDE)


static ngx_int_t ngx_http_twofa_counters_init_zone(ngx_shm_zone_t *zone,
    void *data);


uint64_t  *ngx_http_twofa_counters;


/* upper bounds of the latency buckets, in microseconds (the last: +Inf) */
static uint64_t  ngx_http_twofa_bucket_us[NGX_HTTP_TWOFA_BUCKETS - 1] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000
};


/*
 * The zone, made once per configuration; a reload that finds it with the
 * same size keeps its memory and its counts.
 */

ngx_int_t
ngx_http_twofa_counters_zone(ngx_conf_t *cf)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *zone;

    ngx_str_set(&name, "twofa_metrics");

    zone = ngx_shared_memory_add(cf, &name,
                                 NGX_HTTP_TWOFA_COUNTERS_SIZE
                                 + 8 * ngx_pagesize,
                                 &ngx_http_twofa_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_twofa_counters_init_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twofa_counters_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    zone->data = ngx_slab_calloc(shpool, NGX_HTTP_TWOFA_COUNTERS_SIZE);
    if (zone->data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_twofa_counters_init_process(ngx_cycle_t *cycle)
{
    ngx_shm_zone_t              *zone;
    ngx_http_twofa_list_walk_t   walk;

    ngx_http_twofa_counters = NULL;

    if (ngx_process_slot < 0 || ngx_process_slot >= NGX_MAX_PROCESSES) {
        return;
    }

    ngx_http_twofa_list_start(&walk, &cycle->shared_memory);

    for ( ;; ) {
        zone = ngx_http_twofa_list_next(&walk, sizeof(ngx_shm_zone_t));
        if (zone == NULL) {
            return;
        }

        if (zone->tag == &ngx_http_twofa_module && zone->data) {
            break;
        }
    }

    ngx_http_twofa_counters = (uint64_t *)
        ((u_char *) zone->data
         + ngx_process_slot * NGX_HTTP_TWOFA_COUNTERS_STRIDE);

    /* a slot's last owner may have died without saying its links went */

    ngx_http_twofa_counters[NGX_HTTP_TWOFA_M_REDIS_UP_COMMAND] = 0;
    ngx_http_twofa_counters[NGX_HTTP_TWOFA_M_REDIS_UP_SUBSCRIBER] = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "twofa counters: block %i", ngx_process_slot);
}


void
ngx_http_twofa_counters_exit_process(void)
{
    ngx_http_twofa_gauge(NGX_HTTP_TWOFA_M_REDIS_UP_COMMAND, 0);
    ngx_http_twofa_gauge(NGX_HTTP_TWOFA_M_REDIS_UP_SUBSCRIBER, 0);

    ngx_http_twofa_counters = NULL;
}


/* A command done: its result, and its latency unless it timed out. */

void
ngx_http_twofa_counters_redis(ngx_int_t result, uint64_t us)
{
    ngx_uint_t  b;

    if (ngx_http_twofa_counters == NULL) {
        return;
    }

    ngx_http_twofa_counters[result]++;

    if (result == NGX_HTTP_TWOFA_M_REDIS_TIMEOUT) {
        return;
    }

    for (b = 0; b < NGX_HTTP_TWOFA_BUCKETS - 1; b++) {
        if (us <= ngx_http_twofa_bucket_us[b]) {
            break;
        }
    }

    ngx_http_twofa_counters[NGX_HTTP_TWOFA_M_REDIS_BUCKET + b]++;
    ngx_http_twofa_counters[NGX_HTTP_TWOFA_M_REDIS_SUM_US] += us;
}


/* Every process's block added up; a block is read while it is written. */

void
ngx_http_twofa_counters_sum(uint64_t *sum)
{
    u_char      *base;
    uint64_t    *block;
    ngx_uint_t   s, m;

    ngx_memzero(sum, NGX_HTTP_TWOFA_M_N * sizeof(uint64_t));

    if (ngx_http_twofa_counters == NULL) {
        return;
    }

    base = (u_char *) ngx_http_twofa_counters
           - ngx_process_slot * NGX_HTTP_TWOFA_COUNTERS_STRIDE;

    for (s = 0; s < NGX_MAX_PROCESSES; s++) {
        block = (uint64_t *) (base + s * NGX_HTTP_TWOFA_COUNTERS_STRIDE);

        for (m = 0; m < NGX_HTTP_TWOFA_M_N; m++) {
            sum[m] += ((volatile uint64_t *) block)[m];
        }
    }
}
