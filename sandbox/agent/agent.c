/*
 * outpost-agent: runs commands inside a workspace container for the host control plane.
 *
 * `docker exec` costs ~90 ms per command; a resident agent answering on a unix socket costs a few.
 * The main process only accepts connections and forks one handler per connection, so a crash or a
 * malformed request can only ever end that one connection. A handler runs exactly one command (or
 * answers one ping) and exits. It makes itself a child subreaper, so everything the command starts
 * (even double-forked daemons) stays below it and can be killed when the command ends.
 *
 * Wire format, both directions: 1 byte type, 4 byte big-endian payload length, payload (<= 1 MiB).
 * See sandbox/agent-client.ts for the other side. This is not a privilege boundary (it runs as the
 * student), but it parses bytes from the network, so every length is checked.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef OUTPOST_PROTOCOL_VERSION
#define OUTPOST_PROTOCOL_VERSION "dev"
#endif

#define MAX_FRAME (1u << 20)
#define CHUNK 65536
/* Output is read from the command only while less than this is waiting for the socket, so a slow
 * client makes the command block on its pipe instead of growing our memory. */
#define OUT_HIGH_WATER CHUNK
/* Stdin the command has not consumed yet; past this we stop reading the socket. */
#define STDIN_HIGH_WATER MAX_FRAME
#define FIRST_FRAME_TIMEOUT_MS 10000
/* After the tree is dead, output pipes reach EOF at once; this only guards against the odd
 * process we could not kill (e.g. stuck in uninterruptible sleep) holding a pipe open. */
#define DRAIN_TIMEOUT_MS 2000
#define FLUSH_TIMEOUT_MS 2000
/* A fork bomb keeps forking while we kill; each round kills everything seen, so this converges
 * quickly, but the cap guarantees the handler itself always finishes. */
#define KILL_ROUNDS 5000
#define MAX_ARGS 65536
#define MAX_ENV 65536

extern char **environ;

static void die(const char *msg) {
    fprintf(stderr, "outpost-agent: %s: %s\n", msg, strerror(errno));
    exit(1);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void out_of_memory(void);
static void *xmalloc(size_t n);

/* ---------------------------------------------------------------- byte buffers */

struct buf {
    char *data;
    size_t off, len, cap; /* live bytes are data[off .. off+len) */
};

static void buf_reserve(struct buf *b, size_t extra) {
    if (b->off + b->len + extra <= b->cap) return;
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) out_of_memory();
    b->data = p;
    b->cap = cap;
}

static void buf_append(struct buf *b, const void *data, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->off + b->len, data, n);
    b->len += n;
}

static void buf_consume(struct buf *b, size_t n) {
    b->off += n;
    b->len -= n;
    if (b->len == 0) b->off = 0;
}

static void put_header(char *p, char type, uint32_t n) {
    p[0] = type;
    p[1] = (char)(n >> 24);
    p[2] = (char)(n >> 16);
    p[3] = (char)(n >> 8);
    p[4] = (char)n;
}

static void queue_frame(struct buf *out, char type, const void *data, size_t n) {
    char h[5];
    put_header(h, type, (uint32_t)n);
    buf_append(out, h, 5);
    if (n) buf_append(out, data, n);
}

/* Appends s as a JSON string literal. */
static void json_str(struct buf *b, const char *s) {
    buf_append(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_append(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            buf_append(b, e, 6);
        } else {
            buf_append(b, s, 1);
        }
    }
    buf_append(b, "\"", 1);
}

/* ---------------------------------------------------------------- minimal JSON reader */

struct jp {
    const char *start, *p, *end;
    const char *err;
};

static int jfail(struct jp *j, const char *msg) {
    if (!j->err) j->err = msg;
    return -1;
}

static int jpeek(struct jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
    return j->p < j->end ? (unsigned char)*j->p : -1;
}

static int jeat(struct jp *j, char c, const char *msg) {
    if (jpeek(j) != c) return jfail(j, msg);
    j->p++;
    return 0;
}

