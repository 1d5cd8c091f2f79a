#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>

#include "clinux.h"

int dd_syncfs(int fd) { return syncfs(fd); }

int dd_keep_freed_memory(size_t mmap_threshold, size_t trim_threshold) {
    return mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
}

int dd_open_unnamed(const char *directory, unsigned int mode) {
    return open(directory, O_TMPFILE | O_WRONLY | O_CLOEXEC, (mode_t)mode);
}

int dd_link_unnamed(int fd, const char *path) {
    char name[64];
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, name, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

#include <sys/vfs.h>

int dd_filesystem_type(const char *path, unsigned long *type) {
    struct statfs status;
    if (statfs(path, &status) != 0) return -1;
    *type = (unsigned long)status.f_type;
    return 0;
}
