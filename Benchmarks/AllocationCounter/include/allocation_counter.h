#ifndef AUTODIDACT_ALLOCATION_COUNTER_H
#define AUTODIDACT_ALLOCATION_COUNTER_H
#include <stdint.h>
// Counts heap allocations made by any thread while counting is on. Linking this target into an
// executable replaces malloc & co. with wrappers around glibc's __libc_* entry points.
void allocation_counter_start(void);
int64_t allocation_counter_stop(void);
#endif