static int jhex4(struct jp *j, unsigned *out) {
    if (j->end - j->p < 4) return jfail(j, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *j->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return jfail(j, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Returns a malloc'd NUL-terminated string. NUL inside is refused: argv, env and paths are C
 * strings, and silently cutting them would run something other than what was asked. */
static char *jstring(struct jp *j) {
    if (jpeek(j) != '"') { jfail(j, "expected a string"); return NULL; }
    j->p++;
    /* Decoding never makes a string longer than its encoding, so this bounds the output. */
    char *out = xmalloc((size_t)(j->end - j->p) + 1);
    size_t n = 0;
    for (;;) {
        if (j->p >= j->end) { jfail(j, "unterminated string"); goto bad; }
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"') break;
        if (c < 0x20) { jfail(j, "control character in string"); goto bad; }
        if (c != '\\') { out[n++] = (char)c; continue; }
        if (j->p >= j->end) { jfail(j, "unterminated string"); goto bad; }
        c = (unsigned char)*j->p++;
        switch (c) {
        case '"': case '\\': case '/': out[n++] = (char)c; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (jhex4(j, &cp)) goto bad;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u') { jfail(j, "unpaired surrogate"); goto bad; }
                j->p += 2;
                if (jhex4(j, &lo)) goto bad;
                if (lo < 0xDC00 || lo > 0xDFFF) { jfail(j, "unpaired surrogate"); goto bad; }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                jfail(j, "unpaired surrogate");
                goto bad;
            }
            if (cp == 0) { jfail(j, "strings may not contain NUL"); goto bad; }
            n += utf8_put(out + n, cp);
            break;
        }
        default: jfail(j, "bad escape in string"); goto bad;
        }
    }
    out[n] = 0;
    return out;
bad:
    free(out);
    return NULL;
}

static int jnumber(struct jp *j, double *out) {
    jpeek(j);
    const char *s = j->p, *p = j->p, *e = j->end;
    if (p < e && *p == '-') p++;
    if (p >= e || *p < '0' || *p > '9') return jfail(j, "expected a number");
    while (p < e && *p >= '0' && *p <= '9') p++;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9') return jfail(j, "bad number");
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return jfail(j, "bad number");
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    char tmp[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof tmp) return jfail(j, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = 0;
    *out = strtod(tmp, NULL);
    j->p = p;
    return 0;
}

static int jliteral(struct jp *j, const char *word) {
    size_t n = strlen(word);
    jpeek(j);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0) return jfail(j, "unexpected token");
    j->p += n;
    return 0;
}

static int jbool(struct jp *j, int *out) {
    int c = jpeek(j);
    if (c == 't') { *out = 1; return jliteral(j, "true"); }
    if (c == 'f') { *out = 0; return jliteral(j, "false"); }
    return jfail(j, "expected true or false");
}

/* Consumes a null if there is one; lets optional fields be sent as null. */
static int jnull(struct jp *j) {
    if (jpeek(j) != 'n') return 0;
    return jliteral(j, "null") ? -1 : 1;
}

typedef int (*jfield_fn)(struct jp *j, const char *key, void *ctx);

static int jobject(struct jp *j, jfield_fn fn, void *ctx) {
    if (jeat(j, '{', "expected an object")) return -1;
    if (jpeek(j) == '}') { j->p++; return 0; }
    for (;;) {
        char *key = jstring(j);
        if (!key) return -1;
        int r = jeat(j, ':', "expected ':'") ? -1 : fn(j, key, ctx);
        free(key);
        if (r) return -1;
        int c = jpeek(j);
        if (c == ',') { j->p++; continue; }
        if (c == '}') { j->p++; return 0; }
        return jfail(j, "expected ',' or '}'");
    }
}

static int jskip(struct jp *j, int depth);

static int jskip_field(struct jp *j, const char *key, void *ctx) {
    (void)key;
    return jskip(j, *(int *)ctx + 1);
}

/* Unknown fields are skipped so that a newer client can talk to an older agent. */
static int jskip(struct jp *j, int depth) {
    if (depth > 32) return jfail(j, "nested too deeply");
    int c = jpeek(j);
    if (c == '"') {
        char *s = jstring(j);
        free(s);
        return s ? 0 : -1;
    }
    if (c == '{') return jobject(j, jskip_field, &depth);
    if (c == '[') {
        j->p++;
        if (jpeek(j) == ']') { j->p++; return 0; }
        for (;;) {
            if (jskip(j, depth + 1)) return -1;
            c = jpeek(j);
            if (c == ',') { j->p++; continue; }
            if (c == ']') { j->p++; return 0; }
            return jfail(j, "expected ',' or ']'");
        }
    }
    if (c == 't') return jliteral(j, "true");
    if (c == 'f') return jliteral(j, "false");
    if (c == 'n') return jliteral(j, "null");
    double d;
    return jnumber(j, &d);
}

/* Parses a whole payload as one object; buffers are NUL-terminated by the frame reader. */
static const char *jparse(const char *data, size_t len, jfield_fn fn, void *ctx, char *errbuf, size_t errlen) {
    struct jp j = {data, data, data + len, NULL};
    if (jobject(&j, fn, ctx) == 0 && jpeek(&j) != -1) jfail(&j, "trailing data after the object");
    if (!j.err) return NULL;
    snprintf(errbuf, errlen, "invalid request JSON at byte %zu: %s", (size_t)(j.p - j.start), j.err);
    return errbuf;
}

/* ---------------------------------------------------------------- requests */

struct request {
    char **argv;
    size_t argc;
    char *cwd;
    char **env; /* "KEY=VALUE", keys unique */
    size_t envc;
    double timeout_ms, output_cap;
    int stdin_open, tty, cols, rows;
    const char *signal; /* K frames */
};

static int parse_size_field(struct jp *j, const char *key, void *ctx) {
    struct request *r = ctx;
    double d;
    if (strcmp(key, "cols") == 0 || strcmp(key, "rows") == 0) {
        if (jnumber(j, &d)) return -1;
        if (!(d >= 1 && d <= 65535)) return jfail(j, "cols and rows must be between 1 and 65535");
        *(strcmp(key, "cols") == 0 ? &r->cols : &r->rows) = (int)d;
        return 0;
    }
    return jskip(j, 1);
}

static int parse_env_field(struct jp *j, const char *key, void *ctx) {
    struct request *r = ctx;
    if (!key[0] || strchr(key, '=')) return jfail(j, "environment names must be non-empty and contain no '='");
    char *val = jstring(j);
    if (!val) return -1;
    size_t kl = strlen(key), vl = strlen(val);
    char *kv = xmalloc(kl + vl + 2);
    memcpy(kv, key, kl);
    kv[kl] = '=';
    memcpy(kv + kl + 1, val, vl + 1);
    free(val);
    for (size_t i = 0; i < r->envc; i++) {
        if (strncmp(r->env[i], kv, kl + 1) == 0) { free(r->env[i]); r->env[i] = kv; return 0; }
    }
    if (r->envc >= MAX_ENV) { free(kv); return jfail(j, "too many environment variables"); }
    r->env = realloc(r->env, (r->envc + 2) * sizeof *r->env);
    if (!r->env) out_of_memory();
    r->env[r->envc++] = kv;
    r->env[r->envc] = NULL;
    return 0;
}

static int parse_start_field(struct jp *j, const char *key, void *ctx) {
    struct request *r = ctx;
    int n;
    if (strcmp(key, "argv") == 0) {
        if (jeat(j, '[', "argv must be an array of strings")) return -1;
        if (jpeek(j) == ']') { j->p++; return 0; }
        for (;;) {
            if (r->argc >= MAX_ARGS) return jfail(j, "argv is too long");
            char *s = jstring(j);
            if (!s) return -1;
            r->argv = realloc(r->argv, (r->argc + 2) * sizeof *r->argv);
            if (!r->argv) out_of_memory();
            r->argv[r->argc++] = s;
            r->argv[r->argc] = NULL;
            int c = jpeek(j);
            if (c == ',') { j->p++; continue; }
            if (c == ']') { j->p++; return 0; }
            return jfail(j, "expected ',' or ']' in argv");
        }
    }
    if (strcmp(key, "cwd") == 0) {
        if ((n = jnull(j))) return n < 0 ? -1 : 0;
        free(r->cwd);
        return (r->cwd = jstring(j)) ? 0 : -1;
    }
    if (strcmp(key, "env") == 0) {
        if ((n = jnull(j))) return n < 0 ? -1 : 0;
        return jobject(j, parse_env_field, r);
    }
    if (strcmp(key, "timeoutMs") == 0) {
        if (jnumber(j, &r->timeout_ms)) return -1;
        if (!(r->timeout_ms >= 0 && r->timeout_ms <= 1e12)) return jfail(j, "timeoutMs out of range");
        return 0;
    }
    if (strcmp(key, "outputCap") == 0) {
        if (jnumber(j, &r->output_cap)) return -1;
        if (!(r->output_cap >= 0 && r->output_cap <= 9e15)) return jfail(j, "outputCap out of range");
        return 0;
    }
    if (strcmp(key, "stdin") == 0) return jbool(j, &r->stdin_open);
    if (strcmp(key, "tty") == 0) {
        if ((n = jnull(j))) return n < 0 ? -1 : 0;
        r->tty = 1;
        return jobject(j, parse_size_field, r);
    }
    return jskip(j, 1);
}

static int parse_signal_field(struct jp *j, const char *key, void *ctx) {
    struct request *r = ctx;
    if (strcmp(key, "signal") != 0) return jskip(j, 1);
    char *s = jstring(j);
    if (!s) return -1;
    static const char *const names[] = {"INT", "TERM", "KILL", "HUP"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strcmp(s, names[i]) == 0) { r->signal = names[i]; free(s); return 0; }
    }
    free(s);
    return jfail(j, "signal must be one of INT, TERM, KILL, HUP");
}

