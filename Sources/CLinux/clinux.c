#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sqlite3.h>

#include "clinux.h"

int dd_syncfs(int fd) { return syncfs(fd); }

int dd_keep_freed_memory(size_t mmap_threshold, size_t trim_threshold) {
    return mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
}

int dd_release_free_memory(void) { return malloc_trim(0); }

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

int dd_name_this_thread(const char *name) {
    char cut[16];
    strncpy(cut, name, sizeof cut - 1);
    cut[sizeof cut - 1] = 0;
    return pthread_setname_np(pthread_self(), cut);
}

int dd_this_thread_name(char *name, size_t size) {
    return pthread_getname_np(pthread_self(), name, size);
}

int dd_lower_this_thread_priority(int nice_increment) {
    // Linux keeps a nice value per thread: setpriority on the thread id changes only it.
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int current = getpriority(PRIO_PROCESS, (id_t)tid);
    return setpriority(PRIO_PROCESS, (id_t)tid, current + nice_increment);
}

int dd_sqlite_without_memory_statistics(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

int dd_sqlite_statement_journals_in_memory_up_to(int bytes) { return sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, bytes); }

int dd_page_is_cached(int fd, long long offset) {
    char byte;
    struct iovec vector = { .iov_base = &byte, .iov_len = 1 };
    return preadv2(fd, &vector, 1, (off_t)offset, RWF_NOWAIT) == 1;
}
