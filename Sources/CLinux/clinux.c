#define _GNU_SOURCE
#include <malloc.h>
#include <unistd.h>

#include "clinux.h"

int dd_syncfs(int fd) { return syncfs(fd); }

int dd_keep_freed_memory(size_t mmap_threshold, size_t trim_threshold) {
    return mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
}