/* ---------------------------------------------------------------- the handler's state */

static int sock = -1;
static pid_t child = -1;
static int child_status, child_reaped;
static int64_t start_ms, end_ms;
static int sig_pipe[2] = {-1, -1};
static struct buf out, in, stdin_q;

static void out_of_memory(void) {
    fprintf(stderr, "outpost-agent: out of memory\n");
    if (child > 0) kill(-child, SIGKILL);
    _exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory();
    return p;
}

static void on_sigchld(int sig) {
    (void)sig;
    int saved = errno;
    char c = 0;
    if (write(sig_pipe[1], &c, 1) < 0) { /* pipe full: a wake-up is already pending */ }
    errno = saved;
}

/* Returns 1 while this process still has children (alive or not yet reaped), 0 when none. */
static int reap(void) {
    for (;;) {
        int st;
        /* __WALL: children created by clone() with an unusual exit signal must be reaped too. */
        pid_t p = waitpid(-1, &st, WNOHANG | __WALL);
        if (p > 0) {
            if (p == child) { child_status = st; child_reaped = 1; end_ms = now_ms(); }
            continue;
        }
        if (p == 0) return 1;
        if (errno == EINTR) continue;
        return 0;
    }
}

struct proc { pid_t pid, ppid; char mark; /* 0 unknown, 1 descendant, 2 not */ };

