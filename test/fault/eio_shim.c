// eio_shim.c: an LD_PRELOAD library for fault tests. Writes to regular files whose path starts with $EIO_DIR
// succeed until $EIO_AFTER bytes (default 0) have been written to such files in total; from then on they fail
// with EIO, like a dying disk. With EIO_FSYNC=1, fsync/fdatasync of such files fail with EIO too (once the byte
// budget is spent). Every other descriptor (sockets, pipes, stderr, files elsewhere) is untouched.
//
// Intercepted: write, pwrite, pwrite64, writev, pwritev, pwritev64 (libuv's fs writes use pwrite64 in its
// threadpool - `nm -D libuv.so.1` lists pwrite64/write/writev - and the tracker's state file uses write), plus
// fsync and fdatasync. The first injected failure prints one "eio_shim: ..." line on stderr so a test log shows
// the fault really fired. Build: cc -shared -fPIC -O2 -o eio_shim.so eio_shim.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

// The next definition of `name` (libc's), looked up once.
#define REAL(name) \
    static __typeof__(&name) real_##name; \
    if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

static atomic_llong written;   // bytes written so far to files under EIO_DIR
static atomic_int announced;   // the "fault fired" line was printed

// True when fd is a regular file under EIO_DIR (a path prefix, so it may name a folder or one file).
static int targeted(int fd) {
    const char* dir = getenv("EIO_DIR");
    if (!dir || !*dir) return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = '\0';
    return strncmp(path, dir, strlen(dir)) == 0;
}

static long long budget(void) {
    const char* s = getenv("EIO_AFTER");
    return s ? atoll(s) : 0;
}

// 1: fail this call with EIO. Otherwise `len` bytes are about to be written and count against the budget.
static int inject(int fd, size_t len, const char* what) {
    if (!targeted(fd)) return 0;
    if (atomic_load(&written) < budget()) {
        atomic_fetch_add(&written, (long long)len);
        return 0;
    }
    if (atomic_exchange(&announced, 1) == 0) {
        char line[160];
        int m = snprintf(line, sizeof line, "eio_shim: injecting EIO into %s (fd %d) after %lld bytes\n", what, fd,
                         (long long)atomic_load(&written));
        REAL(write);
        if (m > 0) (void)!real_write(2, line, (size_t)m);
    }
    errno = EIO;
    return 1;
}

static size_t iov_len(const struct iovec* iov, int n) {
    size_t t = 0;
    for (int i = 0; i < n; ++i) t += iov[i].iov_len;
    return t;
}


ssize_t write(int fd, const void* buf, size_t len) {
    REAL(write);
    if (inject(fd, len, "write")) return -1;
    return real_write(fd, buf, len);
}
ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) {
    REAL(pwrite);
    if (inject(fd, len, "pwrite")) return -1;
    return real_pwrite(fd, buf, len, off);
}
ssize_t pwrite64(int fd, const void* buf, size_t len, off64_t off) {
    REAL(pwrite64);
    if (inject(fd, len, "pwrite64")) return -1;
    return real_pwrite64(fd, buf, len, off);
}
ssize_t writev(int fd, const struct iovec* iov, int n) {
    REAL(writev);
    if (inject(fd, iov_len(iov, n), "writev")) return -1;
    return real_writev(fd, iov, n);
}
ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) {
    REAL(pwritev);
    if (inject(fd, iov_len(iov, n), "pwritev")) return -1;
    return real_pwritev(fd, iov, n, off);
}
ssize_t pwritev64(int fd, const struct iovec* iov, int n, off64_t off) {
    REAL(pwritev64);
    if (inject(fd, iov_len(iov, n), "pwritev64")) return -1;
    return real_pwritev64(fd, iov, n, off);
}

static int sync_fails(int fd) {
    const char* s = getenv("EIO_FSYNC");
    if (!s || strcmp(s, "1") != 0 || atomic_load(&written) < budget() || !targeted(fd)) return 0;
    errno = EIO;
    return 1;
}
int fsync(int fd) {
    REAL(fsync);
    if (sync_fails(fd)) return -1;
    return real_fsync(fd);
}
int fdatasync(int fd) {
    REAL(fdatasync);
    if (sync_fails(fd)) return -1;
    return real_fdatasync(fd);
}
