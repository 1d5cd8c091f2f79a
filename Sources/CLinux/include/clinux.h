#ifndef CLINUX_H
#define CLINUX_H

#include <stddef.h>

// Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not
// define: wrapped here so that Swift can call them.

// syncfs(2): flushes the filesystem holding `fd` to stable storage. Returns 0 or -1 with errno.
int dd_syncfs(int fd);

// mallopt(3) M_MMAP_THRESHOLD and M_TRIM_THRESHOLD (malloc.h is not in Swift's Glibc module):
// allocations below `mmap_threshold` come from the heap, and freed heap memory is returned to
// the system only beyond `trim_threshold`. Returns 1 on success, 0 on failure.
int dd_keep_freed_memory(size_t mmap_threshold, size_t trim_threshold);

// malloc_trim(3): gives the heap's free memory back to the system (the top of each arena and
// whole free pages inside them). Returns 1 if any memory was released.
int dd_release_free_memory(void);

// open(2) with O_TMPFILE: an unnamed regular file in `directory`, opened for writing, that
// disappears if the process dies before it is linked. Returns the descriptor, or -1 with errno
// (EOPNOTSUPP or EISDIR where the filesystem cannot).
int dd_open_unnamed(const char *directory, unsigned int mode);

// linkat(2) of an O_TMPFILE descriptor to `path` (through /proc/self/fd, which needs no
// privilege). Fails with EEXIST if `path` exists. Returns 0 or -1 with errno.
int dd_link_unnamed(int fd, const char *path);

// statfs(2)'s f_type (the filesystem's magic number) of `path` (sys/vfs.h is not in Swift's
// Glibc module). Returns 0 and sets *type, or -1 with errno.
int dd_filesystem_type(const char *path, unsigned long *type);

// pthread_setname_np(3) for the calling thread: `name` is cut to 15 bytes (the kernel's limit)
// so that the call cannot fail with ERANGE. Returns 0 or an error number.
int dd_name_this_thread(const char *name);

// pthread_getname_np(3) for the calling thread into `name` (at least 16 bytes).
int dd_this_thread_name(char *name, size_t size);

// Raises the calling thread's nice value by `nice_increment` (Linux keeps one per thread):
// the file workers yield the CPU to the scheduling loop, the commit thread and the status
// server, which wait for milliseconds, not seconds. Returns 0, or -1 with errno.
int dd_lower_this_thread_priority(int nice_increment);

// Turns off SQLite's memory statistics (SQLITE_CONFIG_MEMSTATUS), which SQLite keeps under
// one process-wide mutex taken by every allocation and free of every connection: the
// workers' ledger lookups and the commit thread's writes met there, and a worker holding it
// when the (higher-priority) commit thread preempted it held everyone up. Must come before
// SQLite's first connection; returns SQLITE_OK, or SQLITE_MISUSE after it (nothing changed).
int dd_sqlite_without_memory_statistics(void);

// Keeps each statement's journal (the pages a statement changes inside a larger
// transaction, so that it alone can be rolled back) in memory up to `bytes`; SQLite's
// default spills it to a temporary file past 64 KiB. Same rule as above: before the first
// connection.
int dd_sqlite_statement_journals_in_memory_up_to(int bytes);

// preadv2(2) of the one byte at `offset` with RWF_NOWAIT, which reads only from the page
// cache: 1 when that byte's page is there, 0 when it is not (EAGAIN), when the filesystem
// cannot tell (EOPNOTSUPP) or the file is shorter.
int dd_page_is_cached(int fd, long long offset);

#endif