static int proc_cmp(const void *a, const void *b) {
    pid_t x = ((const struct proc *)a)->pid, y = ((const struct proc *)b)->pid;
    return (x > y) - (x < y);
}

/* Sends sig to every live process whose parent chain reaches this handler. /proc is the only
 * complete view: process groups and sessions can be left by setsid(), parent links cannot
 * (orphans are re-parented to us, the subreaper). Returns the count signalled, -1 without /proc. */
static int signal_descendants(int sig) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    struct proc *ps = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    pid_t self = getpid();
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[64], line[512];
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t r = read(fd, line, sizeof line - 1);
        close(fd);
        if (r <= 0) continue;
        line[r] = 0;
        /* The command name may contain ')' and spaces; the fields after the last ')' cannot. */
        char *close_paren = strrchr(line, ')'), state;
        int pid, ppid;
        if (!close_paren || sscanf(line, "%d", &pid) != 1 || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) continue;
        if (state == 'Z' || state == 'X') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            struct proc *np = realloc(ps, cap * sizeof *ps);
            if (!np) { free(ps); closedir(d); return -1; }
            ps = np;
        }
        ps[n++] = (struct proc){pid, ppid, 0};
    }
    closedir(d);
    qsort(ps, n, sizeof *ps, proc_cmp);
    /* Each pass settles at least one more generation; depth is bounded by n. */
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (ps[i].mark) continue;
            char m = 0;
            if (ps[i].ppid == self) m = 1;
            else {
                struct proc key = {ps[i].ppid, 0, 0};
                struct proc *parent = bsearch(&key, ps, n, sizeof *ps, proc_cmp);
                if (!parent) m = 2;
                else if (parent->mark) m = parent->mark;
            }
            if (m) { ps[i].mark = m; changed = 1; }
        }
    }
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        if (ps[i].mark == 1 && kill(ps[i].pid, sig) == 0) count++;
    }
    free(ps);
    return count;
}

/* Kills and reaps everything below this handler, repeating until nothing is left. */
static void kill_tree(void) {
    if (child > 0) kill(-child, SIGKILL); /* the common case in one syscall */
    for (int round = 0; round < KILL_ROUNDS; round++) {
        if (!reap()) return;
        if (signal_descendants(SIGKILL) < 0 && child > 0 && !child_reaped) kill(child, SIGKILL);
        struct timespec ts = {0, round < 10 ? 200000 : 2000000};
        nanosleep(&ts, NULL);
    }
}

/* Best-effort write of whatever is queued, used when we are about to give up on the connection. */
static void flush_out(int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (out.len) {
        ssize_t w = send(sock, out.data + out.off, out.len, MSG_NOSIGNAL);
        if (w > 0) { buf_consume(&out, (size_t)w); continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN) return;
        int left = (int)(deadline - now_ms());
        if (left <= 0) return;
        struct pollfd p = {sock, POLLOUT, 0};
        poll(&p, 1, left);
    }
}

static void fail_connection(const char *msg) {
    kill_tree();
    struct buf j = {0};
    buf_append(&j, "{\"message\":", 11);
    json_str(&j, msg);
    buf_append(&j, "}", 1);
    queue_frame(&out, 'F', j.data, j.len);
    flush_out(FLUSH_TIMEOUT_MS);
    _exit(0);
}

static uint64_t oom_kills(void) {
    static const char *const paths[] = {"/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"};
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "re");
        if (!f) continue;
        char line[128];
        uint64_t v = 0;
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "oom_kill ", 9) == 0) { v = strtoull(line + 9, NULL, 10); break; }
        }
        fclose(f);
        return v;
    }
    return 0;
}

