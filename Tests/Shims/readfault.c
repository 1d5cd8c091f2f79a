// Test-only fault injector (ReadFaultTests): loaded with LD_PRELOAD into the real dicomdrop
// binary, it makes reads of chosen files fail as a failing disk or a NAS would.
//
//   DD_READ_FAULTS="NAME:ERRNO:TIMES,..."
//
// Every read(2) or pread(2) of a descriptor opened on a path ending in NAME fails with
// ERRNO, the first TIMES times for that path (every time when TIMES is -1). Opens, stats
// and everything else pass through; other files are untouched.
//
//   DD_SYNCFS_FAULT=ERRNO
//
// makes every syncfs(2) fail with ERRNO: a writeback error the kernel reports at the flush.
//
//   DD_SYNCFS_DELAY_MS=N
//
// makes every syncfs(2) take N ms longer: a slow disk, which holds a run back (the commit
// queue lets four batches wait) so that a test can stop the daemon in the middle of a unit
// however busy the machine is.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { MAX_RULES = 16, MAX_FDS = 65536 };

struct rule { char name[256]; int code; int times; int failed; };
static struct rule rules[MAX_RULES];
static int rule_count = -1;
static signed char rule_of_fd[MAX_FDS];  // rule index + 1, 0: none
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void load_rules(void) {
    if (rule_count >= 0) return;
    rule_count = 0;
    const char *spec = getenv("DD_READ_FAULTS");
    if (!spec) return;
    char copy[4096];
    strncpy(copy, spec, sizeof copy - 1);
    copy[sizeof copy - 1] = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && rule_count < MAX_RULES; item = strtok_r(NULL, ",", &save)) {
        char *first = strchr(item, ':');
        char *second = first ? strchr(first + 1, ':') : NULL;
        if (!second) continue;
        *first = 0;
        struct rule *rule = &rules[rule_count++];
        strncpy(rule->name, item, sizeof rule->name - 1);
        rule->code = atoi(first + 1);
        rule->times = atoi(second + 1);
        rule->failed = 0;
    }
}

static void note_open(int fd, const char *path) {
    if (fd < 0 || fd >= MAX_FDS || !path) return;
    pthread_mutex_lock(&lock);
    load_rules();
    rule_of_fd[fd] = 0;
    size_t length = strlen(path);
    for (int index = 0; index < rule_count; index++) {
        size_t name = strlen(rules[index].name);
        if (length >= name && strcmp(path + length - name, rules[index].name) == 0) rule_of_fd[fd] = (signed char)(index + 1);
    }
    pthread_mutex_unlock(&lock);
}

// 0: let the read through; otherwise the errno to fail it with.
static int fault_for(int fd) {
    if (fd < 0 || fd >= MAX_FDS) return 0;
    int code = 0;
    pthread_mutex_lock(&lock);
    if (rule_of_fd[fd]) {
        struct rule *rule = &rules[rule_of_fd[fd] - 1];
        if (rule->times < 0 || rule->failed < rule->times) {
            rule->failed++;
            code = rule->code;
        }
    }
    pthread_mutex_unlock(&lock);
    return code;
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*close_fn)(int);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef int (*syncfs_fn)(int);

#define REAL(name, type) static type real_##name; if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)
// Fails the calling read with its rule's errno, when a rule still applies to fd.
#define FAIL_IF_FAULTED(fd) do { int code = fault_for(fd); if (code) { errno = code; return -1; } } while (0)

// open and open64 alike: the real call, then the descriptor's rule noted.
static int open_noting(open_fn real, const char *path, int flags, va_list list) {
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(list, mode_t) : 0;
    int fd = real(path, flags, mode);
    note_open(fd, path);
    return fd;
}

int open(const char *path, int flags, ...) {
    REAL(open, open_fn);
    va_list list;
    va_start(list, flags);
    int fd = open_noting(real_open, path, flags, list);
    va_end(list);
    return fd;
}

int open64(const char *path, int flags, ...) {
    REAL(open64, open_fn);
    va_list list;
    va_start(list, flags);
    int fd = open_noting(real_open64, path, flags, list);
    va_end(list);
    return fd;
}

int close(int fd) {
    REAL(close, close_fn);
    if (fd >= 0 && fd < MAX_FDS) {
        pthread_mutex_lock(&lock);
        rule_of_fd[fd] = 0;
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}

ssize_t read(int fd, void *buffer, size_t count) {
    REAL(read, read_fn);
    FAIL_IF_FAULTED(fd);
    return real_read(fd, buffer, count);
}

ssize_t pread(int fd, void *buffer, size_t count, off_t offset) {
    REAL(pread, pread_fn);
    FAIL_IF_FAULTED(fd);
    return real_pread(fd, buffer, count, offset);
}

ssize_t pread64(int fd, void *buffer, size_t count, off_t offset) {
    REAL(pread64, pread_fn);
    FAIL_IF_FAULTED(fd);
    return real_pread64(fd, buffer, count, offset);
}

int syncfs(int fd) {
    REAL(syncfs, syncfs_fn);
    const char *fault = getenv("DD_SYNCFS_FAULT");
    if (fault && *fault) { errno = atoi(fault); return -1; }
    const char *delay = getenv("DD_SYNCFS_DELAY_MS");
    if (delay && *delay) {
        long milliseconds = atol(delay);
        struct timespec pause = { milliseconds / 1000, (milliseconds % 1000) * 1000000L };
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {}
    }
    return real_syncfs(fd);
}
