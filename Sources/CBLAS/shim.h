#ifndef AUTODIDACT_CBLAS_SHIM_H
#define AUTODIDACT_CBLAS_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <cblas.h>

// How many CPUs this process may run on (mpirun's binding narrows it); 0 when unknown. Lives here because
// the thread count decided from it is also the one OpenBLAS must not exceed.
static inline int autodidact_affinity_cpus(void) {
#ifdef CPU_COUNT
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}

// A hint to start loading the cache line at p (for streaming weights while computing on earlier ones).
static inline void autodidact_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
static inline void autodidact_prefetch_l2(const void *p) { __builtin_prefetch(p, 0, 2); }
#endif