static const char *signal_name(int sig) {
    static const struct { int num; const char *name; } names[] = {
        {SIGHUP, "HUP"}, {SIGINT, "INT"}, {SIGQUIT, "QUIT"}, {SIGILL, "ILL"}, {SIGTRAP, "TRAP"},
        {SIGABRT, "ABRT"}, {SIGBUS, "BUS"}, {SIGFPE, "FPE"}, {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},
        {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"}, {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGTERM, "TERM"},
        {SIGXCPU, "XCPU"}, {SIGXFSZ, "XFSZ"}, {SIGSYS, "SYS"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"},
    };
    static char other[16];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (names[i].num == sig) return names[i].name;
    }
    snprintf(other, sizeof other, "SIG%d", sig);
    return other;
}

/* ---------------------------------------------------------------- output streams */

struct stream {
    int fd;
    char type; /* '1' or '2' */
    uint64_t total, forwarded;
    int truncated;
};

static uint64_t output_cap; /* 0 = unlimited */

static int stream_capped(const struct stream *s) {
    return output_cap && s->forwarded >= output_cap;
}

static void emit(struct stream *s, const char *data, size_t n) {
    s->total += n;
    size_t fwd = n;
    if (output_cap) {
        uint64_t room = output_cap - (s->forwarded < output_cap ? s->forwarded : output_cap);
        if (fwd > room) { fwd = (size_t)room; s->truncated = 1; }
    }
    if (fwd) {
        queue_frame(&out, s->type, data, fwd);
        s->forwarded += fwd;
    }
}

/* Returns the number of bytes read (0 on EOF or nothing available). */
static size_t pump(struct stream *s) {
    static char chunk[CHUNK];
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) { /* EOF, or EIO from a pty master once no slave is open */
        close(s->fd);
        s->fd = -1;
        return 0;
    }
    emit(s, chunk, (size_t)n);
    return (size_t)n;
}

/* ---------------------------------------------------------------- running a command */

static char **merged_env(struct request *rq) {
    size_t n = 0;
    for (char **e = environ; e && *e; e++) n++;
    char **env = xmalloc((n + rq->envc + 1) * sizeof *env);
    size_t k = 0;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t kl = eq ? (size_t)(eq - *e) : strlen(*e);
        int overridden = 0;
        for (size_t i = 0; i < rq->envc && !overridden; i++) {
            overridden = strncmp(rq->env[i], *e, kl) == 0 && rq->env[i][kl] == '=';
        }
        if (!overridden) env[k++] = *e;
    }
    for (size_t i = 0; i < rq->envc; i++) env[k++] = rq->env[i];
    env[k] = NULL;
    return env;
}

struct exec_failure { int stage; int err; }; /* stage 1: chdir, 2: exec */

static void report_and_exit(int fd, int stage, int code) {
    struct exec_failure f = {stage, errno};
    if (write(fd, &f, sizeof f) < 0) { /* the parent then only sees the exit code */ }
    _exit(code);
}

static void exec_child(struct request *rq, char **env, int in_fd, int out_fd, int err_fd, int tty_slave, int report_fd) {
    /* Ignored signals stay ignored across exec (we ignore SIGPIPE, whoever started us may have
     * ignored INT/QUIT); the command must start with the defaults, or `yes | head` never ends. */
    struct sigaction sa = {0};
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &sa, NULL);
    /* Descriptors the agent itself inherited must not reach students' commands. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (tty_slave >= 0) {
        ioctl(tty_slave, TIOCSCTTY, 0);
        in_fd = out_fd = err_fd = tty_slave;
    }
    /* The originals are all O_CLOEXEC; only these copies reach the command. */
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) report_and_exit(report_fd, 2, 127);
    if (rq->cwd && chdir(rq->cwd) < 0) report_and_exit(report_fd, 1, 126);
    environ = env; /* so execvp searches the PATH the command asked for */
    execvp(rq->argv[0], rq->argv);
    report_and_exit(report_fd, 2, 127);
}

static void set_flags(int fd, int nonblock) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (nonblock) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void run(struct request *rq) {
    int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, rep_p[2];
    int master = -1, slave = -1, devnull = -1;
    struct stream so = {-1, '1', 0, 0, 0}, se = {-1, '2', 0, 0, 0};
    int stdin_fd = -1;

    output_cap = (uint64_t)rq->output_cap;
    if (rq->tty) {
        struct winsize ws = {(unsigned short)rq->rows, (unsigned short)rq->cols, 0, 0};
        if (openpty(&master, &slave, NULL, NULL, &ws) < 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "cannot allocate a pseudo-terminal: %s", strerror(errno));
            fail_connection(msg);
        }
        set_flags(master, 1);
        set_flags(slave, 0);
        so.fd = stdin_fd = master;
        int has_term = 0;
        for (size_t i = 0; i < rq->envc; i++) has_term |= strncmp(rq->env[i], "TERM=", 5) == 0;
        if (!has_term) {
            rq->env = realloc(rq->env, (rq->envc + 2) * sizeof *rq->env);
            if (!rq->env) out_of_memory();
            rq->env[rq->envc++] = "TERM=xterm-256color";
            rq->env[rq->envc] = NULL;
        }
    } else {
        if (pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
            (rq->stdin_open ? pipe2(in_p, O_CLOEXEC) : (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "cannot create pipes: %s", strerror(errno));
            fail_connection(msg);
        }
        so.fd = out_p[0];
        se.fd = err_p[0];
        set_flags(so.fd, 1);
        set_flags(se.fd, 1);
        if (rq->stdin_open) { stdin_fd = in_p[1]; set_flags(stdin_fd, 1); }
    }
    if (pipe2(rep_p, O_CLOEXEC) < 0) fail_connection("cannot create a pipe");
    char **env = merged_env(rq);

    uint64_t oom_before = oom_kills();
    start_ms = now_ms();
    child = fork();
    if (child < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot start the command (fork failed: %s)", strerror(errno));
        fail_connection(msg);
    }
    if (child == 0) exec_child(rq, env, rq->stdin_open ? in_p[0] : devnull, out_p[1], err_p[1], slave, rep_p[1]);

    close(rep_p[1]);
    if (slave >= 0) close(slave);
    if (in_p[0] >= 0) close(in_p[0]);
    if (out_p[1] >= 0) close(out_p[1]);
    if (err_p[1] >= 0) close(err_p[1]);
    if (devnull >= 0) close(devnull);

    struct exec_failure fail;
    ssize_t got;
    do got = read(rep_p[0], &fail, sizeof fail); while (got < 0 && errno == EINTR);
    close(rep_p[0]);
    if (got == (ssize_t)sizeof fail) {
        char msg[4096];
        if (fail.stage == 1) snprintf(msg, sizeof msg, "outpost-agent: cannot change directory to \"%s\": %s\n", rq->cwd, strerror(fail.err));
        else snprintf(msg, sizeof msg, "outpost-agent: cannot run \"%s\": %s\n", rq->argv[0], strerror(fail.err));
        emit(rq->tty ? &so : &se, msg, strlen(msg));
    }

    int64_t deadline = rq->timeout_ms > 0 ? start_ms + (int64_t)rq->timeout_ms : -1;
    int64_t drain_deadline = -1;
    int timed_out = 0, finished = 0, x_queued = 0, stdin_eof = 0;

    for (;;) {
        int64_t now = now_ms();
        if (!finished && !child_reaped && deadline >= 0 && now >= deadline) {
            timed_out = 1;
            kill_tree();
            if (!child_reaped) { /* unkillable (e.g. stuck in the kernel): report it as killed anyway */
                child_status = SIGKILL;
                child_reaped = 1;
                end_ms = now_ms();
            }
        }
        if (!finished && child_reaped) {
            /* The command is done: nothing it left behind may outlive it. */
            kill_tree();
            finished = 1;
            drain_deadline = now_ms() + DRAIN_TIMEOUT_MS;
            if (stdin_fd >= 0 && stdin_fd != master) close(stdin_fd);
            stdin_fd = -1;
            stdin_q.len = stdin_q.off = 0;
        }
        /* The drain deadline only counts while the pipes are idle, not while the client is slow. */
        int blocked_on_client = out.len >= OUT_HIGH_WATER;
        if (finished && !x_queued && ((so.fd < 0 && se.fd < 0) || (!blocked_on_client && now_ms() >= drain_deadline))) {
            if (so.fd >= 0) close(so.fd);
            if (se.fd >= 0) close(se.fd);
            so.fd = se.fd = -1;
            int code, sig = 0;
            if (WIFEXITED(child_status)) code = WEXITSTATUS(child_status);
            else if (WIFSIGNALED(child_status)) { sig = WTERMSIG(child_status); code = 128 + sig; }
            else code = 255;
            if (timed_out) code = 124;
            char x[512], sigjson[32] = "null";
            if (sig) snprintf(sigjson, sizeof sigjson, "\"%s\"", signal_name(sig));
            int n = snprintf(x, sizeof x,
                "{\"exitCode\":%d,\"signal\":%s,\"timedOut\":%s,\"oomKilled\":%s,\"durationMs\":%lld,"
                "\"stdoutBytes\":%llu,\"stderrBytes\":%llu,\"truncated\":{\"stdout\":%s,\"stderr\":%s}}",
                code, sigjson, timed_out ? "true" : "false", oom_kills() > oom_before ? "true" : "false",
                (long long)(end_ms - start_ms), (unsigned long long)so.total, (unsigned long long)se.total,
                so.truncated ? "true" : "false", se.truncated ? "true" : "false");
            queue_frame(&out, 'X', x, (size_t)n);
            x_queued = 1;
        }
        if (x_queued && out.len == 0) break;

        struct pollfd pf[5];
        int np = 0, i_sock, i_sig, i_so = -1, i_se = -1, i_in = -1;
        short sev = 0;
        if (!x_queued && stdin_q.len < STDIN_HIGH_WATER) sev |= POLLIN;
        if (out.len) sev |= POLLOUT;
        i_sock = np; pf[np++] = (struct pollfd){sock, sev, 0};
        i_sig = np; pf[np++] = (struct pollfd){sig_pipe[0], POLLIN, 0};
        if (so.fd >= 0 && (out.len < OUT_HIGH_WATER || stream_capped(&so))) { i_so = np; pf[np++] = (struct pollfd){so.fd, POLLIN, 0}; }
        if (se.fd >= 0 && (out.len < OUT_HIGH_WATER || stream_capped(&se))) { i_se = np; pf[np++] = (struct pollfd){se.fd, POLLIN, 0}; }
        if (stdin_fd >= 0 && stdin_q.len) { i_in = np; pf[np++] = (struct pollfd){stdin_fd, POLLOUT, 0}; }

        int64_t t = -1;
        if (!finished) t = deadline;
        else if (!x_queued && !blocked_on_client) t = drain_deadline;
        int wait = -1;
        if (t >= 0) {
            int64_t left = t - now_ms();
            wait = left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
        }
        if (poll(pf, (nfds_t)np, wait) < 0) {
            if (errno == EINTR) continue;
            break;
        }

        if (pf[i_sig].revents) {
            char drain[64];
            while (read(sig_pipe[0], drain, sizeof drain) > 0) {}
            reap();
        }
        short rev = pf[i_sock].revents;
        if (rev & POLLOUT) {
            ssize_t w = send(sock, out.data + out.off, out.len, MSG_NOSIGNAL);
            if (w > 0) buf_consume(&out, (size_t)w);
            else if (w < 0 && errno != EAGAIN && errno != EINTR) { kill_tree(); _exit(0); }
        }
        if (rev & POLLIN) {
            buf_reserve(&in, CHUNK);
            ssize_t r = read(sock, in.data + in.off + in.len, CHUNK);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) { kill_tree(); _exit(0); }
            if (r > 0) in.len += (size_t)r;
            while (in.len >= 5) {
                const unsigned char *h = (const unsigned char *)in.data + in.off;
                uint32_t len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
                if (len > MAX_FRAME) fail_connection("frame larger than 1 MiB");
                if (in.len < 5 + (size_t)len) { buf_reserve(&in, 5 + len - in.len); break; }
                char type = (char)h[0];
                char *payload = in.data + in.off + 5;
                if (type == 'I') {
                    if (stdin_fd >= 0 && !stdin_eof) buf_append(&stdin_q, payload, len);
                } else if (type == 'E') {
                    if (!rq->tty) stdin_eof = 1;
                } else if (type == 'R' || type == 'K') {
                    struct request c = {0};
                    char err[160];
                    const char *e = jparse(payload, len, type == 'R' ? parse_size_field : parse_signal_field, &c, err, sizeof err);
                    if (e) fail_connection(e);
                    if (type == 'R') {
                        if (!c.cols || !c.rows) fail_connection("resize needs cols and rows");
                        struct winsize ws = {(unsigned short)c.rows, (unsigned short)c.cols, 0, 0};
                        if (master >= 0) ioctl(master, TIOCSWINSZ, &ws);
                    } else if (!c.signal) {
                        fail_connection("signal frame without a signal");
                    } else if (!child_reaped) {
                        if (strcmp(c.signal, "KILL") == 0) kill_tree();
                        else if (strcmp(c.signal, "TERM") == 0) signal_descendants(SIGTERM);
                        else {
                            int sig = strcmp(c.signal, "INT") == 0 ? SIGINT : SIGHUP;
                            pid_t fg = master >= 0 ? tcgetpgrp(master) : -1;
                            kill(fg > 0 ? -fg : -child, sig);
                        }
                    }
                } else {
                    char msg[64];
                    snprintf(msg, sizeof msg, "unexpected frame type 0x%02x", (unsigned char)type);
                    fail_connection(msg);
                }
                buf_consume(&in, 5 + (size_t)len);
            }
        } else if (rev & (POLLHUP | POLLERR)) {
            kill_tree();
            _exit(0);
        }
        size_t got_out = 0;
        if (i_so >= 0 && pf[i_so].revents) got_out += pump(&so);
        if (i_se >= 0 && pf[i_se].revents) got_out += pump(&se);
        if (finished && got_out) drain_deadline = now_ms() + DRAIN_TIMEOUT_MS;
        if (master >= 0 && so.fd < 0) { /* pump closed the pty master */
            master = -1;
            stdin_fd = -1;
            stdin_q.len = stdin_q.off = 0;
        }
        if (i_in >= 0 && pf[i_in].revents) {
            ssize_t w = write(stdin_fd, stdin_q.data + stdin_q.off, stdin_q.len);
            if (w > 0) buf_consume(&stdin_q, (size_t)w);
            else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                /* The command closed its stdin; what it did not read is dropped, as with a pipe. */
                if (stdin_fd != master) close(stdin_fd);
                stdin_fd = -1;
                stdin_q.len = stdin_q.off = 0;
            }
        }
        if (stdin_eof && stdin_fd >= 0 && stdin_q.len == 0) {
            close(stdin_fd);
            stdin_fd = -1;
        }
    }
    _exit(0);
}

/* ---------------------------------------------------------------- one connection */

static int read_full(int fd, void *dst, size_t n, int64_t deadline) {
    char *p = dst;
    while (n) {
        int left = (int)(deadline - now_ms());
        if (left <= 0) return -1;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return -1;
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void handle_connection(int fd, pid_t agent_pid) {
    sock = fd;
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) _exit(1);
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    /* Orphans of the command are re-parented to us rather than to PID 1, so none can escape. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    unsigned char h[5];
    int64_t deadline = now_ms() + FIRST_FRAME_TIMEOUT_MS;
    if (read_full(fd, h, 5, deadline) < 0) _exit(0);
    uint32_t len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
    if (len > MAX_FRAME) _exit(0);
    char *payload = xmalloc((size_t)len + 1);
    if (read_full(fd, payload, len, deadline) < 0) _exit(0);
    payload[len] = 0;

    if (h[0] == 'P') {
        char reply[96];
        int n = snprintf(reply, sizeof reply, "{\"version\":\"%s\",\"pid\":%d}", OUTPOST_PROTOCOL_VERSION, (int)agent_pid);
        queue_frame(&out, 'P', reply, (size_t)n);
        flush_out(FLUSH_TIMEOUT_MS);
        _exit(0);
    }
    if (h[0] != 'S') fail_connection("the first frame must be P (ping) or S (start)");

    struct request rq = {0};
    char err[160];
    const char *e = jparse(payload, len, parse_start_field, &rq, err, sizeof err);
    if (!e && rq.argc == 0) e = "argv must be a non-empty array of strings";
    if (!e && rq.argv[0][0] == 0) e = "argv[0] must not be empty";
    if (!e && rq.cwd && rq.cwd[0] == 0) e = "cwd must not be empty";
    if (!e && rq.tty && (!rq.cols || !rq.rows)) e = "tty needs cols and rows";
    if (e) fail_connection(e);
    free(payload);
    set_flags(fd, 1);
    run(&rq);
}

/* ---------------------------------------------------------------- main: accept and fork */

static void reap_handlers(int sig) {
    (void)sig;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    errno = saved;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int bad_args = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) path = argv[++i];
        else if (strcmp(argv[i], "--version") == 0) { puts(OUTPOST_PROTOCOL_VERSION); return 0; }
        else bad_args = 1;
    }
    if (!path || bad_args) {
        fprintf(stderr, "usage: outpost-agent --socket PATH\n");
        return 2;
    }
    struct sockaddr_un addr = {0};
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "outpost-agent: socket path longer than %zu bytes: %s\n", sizeof addr.sun_path - 1, path);
        return 2;
    }
    strcpy(addr.sun_path, path);

    struct sigaction sa = {0};
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = reap_handlers;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "outpost-agent: %s exists and is not a socket; refusing to replace it\n", path);
            return 1;
        }
        if (unlink(path) < 0) die("cannot remove the stale socket");
    }
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (chmod(path, 0600) < 0) die("chmod");
    if (listen(lfd, SOMAXCONN) < 0) die("listen");

    pid_t self = getpid();
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno != EINTR && errno != ECONNABORTED) {
                /* Out of fds or memory: back off instead of spinning; the agent must stay up. */
                struct timespec ts = {0, 50000000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        pid_t p = fork();
        if (p == 0) {
            close(lfd);
            handle_connection(c, self);
            _exit(0);
        }
        close(c);
    }
}
