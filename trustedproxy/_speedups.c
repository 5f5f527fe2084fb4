/* trustedproxy._speedups: the compiled request path of TrustedProxyMiddleware.
 *
 * The Python method TrustedProxyMiddleware._call_python (wsgi.py) is the
 * reference: it defines what a request does. This module repeats, in C, what
 * it does for the usual requests, and hands every other request to it whole:
 *
 *   - the peer's trust, the no-header decision and each single-valued header's
 *     parse are read from the engine's own bounded caches (engine.py), which the
 *     Python path fills; a miss sends the request to Python;
 *   - X-Forwarded-For is walked here when every element the walk reaches is a
 *     bare IPv4 or IPv6 address (the form proxies write); a port, brackets, an
 *     empty or invalid element, a long header, more commas than max_hops:
 *     Python;
 *   - Forwarded, hop_aligned and a prefix to strip from PATH_INFO: Python.
 *
 * A request is first read without changing anything (phase 1); only once this
 * module knows it can finish the request does it change the environ (phase 2),
 * so handing over to Python is always clean. tests/test_speedups.py checks,
 * with random policies and requests, that both paths leave the same environ
 * and an equal Decision.
 *
 * Also here: Matcher, the trusted networks as packed sorted bounds, with the
 * same strict address parsing as addresses.parse_ip (the platform's
 * inet_pton, libc's or Winsock's, as Python's socket.inet_pton uses). A long
 * list also gets, per family, a table of 16-byte buckets, one per slice of
 * the family's span, that usually decides a lookup alone (one cache line
 * read, not two), and a small map of the slices with no bound, which decides
 * without the bucket.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#if PY_VERSION_HEX < 0x030C0000
/* T_OBJECT_EX; from 3.12 Python.h has Py_T_OBJECT_EX and this header is
 * deprecated. */
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif
#ifdef _WIN32
/* inet_pton and inet_ntop (ws2_32, linked by setup.py); after Python.h, as
 * CPython's own socket module includes them, and without the rest of
 * windows.h, whose macros (small, interface, ...) take ordinary names. No
 * mmap: the bucket tables come from PyMem_Calloc (see tables_alloc). */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <sys/mman.h>
#endif
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#define PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define PREFETCH(p) ((void)(p))
#endif
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* Windows' C runtime makes environ (the process environment) a macro; here
 * the name always means a WSGI environ. */
#ifdef environ
#undef environ
#endif

/* A dict with room for n items without resizing. */
#if PY_VERSION_HEX < 0x030D0000
#define new_dict(n) _PyDict_NewPresized(n)
#else
#define new_dict(n) PyDict_New()
#endif
/* How many untrusted peers' decisions are remembered (engine.CACHE_SIZE). */
#define UNTRUSTED_CACHE_SIZE 4096

/* Longest valid address text (addresses._LONGEST). */
#define LONGEST 45
/* Longest X-Forwarded-For value walked here (engine._MAX_FAST_HEADER). */
#define MAX_FAST_HEADER 1024
/* Most X-Forwarded-For parts walked here; longer lists go to Python. */
#define MAX_PARTS 64
/* Longest comma-separated part looked at (engine._REACH): a longer one is
 * invalid, and the walk goes to Python. */
#define REACH 256

/* ------------------------------------------------------------------ strings */

static PyObject *S_call_python, *S_fix_python, *S_decide, *S___call__, *S_REMOTE_ADDR,
    *S_HTTP_X_FORWARDED_FOR, *S_url_scheme,
    *S_HTTP_HOST, *S_SERVER_NAME, *S_SERVER_PORT, *S_HTTPS, *S_REQUEST_SCHEME, *S_SCRIPT_NAME,
    *S_on, *S_https, *S_empty, *S_ORIG, *S_DECISION, *S___dict__, *S_element, *S_verdict,
    *S_trusted_v, *S_client_v, *S_unvisited_v, *S_peer, *S_trusted, *S_strip_prefix,
    *S_chain, *S_client, *S_forwarded_for, *S_scheme, *S_host, *S_server, *S_port, *S_prefix,
    *S_kept, *S_removed, *S_sources, *S_seen, *S_learn, *S_comma, *S_x_forwarded_for,
    *S_forwarded, *S_headers, *S_http, *S_ws, *S_wss, *S_websocket, *S_type, *S_extensions,
    *S_orig, *S_decision, *S_trustedproxy, *S_root_path, *S_path, *S_raw_path, *B_host,
    *B_x_forwarded_for, *B_forwarded, *ZERO, *EMPTY_TUPLE, *MISSING;

/* ------------------------------------------------------------------ addresses */

static uint32_t
be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t
be64(const unsigned char *b)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | b[i];
    return value;
}

/* IPv6 values are u128s, used only through the helpers below: be128 (16
 * big-endian bytes), u128_lt, u128_eq, u128_sub (modulo 2**128), u128_shr
 * (by 0 to 127 bits), u128_low64, u128_below (less than a 64-bit limit) and
 * bit_length. gcc and clang have a native 128-bit integer, and the helpers
 * are its operators; MSVC has none, so there (or with
 * TRUSTEDPROXY_PORTABLE_U128, which tests/CI use to test it here) a u128 is
 * two 64-bit halves. */
#if defined(__SIZEOF_INT128__) && !defined(TRUSTEDPROXY_PORTABLE_U128)

typedef unsigned __int128 u128;

static inline u128
be128(const unsigned char *b)
{
    return (u128)be64(b) << 64 | be64(b + 8);
}

static inline int
u128_lt(u128 a, u128 b)
{
    return a < b;
}

static inline int
u128_eq(u128 a, u128 b)
{
    return a == b;
}

static inline u128
u128_sub(u128 a, u128 b)
{
    return a - b;
}

static inline u128
u128_shr(u128 a, int n)
{
    return a >> n;
}

static inline uint64_t
u128_low64(u128 a)
{
    return (uint64_t)a;
}

static inline int
u128_below(u128 a, uint64_t limit)
{
    return a < limit;
}

static int
bit_length(u128 value)
{
    int bits = 0;
    while (value) {
        bits++;
        value >>= 1;
    }
    return bits;
}

#else

typedef struct {
    uint64_t hi, lo;
} u128;

static inline u128
be128(const unsigned char *b)
{
    u128 value = {be64(b), be64(b + 8)};
    return value;
}

static inline int
u128_lt(u128 a, u128 b)
{
    return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

static inline int
u128_eq(u128 a, u128 b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

static inline u128
u128_sub(u128 a, u128 b)
{
    u128 r = {a.hi - b.hi - (a.lo < b.lo), a.lo - b.lo};  /* borrow from the low half */
    return r;
}

static inline u128
u128_shr(u128 a, int n)
{
    u128 r;
    if (n == 0)
        return a;  /* a.hi << 64 below would be undefined */
    if (n >= 64) {
        r.hi = 0;
        r.lo = a.hi >> (n - 64);
    }
    else {
        r.hi = a.hi >> n;
        r.lo = a.lo >> n | a.hi << (64 - n);
    }
    return r;
}

static inline uint64_t
u128_low64(u128 a)
{
    return a.lo;
}

static inline int
u128_below(u128 a, uint64_t limit)
{
    return a.hi == 0 && a.lo < limit;
}

static int
bit_length(u128 value)
{
    int bits = value.hi ? 64 : 0;
    for (uint64_t word = value.hi ? value.hi : value.lo; word; word >>= 1)
        bits++;
    return bits;
}

#endif

/* An address parsed from text: family 4 or 6 (0: not an address). An
 * IPv4-mapped IPv6 address is folded to IPv4 (family 4), as in addresses.py. */
typedef struct {
    int family;
    uint32_t v4;
    u128 v6;
    unsigned char bytes[16];  /* the inet_pton result of IPv6 text */
} Address;

/* Parse bare address text exactly as addresses.parse_ip does: a dotted quad
 * or IPv6 text accepted by inet_pton, no more than LONGEST characters. */
static int
parse_address(const char *text, Py_ssize_t n, Address *out)
{
    char buf[LONGEST + 1];
    out->family = 0;
    if (n > LONGEST || memchr(text, '\0', (size_t)n) != NULL)
        return 0;
    memcpy(buf, text, (size_t)n);
    buf[n] = '\0';
    if (memchr(text, ':', (size_t)n) != NULL) {
        if (inet_pton(AF_INET6, buf, out->bytes) != 1)
            return 0;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out->bytes, mapped, 12) == 0) {
            out->v4 = be32(out->bytes + 12);
            out->family = 4;
        }
        else {
            out->v6 = be128(out->bytes);
            out->family = 6;
        }
        return out->family;
    }
    unsigned char b4[4];
    if (inet_pton(AF_INET, buf, b4) != 1)
        return 0;
    out->v4 = be32(b4);
    out->family = 4;
    return 4;
}

/* ------------------------------------------------------------------ Matcher */

/* Lists longer than this get bucket tables (addresses._INDEXED). */
#define INDEXED 256
#define SLICES 65536
/* Bounds a bucket describes by their 16 bits below the slice bits. */
#define FEW 5

/* A slice's 2 bits in a kinds map (see Matcher): it holds bounds, or none
 * and lies wholly outside or inside a network. */
enum { SLICE_BOUNDS = 0, SLICE_OUTSIDE = 1, SLICE_INSIDE = 3 };

static inline int
slice_kind(const uint8_t *kinds, size_t s)
{
    return kinds[s >> 2] >> ((s & 3) * 2) & 3;
}

/* One slice of a family's span (see Matcher). 16 bytes: four to a cache line.
 * count is the number of the slice's bounds, FEW + 1 meaning more than FEW. */
typedef struct {
    uint32_t first;      /* index of the slice's first bound (of the next one if none) */
    uint16_t count;
    uint16_t low[FEW];   /* the 16 bits right below the slice bits of its first bounds */
} Bucket;

typedef struct {
    PyObject_HEAD
    uint32_t *v4;  /* sorted bounds: first0, last0, first1, last1, ... */
    Py_ssize_t n4;
    u128 *v6;
    Py_ssize_t n6;
    /* For long lists, per family, one Bucket for each of SLICES equal slices
     * of the family's span (IPv4: the /16s). A lookup after a gc.collect()
     * finds its caches cold; at 100,000 networks each memory read then costs
     * about as much as the rest of the lookup. A slice holds a few bounds, so
     * its bucket alone usually decides: the bounds <= key are the bucket's
     * first plus those whose low bits are below the key's, and their parity
     * says whether the key is inside a network. Only a slice with more than
     * FEW bounds, or an IPv6 key whose low bits equal a bound's (16 bits of a
     * 128-bit offset are not the whole of it), reads the bounds themselves.
     * Many slices hold no bound at all (a third at 100,000 networks, most
     * below that); 2 bits a slice (16 KiB a family, small enough to stay
     * cached) say so and answer those lookups without the bucket. */
    Bucket *b4, *b6;
    uint8_t *k4, *k6;    /* kinds maps: SLICES / 4 bytes each */
    void *tables;        /* the memory of b4 and b6 (see tables_alloc) */
    size_t tables_size;  /* > 0: mapped (tables_free) */
    u128 base6;
    int shift6;    /* IPv6 slice: (address - base6) >> shift6 */
    int low6;      /* IPv6 low bits: (address - base6) >> low6, 16 bits kept */
} Matcher;

/* bisect_right(bounds, key) restricted to [lo, hi) (every bound before lo is
 * <= key, every bound from hi on is > key), then: in a network when an odd
 * number of bounds lie at or below key, or a last bound equals it. */
#define MATCH_BODY(less, equal)                                     \
    while (lo < hi) {                                               \
        Py_ssize_t mid = (lo + hi) >> 1;                            \
        if (less(key, bounds[mid]))                                 \
            hi = mid;                                               \
        else                                                        \
            lo = mid + 1;                                           \
    }                                                               \
    return (lo & 1) || (lo > 0 && equal(bounds[lo - 1], key));

#define U32_LT(a, b) ((a) < (b))
#define U32_EQ(a, b) ((a) == (b))

static int
match_v4(const uint32_t *bounds, Py_ssize_t lo, Py_ssize_t hi, uint32_t key)
{
    MATCH_BODY(U32_LT, U32_EQ)
}

static int
match_v6(const u128 *bounds, Py_ssize_t lo, Py_ssize_t hi, u128 key)
{
    MATCH_BODY(u128_lt, u128_eq)
}

/* Of the bucket's bounds (count <= FEW), how many have low bits below low
 * (*lt) and equal to it (*eq). Every bound before them is below the key,
 * every one after above it. */
static inline void
bucket_rank(const Bucket *b, uint16_t low, Py_ssize_t *lt, Py_ssize_t *eq)
{
    int below = 0, equal = 0;
    for (int j = 0; j < FEW; j++) {
        int mine = j < b->count;
        below += mine & (b->low[j] < low);
        equal += mine & (b->low[j] == low);
    }
    *lt = below;
    *eq = equal;
}

static int
matcher_has(const Matcher *m, const Address *a)
{
    Py_ssize_t lt, eq;
    if (a->family == 4) {
        if (m->b4 == NULL)
            return match_v4(m->v4, 0, m->n4, a->v4);
        uint32_t s = a->v4 >> 16;
        const Bucket *b = &m->b4[s];
        PREFETCH(b);  /* fetched while the map is read */
        int kind = slice_kind(m->k4, s);
        if (kind != SLICE_BOUNDS)
            return kind == SLICE_INSIDE;
        if (b->count > FEW)
            return match_v4(m->v4, b->first, s + 1 < SLICES ? b[1].first : m->n4, a->v4);
        bucket_rank(b, (uint16_t)a->v4, &lt, &eq);
        /* the low bits are the whole of the offset: equal is the key itself */
        return eq > 0 || ((b->first + lt) & 1);
    }
    if (m->b6 == NULL)
        return match_v6(m->v6, 0, m->n6, a->v6);
    if (u128_lt(a->v6, m->base6))
        return 0;  /* below every bound */
    u128 offset = u128_sub(a->v6, m->base6);
    u128 high = u128_shr(offset, m->shift6);
    if (!u128_below(high, SLICES))
        return 0;  /* above every bound */
    size_t s = (size_t)u128_low64(high);
    const Bucket *b = &m->b6[s];
    PREFETCH(b);
    int kind = slice_kind(m->k6, s);
    if (kind != SLICE_BOUNDS)
        return kind == SLICE_INSIDE;
    if (b->count > FEW)
        return match_v6(m->v6, b->first, s + 1 < SLICES ? b[1].first : m->n6, a->v6);
    bucket_rank(b, (uint16_t)u128_low64(u128_shr(offset, m->low6)), &lt, &eq);
    if (eq == 0)
        return (b->first + lt) & 1;
    if (m->low6 == 0)
        return 1;  /* exact low bits (a small span): the key is a bound */
    return match_v6(m->v6, b->first + lt, b->first + lt + eq, a->v6);
}

/* tracemalloc domain of the mapped bucket tables (an arbitrary number). */
#define TABLES_DOMAIN 0x7470
#define HUGE_PAGE ((size_t)2 << 20)

/* Zeroed memory for count bucket tables. A lookup's cold read of its bucket
 * also misses the TLB, and with 4 KiB pages the page walk may read cold page
 * tables too; so where transparent huge pages can be asked for, the two
 * tables (2 MiB together) get an aligned mapping that the kernel may back
 * with one huge page (a few ns a lookup here), and tracemalloc is told of it
 * as of any other allocation. One table alone (1 MiB, half a huge page):
 * PyMem_Calloc. */
static int
tables_alloc(Matcher *self, size_t count)
{
    size_t size = count * SLICES * sizeof(Bucket);
#ifdef MADV_HUGEPAGE
    size_t span = size;
    char *raw = size % HUGE_PAGE ? MAP_FAILED
                                 : mmap(NULL, span + HUGE_PAGE, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw != MAP_FAILED) {
        /* keep the aligned span, give back the rest */
        char *start = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
        if (start > raw)
            munmap(raw, (size_t)(start - raw));
        if (raw + span + HUGE_PAGE > start + span)
            munmap(start + span, (size_t)(raw + span + HUGE_PAGE - (start + span)));
        madvise(start, span, MADV_HUGEPAGE);  /* a hint: failing is harmless */
        self->tables = start;
        self->tables_size = span;
        PyTraceMalloc_Track(TABLES_DOMAIN, (uintptr_t)start, span);
        return 0;
    }
#endif
    self->tables = PyMem_Calloc(1, size);
    if (self->tables == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
tables_free(Matcher *self)
{
#ifdef MADV_HUGEPAGE
    if (self->tables_size) {
        PyTraceMalloc_Untrack(TABLES_DOMAIN, (uintptr_t)self->tables);
        munmap(self->tables, self->tables_size);
        return;
    }
#endif
    PyMem_Free(self->tables);  /* tables_alloc maps nothing without MADV_HUGEPAGE */
}

/* Fill a zeroed bucket table and its zeroed kinds map from n sorted bounds:
 * bound i falls in slice slice_of and has low bits low_of. */
#define BUILD_TABLE(table, kinds, n, slice_of, low_of)                      \
    do {                                                                    \
        for (Py_ssize_t i = 0; i < n; i++) {                                \
            Bucket *b = &table[slice_of];                                   \
            if (b->count == 0)                                              \
                b->first = (uint32_t)i;                                     \
            if (b->count < FEW)                                             \
                b->low[b->count] = (uint16_t)(low_of);                      \
            if (b->count <= FEW)                                            \
                b->count++;                                                 \
        }                                                                   \
        /* an empty slice starts where the next non-empty one does, and     \
         * lies inside a network when an odd number of bounds precede it */ \
        uint32_t next = (uint32_t)n;                                        \
        for (Py_ssize_t s = SLICES - 1; s >= 0; s--) {                      \
            if (table[s].count == 0) {                                      \
                table[s].first = next;                                      \
                int kind = next & 1 ? SLICE_INSIDE : SLICE_OUTSIDE;         \
                kinds[s >> 2] |= (uint8_t)(kind << ((s & 3) * 2));          \
            }                                                               \
            next = table[s].first;                                          \
        }                                                                   \
    } while (0)

/* Whether the int *key* is an IPv4 address key (0 .. 2**32 - 1), setting
 * *out; -1 on error. */
static int
v4_key(PyObject *key, uint32_t *out)
{
    int overflow;
    long long number = PyLong_AsLongLongAndOverflow(key, &overflow);
    if (number == -1 && PyErr_Occurred())
        return -1;
    if (overflow || number < 0 || number > 0xFFFFFFFFLL)
        return 0;
    *out = (uint32_t)number;
    return 1;
}

/* Matcher(bounds): bounds is the flat sorted list of addresses.Matcher
 * (first0, last0, first1, last1, ... as address keys: IPv4 keys first, then
 * IPv6 keys, which are 2**128 + the address). */
static PyObject *
matcher_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *bounds;
    static char *kwlist[] = {"bounds", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:Matcher", kwlist, &PyList_Type, &bounds))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(bounds);
    Matcher *self = (Matcher *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    /* Count the IPv4 keys first, so that each family's array has only the
     * room it needs (the build's peak memory is a target). */
    Py_ssize_t count4 = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *bound = PyList_GET_ITEM(bounds, i);
        if (!PyLong_CheckExact(bound))
            goto invalid;
        uint32_t unused;
        int is_v4 = v4_key(bound, &unused);
        if (is_v4 < 0)
            goto error;
        count4 += is_v4;
    }
    self->v4 = PyMem_Malloc(sizeof(uint32_t) * (size_t)(count4 ? count4 : 1));
    self->v6 = PyMem_Malloc(sizeof(u128) * (size_t)(n - count4 ? n - count4 : 1));
    if (self->v4 == NULL || self->v6 == NULL)
        goto nomemory;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *bound = PyList_GET_ITEM(bounds, i);
        uint32_t value4;
        int is_v4 = v4_key(bound, &value4);
        if (is_v4 < 0)
            goto error;
        if (is_v4) {
            if (self->n6)
                goto invalid;  /* IPv4 keys come first */
            self->v4[self->n4++] = value4;
            continue;
        }
        PyObject *packed = PyObject_CallMethod(bound, "to_bytes", "is", 17, "big");
        if (packed == NULL) {
            if (PyErr_ExceptionMatches(PyExc_OverflowError))
                goto invalid;
            goto error;
        }
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(packed);
        int is_v6 = b[0] == 1;
        u128 value = be128(b + 1);
        Py_DECREF(packed);
        if (!is_v6)
            goto invalid;
        self->v6[self->n6++] = value;
    }
    if (self->n4 % 2 || self->n6 % 2)
        goto invalid;
    for (Py_ssize_t i = 1; i < self->n4; i++) {
        if (self->v4[i] < self->v4[i - 1])
            goto invalid;
    }
    for (Py_ssize_t i = 1; i < self->n6; i++) {
        if (u128_lt(self->v6[i], self->v6[i - 1]))
            goto invalid;
    }
    size_t tables = (self->n4 / 2 > INDEXED) + (self->n6 / 2 > INDEXED);
    if (tables && tables_alloc(self, tables) < 0)
        goto error;
    Bucket *next_table = self->tables;
    if (self->n4 / 2 > INDEXED) {
        self->b4 = next_table;
        next_table += SLICES;
        self->k4 = PyMem_Calloc(SLICES / 4, 1);
        if (self->k4 == NULL)
            goto nomemory;
        BUILD_TABLE(self->b4, self->k4, self->n4, self->v4[i] >> 16, self->v4[i]);
    }
    if (self->n6 / 2 > INDEXED) {
        self->base6 = self->v6[0];
        int bits = bit_length(u128_sub(self->v6[self->n6 - 1], self->base6));
        self->shift6 = bits > 16 ? bits - 16 : 0;
        /* below a small span's slice bits, 16 bits hold the whole offset */
        self->low6 = self->shift6 > 16 ? self->shift6 - 16 : 0;
        self->b6 = next_table;
        self->k6 = PyMem_Calloc(SLICES / 4, 1);
        if (self->k6 == NULL)
            goto nomemory;
        BUILD_TABLE(self->b6, self->k6, self->n6,
                    u128_low64(u128_shr(u128_sub(self->v6[i], self->base6), self->shift6)),
                    u128_low64(u128_shr(u128_sub(self->v6[i], self->base6), self->low6)));
    }
    return (PyObject *)self;
invalid:
    PyErr_SetString(PyExc_ValueError,
                    "Matcher: bounds are sorted address keys, in (first, last) pairs, IPv4 first");
    goto error;
nomemory:
    PyErr_NoMemory();
error:
    Py_DECREF(self);
    return NULL;
}

static void
matcher_dealloc(Matcher *self)
{
    PyMem_Free(self->v4);
    PyMem_Free(self->v6);
    tables_free(self);
    PyMem_Free(self->k4);
    PyMem_Free(self->k6);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* key in matcher: key is an address key of addresses.py (IPv4 value, or
 * IPv6 value + 2**128). */
static int
matcher_contains(Matcher *self, PyObject *key)
{
    if (!PyLong_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "Matcher: a key is an int");
        return -1;
    }
    /* An exact int, so that to_bytes is int's own (a subclass may override it). */
    PyObject *number = PyNumber_Index(key);
    if (number == NULL)
        return -1;
    PyObject *packed = PyObject_CallMethod(number, "to_bytes", "is", 17, "big");
    Py_DECREF(number);
    if (packed == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();  /* negative, or too large: not an address key */
        return 0;
    }
    if (!PyBytes_CheckExact(packed) || PyBytes_GET_SIZE(packed) != 17) {
        Py_DECREF(packed);
        PyErr_SetString(PyExc_SystemError, "Matcher: int.to_bytes gave no 17 bytes");
        return -1;
    }
    unsigned char b[17];
    memcpy(b, PyBytes_AS_STRING(packed), 17);
    Py_DECREF(packed);
    if (b[0] > 1)
        return 0;
    Address a = {0};
    if (b[0] == 1) {
        a.family = 6;
        a.v6 = be128(b + 1);
        return matcher_has(self, &a);
    }
    for (int i = 1; i < 13; i++) {
        if (b[i] != 0)
            return 0;  /* between the families: no network holds it */
    }
    a.family = 4;
    a.v4 = be32(b + 13);
    return matcher_has(self, &a);
}

/* matcher.peer(text) -> True, False, or None when text (a TCP peer as a
 * server reports it) is not an IP address. A zone id is ignored. */
static PyObject *
matcher_peer(Matcher *self, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "Matcher.peer: a peer is a str");
        return NULL;
    }
    /* The address is what comes before the first '%', whatever the zone id
     * after it holds; inet_pton takes ASCII only. */
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_ssize_t zone = PyUnicode_FindChar(text, '%', 0, n, 1);
    if (zone == -2)
        return NULL;
    if (zone >= 0)
        n = zone;
    char s[LONGEST + 1];
    if (n > LONGEST)
        Py_RETURN_NONE;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0x80)
            Py_RETURN_NONE;
        s[i] = (char)c;
    }
    Address a;
    if (!parse_address(s, n, &a))
        Py_RETURN_NONE;
    return PyBool_FromLong(matcher_has(self, &a));
}

static Py_ssize_t
matcher_len(Matcher *self)
{
    return (self->n4 + self->n6) / 2;
}

static PySequenceMethods matcher_as_sequence = {
    .sq_length = (lenfunc)matcher_len,
    .sq_contains = (objobjproc)matcher_contains,
};

static PyMethodDef matcher_methods[] = {
    {"peer", (PyCFunction)matcher_peer, METH_O,
     "peer(text) -> bool | None: whether the TCP peer *text* is trusted (None: not an IP "
     "address; a zone id is ignored)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MatcherType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "trustedproxy._speedups.Matcher",
    .tp_basicsize = sizeof(Matcher),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Matcher(bounds): membership in merged, sorted key intervals, given as the flat\n"
              "sorted list of bounds of addresses.Matcher (first0, last0, first1, ...).",
    .tp_new = matcher_new,
    .tp_dealloc = (destructor)matcher_dealloc,
    .tp_as_sequence = &matcher_as_sequence,
    .tp_methods = matcher_methods,
};

/* ------------------------------------------------------------------ Core */

enum { ROLE_LIST = 1, ROLE_SINGLE = 2, ROLE_PYTHON = 3 };
enum { T_CLIENT, T_SCHEME, T_HOST, T_SERVER, T_PORT, T_PREFIX, N_TARGETS };
#define MAX_KEYS 64
/* X-Forwarded-For elements remembered (a power of two; direct-mapped). */
#define ELEMENT_CACHE 256

typedef struct {
    PyObject *text, *canonical, *hop;
    int trusted;
} Element;

/* A single-valued header's value seen before, in front of its row's dict
 * (where Python's hash of every new value str would be computed). */
#define VALUE_CACHE 64
typedef struct {
    PyObject *text;   /* the raw value, an ASCII str */
    PyObject *value;  /* what the row's cache gives for it */
    Py_ssize_t row;
} Value;

/* A TCP peer seen before, in front of the engine's dicts keyed by peer. */
#define PEER_CACHE 64
typedef struct {
    PyObject *text;      /* the peer, an ASCII str */
    int trusted;
    PyObject *plain;     /* its decision with no forwarded header, or NULL */
    PyObject *untrusted; /* an untrusted peer's last decision, or NULL */
    unsigned long long untrusted_mask; /* the headers it was for */
} Peer;

typedef struct {
    Py_ssize_t key;   /* index in keys */
    int role;
    int target;       /* T_* */
    PyObject *source; /* (field, header name) */
    PyObject *cache;  /* dict raw -> (value, reason), or None */
} Row;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall; /* core_vectorcall */
    int ready;
    PyObject *app;
    PyObject *keys;      /* tuple of environ keys of every known header, table order */
    PyObject *names;     /* tuple of their lower-case names */
    Py_ssize_t nkeys;
    Row *rows;           /* the trusted headers, in the engine's row order */
    Py_ssize_t nrows;
    PyObject *trust;     /* engine._cache: peer -> bool */
    PyObject *plain;     /* engine._plain: peer -> Decision (no forwarded header) */
    PyObject *matcher;   /* Matcher */
    Py_ssize_t max_hops;
    int strip;
    int enabled;
    PyObject *strip_obj; /* bool */
    PyObject *fixed_prefix; /* str or None */
    PyObject *decision_type;
    PyObject *hop_type;
    /* Decisions for untrusted peers: peer -> (mask of the headers found, Decision). */
    PyObject *untrusted;
    /* kept, removed and sources of the last trusted request, for its mask. */
    unsigned long long last_mask;
    PyObject *last_kept, *last_removed, *last_sources;
    /* Valid X-Forwarded-For elements seen, by their text. */
    Element element_cache[ELEMENT_CACHE];
    Value value_cache[VALUE_CACHE];
    Peer peer_cache[PEER_CACHE];
} Core;

/* Forget every element, value and peer remembered. */
static void
clear_caches(Core *self)
{
    for (int e = 0; e < ELEMENT_CACHE; e++) {
        Py_CLEAR(self->element_cache[e].text);
        Py_CLEAR(self->element_cache[e].canonical);
        Py_CLEAR(self->element_cache[e].hop);
    }
    for (int v = 0; v < VALUE_CACHE; v++) {
        Py_CLEAR(self->value_cache[v].text);
        Py_CLEAR(self->value_cache[v].value);
    }
    for (int p = 0; p < PEER_CACHE; p++) {
        Py_CLEAR(self->peer_cache[p].text);
        Py_CLEAR(self->peer_cache[p].plain);
        Py_CLEAR(self->peer_cache[p].untrusted);
    }
}

/* self._call_python(*args), keywords included: the reference, for a request
 * this module does not finish and for a call of any other shape, which it
 * binds or refuses as a Python method does. */
static PyObject *
call_python(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyObject *method = PyObject_GetAttr(self, S_call_python);
    if (method == NULL)
        return NULL;
    PyObject *result = PyObject_Vectorcall(method, args, nargsf, kwnames);
    Py_DECREF(method);
    return result;
}

/* The reference for a request this module does not finish: the whole call;
 * or, deciding only (start_response NULL), self._fix_python(environ) and the
 * decision it stored in environ. */
static PyObject *
fallback(PyObject *self, PyObject *environ, PyObject *start_response)
{
    if (start_response == NULL) {
        PyObject *none = PyObject_CallMethodOneArg(self, S_fix_python, environ);
        if (none == NULL)
            return NULL;
        Py_DECREF(none);
        return PyObject_GetItem(environ, S_DECISION);
    }
    PyObject *args[2] = {environ, start_response};
    return call_python(self, args, 2, NULL);
}

/* A new instance of a frozen dataclass (Hop, Decision) whose __dict__ is
 * *fields* (a new reference, taken over), as engine._hop/_decision build them.
 * Before CPython 3.13 it is allocated by tp_alloc, not object.__new__, which
 * would set up an empty store of inline attributes that setting __dict__ then
 * turns into a dict, only to throw it away (7% of the instructions of a
 * 3-hop request, more of its time). From 3.13, where inline attributes are
 * set up by tp_alloc itself and a managed dict must be installed through
 * __dict__'s setter, the plain way. */
static PyObject *
with_dict(PyObject *type, PyObject *fields)
{
    if (fields == NULL)
        return NULL;
    PyTypeObject *tp = (PyTypeObject *)type;
#if PY_VERSION_HEX < 0x030D0000
    PyObject *obj = tp->tp_alloc(tp, 0);
    if (obj != NULL && PyObject_GenericSetDict(obj, fields, NULL) < 0)
        Py_CLEAR(obj);
#else
    PyObject *obj = PyBaseObject_Type.tp_new(tp, EMPTY_TUPLE, NULL);
    if (obj != NULL && PyObject_GenericSetAttr(obj, S___dict__, fields) < 0)
        Py_CLEAR(obj);
#endif
    Py_DECREF(fields);
    return obj;
}

static PyObject *
new_hop(Core *self, PyObject *element, PyObject *verdict)
{
    PyObject *fields = PyDict_New();
    if (fields == NULL)
        return NULL;
    if (PyDict_SetItem(fields, S_element, element) < 0
        || PyDict_SetItem(fields, S_verdict, verdict) < 0) {
        Py_DECREF(fields);
        return NULL;
    }
    return with_dict(self->hop_type, fields);
}

static int
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* One X-Forwarded-For element the walk reached: its text (white space
 * stripped) and where it lies in the header, its canonical address, its hop
 * in the chain (verdict "trusted", or "client" when untrusted), and whether it
 * is a trusted proxy. The object fields are new references. */
typedef struct {
    Py_ssize_t start, end;
    PyObject *text, *canonical, *hop;
    int trusted;
} Reached;

/* A hash of text[0:n] for the direct-mapped caches (not Python's hash: no
 * str is hashed). Eight bytes at a time: a byte-wise hash was a visible part
 * of a request's cost. A collision only evicts (clients choose the text). */
static uint64_t
text_hash(const char *text, Py_ssize_t n, uint64_t seed)
{
    uint64_t h = ((uint64_t)n + seed) * 0x9E3779B97F4A7C15u;
    for (; n >= 8; n -= 8, text += 8) {
        uint64_t w;
        memcpy(&w, text, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9u;
        h ^= h >> 31;
    }
    if (n > 0) {
        uint64_t w = 0;
        memcpy(&w, text, (size_t)n);
        h = (h ^ w) * 0xBF58476D1CE4E5B9u;
    }
    h ^= h >> 32;
    h *= 0x94D049BB133111EBu;
    return h >> 40;
}

/* Whether the str cached equals text[0:n] (cached: an ASCII str, or NULL). */
static inline int
same_text(PyObject *cached, const char *text, Py_ssize_t n)
{
    return cached != NULL && PyUnicode_GET_LENGTH(cached) == n
        && memcmp(PyUnicode_DATA(cached), text, (size_t)n) == 0;
}

/* Parse the element s[start:end] (stripped, 1..LONGEST characters) into *r,
 * through the element cache. Returns 1, 0 when it is not a bare address (the
 * request goes to Python), -1 on error. */
static int
element(Core *self, PyObject *raw, Py_ssize_t start, Py_ssize_t end, Reached *r)
{
    const char *s = (const char *)PyUnicode_DATA(raw), *text = s + start;
    Py_ssize_t len = end - start;
    r->start = start;
    r->end = end;
    r->text = r->canonical = r->hop = NULL;
    Element *e = &self->element_cache[text_hash(text, len, 0) & (ELEMENT_CACHE - 1)];
    if (same_text(e->text, text, len)) {
        r->text = Py_NewRef(e->text);
        r->canonical = Py_NewRef(e->canonical);
        r->hop = Py_NewRef(e->hop);
        r->trusted = e->trusted;
        return 1;
    }
    const char *colon = memchr(text, ':', (size_t)len);
    /* brackets or a port (one colon): addresses.parse_element, in Python */
    if (colon != NULL && (text[0] == '['
                          || memchr(colon + 1, ':', (size_t)(len - (colon + 1 - text))) == NULL))
        return 0;
    Address a;
    if (!parse_address(text, len, &a))
        return 0;
    r->trusted = matcher_has((Matcher *)self->matcher, &a);
    r->text = PyUnicode_Substring(raw, start, end);
    if (r->text == NULL)
        return -1;
    if (colon == NULL) {
        r->canonical = Py_NewRef(r->text);  /* inet_pton took it: canonical already */
    }
    else {
        char buf[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, a.bytes, buf, sizeof buf) == NULL) {
            PyErr_SetString(PyExc_SystemError, "trustedproxy: inet_ntop failed");
            return -1;
        }
        r->canonical = PyUnicode_FromString(buf);
    }
    if (r->canonical == NULL)
        return -1;
    r->hop = new_hop(self, r->text, r->trusted ? S_trusted_v : S_client_v);
    if (r->hop == NULL)
        return -1;
    /* Remember it (a bounded, direct-mapped cache: a new element evicts).
     * The whole entry changes before any old object is released: a release
     * may run Python code, and with it a request that reads this slot. */
    PyObject *old_text = e->text, *old_canonical = e->canonical, *old_hop = e->hop;
    e->text = Py_NewRef(r->text);
    e->canonical = Py_NewRef(r->canonical);
    e->hop = Py_NewRef(r->hop);
    e->trusted = r->trusted;
    Py_XDECREF(old_text);
    Py_XDECREF(old_canonical);
    Py_XDECREF(old_hop);
    return 1;
}

/* The text of part j of a header split at *commas* (ncommas of them), white
 * space stripped: s[*start:*end]. */
static void
part_span(const char *s, Py_ssize_t n, const Py_ssize_t *commas, Py_ssize_t ncommas,
          Py_ssize_t j, Py_ssize_t *start, Py_ssize_t *end)
{
    Py_ssize_t a = j == 0 ? 0 : commas[j - 1] + 1, b = j == ncommas ? n : commas[j];
    while (a < b && is_blank(s[a]))
        a++;
    while (b > a && is_blank(s[b - 1]))
        b--;
    *start = a;
    *end = b;
}

/* The walk of engine._walk_fast, for a header whose reached elements are all
 * bare addresses. Returns 1 and sets *client, *trimmed, *chain (new
 * references); 0 to hand the request to Python; -1 on error. */
static int
walk(Core *self, PyObject *raw, PyObject **client, PyObject **trimmed, PyObject **chain)
{
    *client = *trimmed = *chain = NULL;
    if (!PyUnicode_CheckExact(raw) || !PyUnicode_IS_ASCII(raw))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    const char *s = (const char *)PyUnicode_DATA(raw);
    if (n > MAX_FAST_HEADER)
        return 0;
    Py_ssize_t commas[MAX_PARTS + 1];
    Py_ssize_t ncommas = 0, part_start = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] == ',') {
            if (ncommas >= self->max_hops || ncommas >= MAX_PARTS - 1 || i - part_start > REACH)
                return 0;
            commas[ncommas++] = i;
            part_start = i + 1;
        }
    }
    if (n - part_start > REACH)
        return 0;  /* a part longer than any element: engine._tail reads it as invalid */
    Py_ssize_t nparts = ncommas + 1;
    Reached reached[MAX_PARTS];
    Py_ssize_t nreached = 0;  /* reached[k] is part nparts - 1 - k */
    Py_ssize_t i = nparts - 1;
    int all_trusted = 0, status = -1;
    PyObject *client_hop = NULL, *items = NULL;
    for (;;) {
        Py_ssize_t start, end;
        part_span(s, n, commas, ncommas, i, &start, &end);
        if (end == start || end - start > LONGEST) {
            status = 0;  /* empty or not an address: the general walk says why */
            goto done;
        }
        int found = element(self, raw, start, end, &reached[nreached]);
        if (found <= 0) {
            Reached *r = &reached[nreached];
            Py_XDECREF(r->text);
            Py_XDECREF(r->canonical);
            Py_XDECREF(r->hop);
            status = found;
            goto done;
        }
        if (!reached[nreached++].trusted)
            break;
        if (i == 0) {
            all_trusted = 1;  /* the leftmost is the client */
            break;
        }
        i--;
    }
    /* reached[nreached - 1] is the client, part i; the others are trusted hops. */
    Reached *c = &reached[nreached - 1];
    *client = Py_NewRef(c->canonical);
    client_hop = all_trusted ? new_hop(self, c->text, S_client_v) : Py_NewRef(c->hop);
    if (client_hop == NULL)
        goto done;
    /* The trimmed header: the client and the trusted hops right of it. */
    Py_ssize_t size = 0;
    for (Py_ssize_t k = 0; k < nreached; k++)
        size += reached[k].end - reached[k].start + (k ? 2 : 0);
    *trimmed = PyUnicode_New(size, 127);
    if (*trimmed == NULL)
        goto done;
    char *out = (char *)PyUnicode_DATA(*trimmed);
    for (Py_ssize_t k = nreached - 1; k >= 0; k--) {
        memcpy(out, s + reached[k].start, (size_t)(reached[k].end - reached[k].start));
        out += reached[k].end - reached[k].start;
        if (k) {
            *out++ = ',';
            *out++ = ' ';
        }
    }
    /* The chain: unvisited elements left of the client, the client, the hops. */
    Py_ssize_t nleft = 0;
    for (Py_ssize_t j = 0; j < i; j++) {
        Py_ssize_t start, end;
        part_span(s, n, commas, ncommas, j, &start, &end);
        nleft += start < end;
    }
    items = PyTuple_New(nleft + nreached);
    if (items == NULL)
        goto done;
    for (Py_ssize_t j = 0, at = 0; j < i; j++) {
        Py_ssize_t start, end;
        part_span(s, n, commas, ncommas, j, &start, &end);
        if (start == end)
            continue;
        PyObject *text = PyUnicode_Substring(raw, start, end);
        if (text == NULL)
            goto done;
        PyObject *hop = new_hop(self, text, S_unvisited_v);
        Py_DECREF(text);
        if (hop == NULL)
            goto done;
        PyTuple_SET_ITEM(items, at++, hop);
    }
    PyTuple_SET_ITEM(items, nleft, client_hop);
    client_hop = NULL;
    for (Py_ssize_t k = nreached - 2, j = nleft + 1; k >= 0; k--, j++)
        PyTuple_SET_ITEM(items, j, Py_NewRef(reached[k].hop));
    *chain = items;
    items = NULL;
    status = 1;
done:
    for (Py_ssize_t k = 0; k < nreached; k++) {
        Py_DECREF(reached[k].text);
        Py_DECREF(reached[k].canonical);
        Py_DECREF(reached[k].hop);
    }
    Py_XDECREF(client_hop);
    Py_XDECREF(items);
    if (status <= 0) {
        Py_CLEAR(*client);
        Py_CLEAR(*trimmed);
    }
    return status;
}

/* orig.setdefault(key, old), old being the value before (NULL: None). */
static int
remember(PyObject *orig, PyObject *key, PyObject *old)
{
    return PyDict_SetDefault(orig, key, old ? old : Py_None) == NULL ? -1 : 0;
}

/* new[key] = value and orig[key] = old (NULL: absent, kept as None; orig
 * holds each key once), when old is absent or old != value (value is never
 * None, so an absent old always differs). A str value is kept only by an
 * exact str equal to it: an old value of another type, a str subclass
 * included, is replaced without being compared (its class could say it is
 * equal, or raise), as apply_decision does. */
static inline int
change(PyObject *new, PyObject *orig, PyObject *key, PyObject *old, PyObject *value)
{
    if (old == value)
        return 0;
    int differs = old == NULL ? 1
        : PyUnicode_CheckExact(value) ? !PyUnicode_CheckExact(old) || PyUnicode_Compare(old, value)
        : PyObject_RichCompareBool(old, value, Py_NE);
    if (differs <= 0)
        return differs;
    return remember(orig, key, old) < 0 || PyDict_SetItem(new, key, value) < 0 ? -1 : 0;
}

/* The value rewrite of apply_decision (value NULL: none): if
 * environ.get(key) != value, remember the old value and set the new one. */
static int
rewrite(PyObject *orig, PyObject *environ, PyObject *key, PyObject *value)
{
    if (value == NULL)
        return 0;
    PyObject *old = PyDict_GetItemWithError(environ, key);
    if (old == NULL && PyErr_Occurred())
        return -1;
    Py_XINCREF(old);  /* the comparison may run code that changes environ */
    int result = change(environ, orig, key, old, value);
    Py_XDECREF(old);
    return result;
}

/* rewrite() of REMOTE_ADDR, whose old value (peer) orig already holds. */
static int
replace_peer(PyObject *environ, PyObject *peer, PyObject *client)
{
    int differ = PyObject_RichCompareBool(peer, client, Py_NE);
    return differ <= 0 ? differ : PyDict_SetItem(environ, S_REMOTE_ADDR, client);
}

/* SCRIPT_NAME = prefix + SCRIPT_NAME (a prefix that is not stripped from
 * PATH_INFO), as apply_decision does; SCRIPT_NAME was checked to be a str. */
static int
add_prefix(PyObject *orig, PyObject *environ, PyObject *prefix)
{
    PyObject *old = PyDict_GetItemWithError(environ, S_SCRIPT_NAME);
    if (old == NULL && PyErr_Occurred())
        return -1;
    PyObject *joined = PyUnicode_Concat(prefix, old ? old : S_empty);
    if (joined == NULL)
        return -1;
    int result = rewrite(orig, environ, S_SCRIPT_NAME, joined);
    Py_DECREF(joined);
    return result;
}

static int
script_name_is_str(PyObject *environ)
{
    PyObject *old = PyDict_GetItemWithError(environ, S_SCRIPT_NAME);
    if (old == NULL)
        return PyErr_Occurred() ? -1 : 1;
    return PyUnicode_CheckExact(old);
}

static int
set_item_steal(PyObject *dict, PyObject *key, PyObject *value)
{
    if (value == NULL)
        return -1;
    int result = PyDict_SetItem(dict, key, value);
    Py_DECREF(value);
    return result;
}

/* Take key out of dict: 1 and *value (a new reference) if it was there, 0
 * if not, -1 on error. */
static int
dict_pop(PyObject *dict, PyObject *key, PyObject **value)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyDict_Pop(dict, key, value);
#else
    PyObject *got = _PyDict_Pop(dict, key, MISSING);
    *value = NULL;
    if (got == NULL)
        return -1;
    if (got == MISSING) {
        Py_DECREF(got);
        return 0;
    }
    *value = got;
    return 1;
#endif
}

/* Undo dict_pop of every found key, keeping the error being raised. Only an
 * environ key whose comparison raises gets here. The keys go back as the
 * policy's own str objects, at the end of environ; one that cannot be put
 * back (its comparison raises again) stays out: an untrusted peer's header,
 * which this request, failing with the error, never passes on. */
static void
put_back(Core *self, PyObject *environ, PyObject **values, const Py_ssize_t *found,
         Py_ssize_t nfound)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *raised = PyErr_GetRaisedException();
#else
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
#endif
    for (Py_ssize_t j = 0; j < nfound; j++) {
        if (PyDict_SetItem(environ, PyTuple_GET_ITEM(self->keys, found[j]), values[found[j]]) < 0)
            PyErr_Clear();
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(raised);
#else
    PyErr_Restore(type, value, traceback);
#endif
}

/* Remember in orig the value of every found key in *idx*. */
static int
record_found(Core *self, PyObject *orig, PyObject **values, const Py_ssize_t *idx,
             Py_ssize_t count)
{
    for (Py_ssize_t j = 0; j < count; j++) {
        if (PyDict_SetItem(orig, PyTuple_GET_ITEM(self->keys, idx[j]), values[idx[j]]) < 0)
            return -1;
    }
    return 0;
}

/* Pop every found key in *idx* from environ into orig. */
static int
strip_found(Core *self, PyObject *environ, PyObject *orig, PyObject **values,
            const Py_ssize_t *idx, Py_ssize_t count)
{
    if (record_found(self, orig, values, idx, count) < 0)
        return -1;
    for (Py_ssize_t j = 0; j < count; j++) {
        if (PyDict_DelItem(environ, PyTuple_GET_ITEM(self->keys, idx[j])) < 0)
            return -1;
    }
    return 0;
}

static PyObject *
names_tuple(Core *self, const Py_ssize_t *idx, Py_ssize_t count)
{
    if (count == 0)
        return Py_NewRef(EMPTY_TUPLE);
    PyObject *tuple = PyTuple_New(count);
    if (tuple == NULL)
        return NULL;
    for (Py_ssize_t j = 0; j < count; j++)
        PyTuple_SET_ITEM(tuple, j, Py_NewRef(PyTuple_GET_ITEM(self->names, idx[j])));
    return tuple;
}

/* Phase 2's rewrite of a trusted peer's environ, as apply_decision does:
 * the removed keys out, each value in *set* (and client_value, trimmed) in,
 * and the prefix. The new orig, or NULL on an error. */
static PyObject *
apply_trusted(Core *self, PyObject *environ, PyObject *peer, PyObject **values,
              const Py_ssize_t *removed, Py_ssize_t nremoved, PyObject *client_value,
              PyObject *trimmed, PyObject *const *set, PyObject *prefix)
{
    PyObject *scheme = set[T_SCHEME];
    PyObject *orig = new_dict(nremoved + 8);
    if (orig == NULL || PyDict_SetItem(orig, S_REMOTE_ADDR, peer) < 0
        || strip_found(self, environ, orig, values, removed, nremoved) < 0
        || (client_value != NULL && replace_peer(environ, peer, client_value) < 0)
        || rewrite(orig, environ, S_HTTP_X_FORWARDED_FOR, trimmed) < 0
        || rewrite(orig, environ, S_url_scheme, scheme) < 0
        || rewrite(orig, environ, S_HTTP_HOST, set[T_HOST]) < 0
        || rewrite(orig, environ, S_SERVER_NAME, set[T_SERVER]) < 0
        || rewrite(orig, environ, S_SERVER_PORT, set[T_PORT]) < 0)
        goto fail;
    if (scheme != NULL) {
        if (PyUnicode_Compare(scheme, S_https) == 0) {
            if (rewrite(orig, environ, S_HTTPS, S_on) < 0)
                goto fail;
        }
        else {
            PyObject *old = PyDict_GetItemWithError(environ, S_HTTPS);
            Py_XINCREF(old);
            int failed = old == NULL ? PyErr_Occurred() != NULL
                : remember(orig, S_HTTPS, old) < 0 || PyDict_DelItem(environ, S_HTTPS) < 0;
            Py_XDECREF(old);
            if (failed)
                goto fail;
        }
        PyObject *old = PyDict_GetItemWithError(environ, S_REQUEST_SCHEME);
        if ((old == NULL && PyErr_Occurred())
            || (old != NULL && rewrite(orig, environ, S_REQUEST_SCHEME, scheme) < 0))
            goto fail;
    }
    if (prefix != Py_None && add_prefix(orig, environ, prefix) < 0)
        goto fail;
    return orig;
fail:
    Py_XDECREF(orig);
    return NULL;
}

/* Store orig and decision in environ and call the application; or, deciding
 * only (start_response NULL, orig NULL), return the decision. */
static PyObject *
finish(Core *self, PyObject *environ, PyObject *start_response, PyObject *orig,
       PyObject *decision)
{
    if (start_response == NULL)
        return decision;
    if (orig == NULL || decision == NULL || PyDict_SetItem(environ, S_ORIG, orig) < 0
        || PyDict_SetItem(environ, S_DECISION, decision) < 0) {
        Py_XDECREF(orig);
        Py_XDECREF(decision);
        return NULL;
    }
    Py_DECREF(orig);
    Py_DECREF(decision);
    /* Held for the call: the application may set the middleware's app. */
    PyObject *app = Py_NewRef(self->app), *args[2] = {environ, start_response};
    PyObject *result = PyObject_Vectorcall(app, args, 2, NULL);
    Py_DECREF(app);
    return result;
}

/* The decision for an untrusted peer that sent the headers of *mask*
 * (engine.decide's), remembered by peer: a new reference. */
static PyObject *
untrusted_decision(Core *self, PyObject *peer, unsigned long long mask, const Py_ssize_t *found,
                   Py_ssize_t nfound)
{
    PyObject *entry = PyDict_GetItemWithError(self->untrusted, peer);
    if (entry != NULL && PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 2) {
        unsigned long long seen = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(entry, 0));
        if (seen == mask)
            return Py_NewRef(PyTuple_GET_ITEM(entry, 1));
        if (PyErr_Occurred())
            return NULL;
    }
    else if (entry == NULL && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *fields = new_dict(5);
    if (fields == NULL || PyDict_SetItem(fields, S_peer, peer) < 0
        || PyDict_SetItem(fields, S_trusted, Py_False) < 0
        || PyDict_SetItem(fields, S_prefix, self->fixed_prefix) < 0
        || PyDict_SetItem(fields, S_strip_prefix, self->strip_obj) < 0
        || set_item_steal(fields, S_removed, names_tuple(self, found, nfound)) < 0) {
        Py_XDECREF(fields);
        return NULL;
    }
    PyObject *decision = with_dict(self->decision_type, fields);
    if (decision == NULL)
        return NULL;
    if (PyDict_GET_SIZE(self->untrusted) >= UNTRUSTED_CACHE_SIZE)
        PyDict_Clear(self->untrusted);  /* bounded: forget everything rather than grow */
    PyObject *key = PyLong_FromUnsignedLongLong(mask);
    PyObject *value = key ? PyTuple_Pack(2, key, decision) : NULL;
    Py_XDECREF(key);
    if (value == NULL || PyDict_SetItem(self->untrusted, peer, value) < 0) {
        Py_XDECREF(value);
        Py_DECREF(decision);
        return NULL;
    }
    Py_DECREF(value);
    return decision;
}

/* The peer cache's slot for peer (an exact str), or NULL when peer is not
 * ASCII (never remembered). */
static inline Peer *
peer_slot(Core *self, PyObject *peer)
{
    if (!PyUnicode_IS_ASCII(peer))
        return NULL;
    return &self->peer_cache[text_hash((const char *)PyUnicode_DATA(peer),
                                       PyUnicode_GET_LENGTH(peer), 0) & (PEER_CACHE - 1)];
}

/* Put peer (an exact str) in its slot, with the engine's verdict on it, in
 * place of what the slot held; the slot. */
static Peer *
remember_peer(Peer *slot, PyObject *peer, int trusted)
{
    /* The whole entry changes before any old object is released. */
    PyObject *text = slot->text, *plain = slot->plain, *untrusted = slot->untrusted;
    slot->text = Py_NewRef(peer);
    slot->plain = slot->untrusted = NULL;
    slot->trusted = trusted;
    Py_XDECREF(text);
    Py_XDECREF(plain);
    Py_XDECREF(untrusted);
    return slot;
}

/* What row r's cache gives for raw, a valid value seen before (a new
 * reference); NULL (and no error) when Python must read it: not a str, not
 * seen yet, or invalid (Python says why). The row's dict is looked up only
 * when the value cache does not hold raw. */
static PyObject *
single_value(Core *self, Py_ssize_t r, PyObject *raw)
{
    if (!PyUnicode_CheckExact(raw))
        return NULL;
    Value *slot = NULL;
    if (PyUnicode_IS_ASCII(raw)) {
        const char *text = (const char *)PyUnicode_DATA(raw);
        Py_ssize_t len = PyUnicode_GET_LENGTH(raw);
        slot = &self->value_cache[text_hash(text, len, (uint64_t)r) & (VALUE_CACHE - 1)];
        if (slot->row == r && same_text(slot->text, text, len))
            return Py_NewRef(slot->value);
    }
    PyObject *parsed = PyDict_GetItemWithError(self->rows[r].cache, raw);
    if (parsed == NULL || !PyTuple_CheckExact(parsed) || PyTuple_GET_SIZE(parsed) != 2
        || PyTuple_GET_ITEM(parsed, 0) == Py_None)
        return NULL;
    PyObject *value = PyTuple_GET_ITEM(parsed, 0);
    Py_INCREF(value);
    if (slot != NULL) {  /* the whole entry changes before any old object is released */
        PyObject *text = slot->text, *old = slot->value;
        slot->text = Py_NewRef(raw);
        slot->value = Py_NewRef(value);
        slot->row = r;
        Py_XDECREF(text);
        Py_XDECREF(old);
    }
    return value;
}

/* A request: fix environ and call the application (what __call__ returns);
 * or, with start_response NULL, only decide (the Decision, a new reference),
 * leaving environ as scratch: the known keys of an untrusted peer are taken
 * out, and a request left to Python is fixed by self._fix_python. */
static PyObject *
core_run(PyObject *op, PyObject *environ, PyObject *start_response)
{
    Core *self = (Core *)op;
    int deciding = start_response == NULL;
    if (!self->ready || !self->enabled || self->app == NULL || !PyDict_CheckExact(environ))
        return fallback(op, environ, start_response);

    PyObject *values[MAX_KEYS];  /* new references, for the found keys */
    Py_ssize_t found[MAX_KEYS], nfound = 0;
    unsigned long long mask = 0;  /* the found keys, as bits */
    PyObject *held = NULL;  /* the peer cache entry's text (see HOLDS) */
    PyObject *result = NULL, *peer = PyDict_GetItemWithError(environ, S_REMOTE_ADDR);
    if (peer == NULL) {
        if (PyErr_Occurred())
            return NULL;
        return fallback(op, environ, start_response);
    }
    if (!PyUnicode_CheckExact(peer))
        return fallback(op, environ, start_response);
    Py_INCREF(peer);
    PyObject *prefix = self->fixed_prefix;  /* borrowed; None or a non-empty str */
    if (prefix != Py_None) {
        if (self->strip)
            goto python;
        int ok = script_name_is_str(environ);
        if (ok < 0)
            goto out;
        if (!ok)
            goto python;
    }
    /* The peer's entry in the peer cache. A comparison below may run Python
     * code, and with it another thread's request, which may give the slot to
     * another peer: so the entry's text is held, and the entry is used only
     * while the slot still holds that object (HOLDS). */
    Peer *slot = peer_slot(self, peer), *known = NULL;
    if (slot != NULL && same_text(slot->text, (const char *)PyUnicode_DATA(peer),
                                  PyUnicode_GET_LENGTH(peer)))
        known = slot;
    PyObject *trusted = known ? (known->trusted ? Py_True : Py_False)
        : PyDict_GetItemWithError(self->trust, peer);
    if (trusted == NULL && PyErr_Occurred())
        goto out;
    if (known != NULL) {
        held = Py_NewRef(known->text);
    }
    else if (slot != NULL && (trusted == Py_True || trusted == Py_False)) {
        /* Held is peer, the text remember_peer puts in the slot, not what
         * the slot holds after it: releasing the slot's old entry may run
         * code that gives the slot to yet another peer. */
        known = remember_peer(slot, peer, trusted == Py_True);
        held = Py_NewRef(peer);
    }
#define HOLDS(entry) ((entry) != NULL && (entry)->text == held)

    if (trusted == Py_False) {
        /* An untrusted peer, known as such: every known header goes, so each
         * is taken out as it is looked up (one lookup, not two). */
        for (Py_ssize_t k = 0; k < self->nkeys; k++) {
            int popped = dict_pop(environ, PyTuple_GET_ITEM(self->keys, k), &values[k]);
            if (popped < 0) {  /* a key that cannot be compared: leave environ as it was */
                put_back(self, environ, values, found, nfound);
                goto out;
            }
            if (popped) {
                found[nfound++] = k;
                mask |= 1ULL << k;
            }
        }
        if (nfound == 0)
            goto plain;
        PyObject *orig = NULL;
        if (!deciding && ((orig = new_dict(nfound + 2)) == NULL
                          || PyDict_SetItem(orig, S_REMOTE_ADDR, peer) < 0
                          || record_found(self, orig, values, found, nfound) < 0
                          || (prefix != Py_None && add_prefix(orig, environ, prefix) < 0))) {
            Py_XDECREF(orig);
            goto out;
        }
        PyObject *decision = HOLDS(known) && known->untrusted && known->untrusted_mask == mask
            ? Py_NewRef(known->untrusted) : untrusted_decision(self, peer, mask, found, nfound);
        if (decision == NULL) {
            Py_XDECREF(orig);
            goto out;
        }
        if (HOLDS(known) && known->untrusted != decision) {
            known->untrusted_mask = mask;
            Py_XSETREF(known->untrusted, Py_NewRef(decision));
        }
        result = finish(self, environ, start_response, orig, decision);
        goto out;
    }

    /* Phase 1: read, change nothing. */
    for (Py_ssize_t k = 0; k < self->nkeys; k++) {
        PyObject *value = PyDict_GetItemWithError(environ, PyTuple_GET_ITEM(self->keys, k));
        values[k] = NULL;
        if (value != NULL) {
            values[k] = Py_NewRef(value);
            found[nfound++] = k;
            mask |= 1ULL << k;
        }
        else if (PyErr_Occurred()) {
            goto out;
        }
    }

    if (nfound == 0) {  /* the usual request */
    plain:;
        PyObject *decision = HOLDS(known) && known->plain ? known->plain
            : PyDict_GetItemWithError(self->plain, peer);
        if (decision == NULL) {
            if (PyErr_Occurred())
                goto out;
            goto python;
        }
        Py_INCREF(decision);
        if (HOLDS(known) && known->plain == NULL)
            known->plain = Py_NewRef(decision);
        PyObject *orig = NULL;
        if (!deciding && ((orig = PyDict_New()) == NULL
                          || PyDict_SetItem(orig, S_REMOTE_ADDR, peer) < 0
                          || (prefix != Py_None && add_prefix(orig, environ, prefix) < 0))) {
            Py_XDECREF(orig);
            Py_DECREF(decision);
            goto out;
        }
        result = finish(self, environ, start_response, orig, decision);
        goto out;
    }

    if (trusted != Py_True)  /* not yet known (the engine's cache is a bool per peer) */
        goto python;

    /* A trusted peer: every trusted header present must be one this module
     * finishes (a valid value seen before, or a list it can walk). */
    PyObject *set[N_TARGETS] = {NULL};  /* borrowed from the caches, or owned below */
    PyObject *client = NULL, *trimmed = NULL, *chain = NULL;
    Py_ssize_t kept[MAX_KEYS], nkept = 0, removed[MAX_KEYS], nremoved = 0;
    unsigned long long kept_mask = 0;  /* the keys of the kept rows */
    PyObject *sources = NULL;
    int walked = 0;
    for (Py_ssize_t r = 0; r < self->nrows; r++) {
        Row *row = &self->rows[r];
        if (values[row->key] == NULL)
            continue;
        PyObject *raw = values[row->key];
        if (row->role == ROLE_LIST) {
            int w = walk(self, raw, &client, &trimmed, &chain);
            if (w < 0)
                goto trusted_out;
            if (w == 0)
                goto trusted_python;
            walked = 1;
        }
        else if (row->role == ROLE_SINGLE) {
            PyObject *value = single_value(self, r, raw);
            if (value == NULL) {
                if (PyErr_Occurred())
                    goto trusted_out;
                goto trusted_python;
            }
            Py_XSETREF(set[row->target], value);
        }
        else {
            goto trusted_python;
        }
        kept[nkept++] = r;
        kept_mask |= 1ULL << row->key;
    }
    PyObject *header_prefix = set[T_PREFIX];
    if (header_prefix != NULL) {
        if (PyUnicode_GET_LENGTH(header_prefix) == 0)
            prefix = Py_None;  /* `fields.get("prefix", fixed) or None` */
        else if (self->strip)
            goto trusted_python;
        else {
            int ok = script_name_is_str(environ);
            if (ok < 0)
                goto trusted_out;
            if (!ok)
                goto trusted_python;
            prefix = header_prefix;
        }
    }
    for (Py_ssize_t j = 0; j < nfound; j++) {
        if (!(kept_mask >> found[j] & 1))
            removed[nremoved++] = found[j];
    }

    /* Phase 2: the request is ours; apply it as apply_decision does (unless
     * only deciding), then build its decision. */
    {
        PyObject *client_value = walked ? client : set[T_CLIENT];
        PyObject *orig = NULL;
        if (!deciding && (orig = apply_trusted(self, environ, peer, values, removed, nremoved,
                                               client_value, trimmed, set, prefix)) == NULL)
            goto trusted_out;
        /* The decision, with the fields engine.decide gives it. */
        PyObject *fields = new_dict(16);
        if (self->last_kept == NULL || self->last_mask != mask) {
            /* The kept names, removed names and sources of this mask. */
            PyObject *kept_names = PyTuple_New(nkept);
            PyObject *removed_names = names_tuple(self, removed, nremoved);
            sources = PyTuple_New(nkept);
            if (kept_names == NULL || removed_names == NULL || sources == NULL) {
                Py_XDECREF(kept_names);
                Py_XDECREF(removed_names);
                Py_XDECREF(fields);
                Py_XDECREF(orig);
                goto trusted_out;
            }
            for (Py_ssize_t q = 0; q < nkept; q++) {
                Row *row = &self->rows[kept[q]];
                PyTuple_SET_ITEM(kept_names, q,
                                 Py_NewRef(PyTuple_GET_ITEM(self->names, row->key)));
                PyTuple_SET_ITEM(sources, q, Py_NewRef(row->source));
            }
            Py_XSETREF(self->last_kept, kept_names);
            Py_XSETREF(self->last_removed, removed_names);
            Py_XSETREF(self->last_sources, sources);
            sources = NULL;
            self->last_mask = mask;
        }
        PyObject *kept_names = Py_NewRef(self->last_kept);
        PyObject *removed_names = Py_NewRef(self->last_removed);
        sources = Py_NewRef(self->last_sources);
        static PyObject **const field_names[N_TARGETS] = {&S_client, &S_scheme, &S_host,
                                                          &S_server, &S_port, &S_prefix};
        int failed = fields == NULL
            || PyDict_SetItem(fields, S_peer, peer) < 0
            || PyDict_SetItem(fields, S_trusted, Py_True) < 0
            || (self->strip && PyDict_SetItem(fields, S_strip_prefix, Py_True) < 0);
        for (int t = 0; !failed && t < N_TARGETS; t++) {
            if (set[t] != NULL && t != T_PREFIX)
                failed = PyDict_SetItem(fields, *field_names[t], set[t]) < 0;
        }
        if (!failed && walked)
            failed = PyDict_SetItem(fields, S_chain, chain) < 0
                || PyDict_SetItem(fields, S_client, client) < 0
                || PyDict_SetItem(fields, S_forwarded_for, trimmed) < 0;
        if (!failed)
            /* Fields at their class default (None, False, ()) are left out, as
             * engine._decision allows. */
            failed = (prefix != Py_None && PyDict_SetItem(fields, S_prefix, prefix) < 0)
                || PyDict_SetItem(fields, S_kept, kept_names) < 0
                || (nremoved && PyDict_SetItem(fields, S_removed, removed_names) < 0)
                || PyDict_SetItem(fields, S_sources, sources) < 0;
        Py_DECREF(kept_names);
        Py_DECREF(removed_names);
        if (failed) {
            Py_XDECREF(fields);
            Py_XDECREF(orig);
            goto trusted_out;
        }
        result = finish(self, environ, start_response, orig,
                        with_dict(self->decision_type, fields));
        goto trusted_out;
    }
trusted_python:
    for (int t = 0; t < N_TARGETS; t++)
        Py_CLEAR(set[t]);
    Py_CLEAR(client);
    Py_CLEAR(trimmed);
    Py_CLEAR(chain);
    Py_CLEAR(sources);
    goto python;
trusted_out:
    for (int t = 0; t < N_TARGETS; t++)
        Py_XDECREF(set[t]);
    Py_XDECREF(client);
    Py_XDECREF(trimmed);
    Py_XDECREF(chain);
    Py_XDECREF(sources);
    goto out;
python:
    for (Py_ssize_t j = 0; j < nfound; j++)
        Py_CLEAR(values[found[j]]);
    nfound = 0;
    Py_XDECREF(peer);
    Py_XDECREF(held);
    return fallback(op, environ, start_response);
out:
    for (Py_ssize_t j = 0; j < nfound; j++)
        Py_DECREF(values[found[j]]);
    Py_XDECREF(peer);
    Py_XDECREF(held);
    return result;
#undef HOLDS
}

/* type(op).__call__, bound to op, called with the arguments as given: looked
 * up as Python looks up a special method (on the type, not the instance). */
static PyObject *
call_replaced(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyTypeObject *type = Py_TYPE(op);
    PyObject *function = _PyType_Lookup(type, S___call__);  /* borrowed */
    if (function == NULL) {
        PyErr_Format(PyExc_TypeError, "'%.200s' object is not callable", type->tp_name);
        return NULL;
    }
    descrgetfunc get = Py_TYPE(function)->tp_descr_get;
    PyObject *bound = get == NULL ? Py_NewRef(function) : get(function, op, (PyObject *)type);
    if (bound == NULL)
        return NULL;
    PyObject *result = PyObject_Vectorcall(bound, args, nargsf, kwnames);
    Py_DECREF(bound);
    return result;
}

static PyObject *core_call(PyObject *op, PyObject *args, PyObject *kwargs);

/* The call protocol of an instance. (environ, start_response) goes to core_run; any other
 * shape (keywords, a wrong number of arguments) to the reference, which binds
 * or refuses the arguments as a Python method does. A class whose __call__
 * was assigned after it was made (before Python 3.12 that leaves it marked
 * for vectorcall) gets that __call__. */
static PyObject *
core_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (Py_TYPE(op)->tp_call != core_call)
        return call_replaced(op, args, (size_t)nargs, kwnames);
    if (nargs != 2 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0))
        return call_python(op, args, (size_t)nargs, kwnames);
    return core_run(op, args[0], args[1]);
}

/* Core.__call__ itself: a call of an instance whose class keeps it made
 * without vectorcall, or the slot named from a subclass that overrides
 * __call__ (super().__call__(environ, start_response) in a wrapper). Never the
 * replaced __call__ of core_vectorcall: that may be the caller. */
static PyObject *
core_call(PyObject *op, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) == 2 && (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0))
        return core_run(op, PyTuple_GET_ITEM(args, 0), PyTuple_GET_ITEM(args, 1));
    PyObject *method = PyObject_GetAttr(op, S_call_python);
    if (method == NULL)
        return NULL;
    PyObject *result = PyObject_Call(method, args, kwargs);
    Py_DECREF(method);
    return result;
}

static PyObject *
core_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Core *self = (Core *)PyType_GenericNew(type, args, kwargs);
    if (self != NULL)
        self->vectorcall = core_vectorcall;
    return (PyObject *)self;
}

static PyObject *
core_setup(PyObject *op, PyObject *args, PyObject *kwargs)
{
    Core *self = (Core *)op;
    if (self->ready) {
        /* A request in flight may be reading the tables this would free. */
        PyErr_SetString(PyExc_RuntimeError, "_setup: already set up; make a new middleware");
        return NULL;
    }
    static char *kwlist[] = {"keys", "names", "rows", "trust", "plain",
                             "matcher", "max_hops", "strip_prefix", "fixed_prefix", "enabled",
                             "decision_type", "hop_type", NULL};
    PyObject *keys = NULL, *names = NULL, *rows = NULL, *trust = NULL,
             *plain = NULL, *matcher = NULL, *strip_obj = NULL,
             *fixed_prefix = NULL, *decision_type = NULL, *hop_type = NULL;
    Py_ssize_t max_hops = -1;
    int enabled = 0;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "|$O!O!O!O!O!O!nO!OpOO:_setup", kwlist, &PyTuple_Type, &keys,
            &PyTuple_Type, &names, &PyTuple_Type, &rows, &PyDict_Type, &trust, &PyDict_Type,
            &plain, &MatcherType, &matcher, &max_hops, &PyBool_Type,
            &strip_obj, &fixed_prefix, &enabled, &decision_type, &hop_type))
        return NULL;
    if (keys == NULL || names == NULL || rows == NULL || trust == NULL
        || plain == NULL || matcher == NULL || strip_obj == NULL
        || fixed_prefix == NULL || decision_type == NULL || hop_type == NULL || max_hops < 0) {
        PyErr_SetString(PyExc_TypeError, "_setup: every argument is required");
        return NULL;
    }
    Py_ssize_t nkeys = PyTuple_GET_SIZE(keys), nrows = PyTuple_GET_SIZE(rows);
    if (nkeys > MAX_KEYS || PyTuple_GET_SIZE(names) != nkeys) {
        /* More known headers than the fast path tracks: every request in Python. */
        enabled = 0;
    }
    if (fixed_prefix != Py_None
        && !(PyUnicode_CheckExact(fixed_prefix) && PyUnicode_GET_LENGTH(fixed_prefix) > 0)) {
        PyErr_SetString(PyExc_TypeError, "_setup: fixed_prefix is None or a non-empty str");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < nkeys && k < MAX_KEYS; k++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(keys, k))) {
            PyErr_SetString(PyExc_TypeError, "_setup: keys are str");
            return NULL;
        }
    }
    Row *parsed = PyMem_Calloc((size_t)(nrows ? nrows : 1), sizeof(Row));
    if (parsed == NULL)
        return PyErr_NoMemory();
    static const char *target_names[N_TARGETS] = {"client", "scheme", "host", "server", "port",
                                                  "prefix"};
    for (Py_ssize_t r = 0; r < nrows; r++) {
        PyObject *target_obj;
        Row *row = &parsed[r];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(rows, r), "niUOO;_setup: a row is (key index, "
                              "role, target, source, cache)", &row->key, &row->role,
                              &target_obj, &row->source, &row->cache))
            goto bad;
        if (row->key < 0 || row->key >= nkeys || row->role < ROLE_LIST || row->role > ROLE_PYTHON
            || (row->role == ROLE_SINGLE && !PyDict_CheckExact(row->cache))) {
            PyErr_SetString(PyExc_ValueError, "_setup: a row's key index, role or cache is wrong");
            goto bad;
        }
        row->target = -1;
        for (int t = 0; t < N_TARGETS; t++) {
            if (PyUnicode_CompareWithASCIIString(target_obj, target_names[t]) == 0)
                row->target = t;
        }
        if (row->target < 0) {
            PyErr_Format(PyExc_ValueError, "_setup: unknown target %R", target_obj);
            goto bad;
        }
    }
    for (Py_ssize_t r = 0; r < nrows; r++) {
        Py_INCREF(parsed[r].source);
        Py_INCREF(parsed[r].cache);
    }
    /* Replace whatever a _setup that failed after this point left. */
    for (Py_ssize_t r = 0; r < self->nrows; r++) {
        Py_XDECREF(self->rows[r].source);
        Py_XDECREF(self->rows[r].cache);
    }
    PyMem_Free(self->rows);
    self->rows = parsed;
    self->nrows = nrows;
    Py_XSETREF(self->keys, Py_NewRef(keys));
    Py_XSETREF(self->names, Py_NewRef(names));
    Py_XSETREF(self->trust, Py_NewRef(trust));
    Py_XSETREF(self->plain, Py_NewRef(plain));
    Py_XSETREF(self->matcher, Py_NewRef(matcher));
    Py_XSETREF(self->strip_obj, Py_NewRef(strip_obj));
    Py_XSETREF(self->fixed_prefix, Py_NewRef(fixed_prefix));
    Py_XSETREF(self->decision_type, Py_NewRef(decision_type));
    Py_XSETREF(self->hop_type, Py_NewRef(hop_type));
    PyObject *untrusted = PyDict_New();
    if (untrusted == NULL)
        return NULL;
    Py_XSETREF(self->untrusted, untrusted);
    Py_CLEAR(self->last_kept);
    Py_CLEAR(self->last_removed);
    Py_CLEAR(self->last_sources);
    clear_caches(self);  /* remembered under the previous tables, if any */
    self->nkeys = nkeys < MAX_KEYS ? nkeys : MAX_KEYS;
    self->max_hops = max_hops;
    self->strip = strip_obj == Py_True;
    self->enabled = enabled;
    self->ready = 1;
    Py_RETURN_NONE;
bad:  /* no row holds a reference yet */
    PyMem_Free(parsed);
    return NULL;
}

static int
core_traverse(Core *self, visitproc visit, void *arg)
{
    Py_VISIT(self->app);
    Py_VISIT(self->keys);
    Py_VISIT(self->names);
    Py_VISIT(self->trust);
    Py_VISIT(self->plain);
    for (int e = 0; e < ELEMENT_CACHE; e++) {
        Py_VISIT(self->element_cache[e].text);
        Py_VISIT(self->element_cache[e].canonical);
        Py_VISIT(self->element_cache[e].hop);
    }
    for (int v = 0; v < VALUE_CACHE; v++) {
        Py_VISIT(self->value_cache[v].text);
        Py_VISIT(self->value_cache[v].value);
    }
    for (int p = 0; p < PEER_CACHE; p++) {
        Py_VISIT(self->peer_cache[p].text);
        Py_VISIT(self->peer_cache[p].plain);
        Py_VISIT(self->peer_cache[p].untrusted);
    }
    Py_VISIT(self->matcher);
    Py_VISIT(self->strip_obj);
    Py_VISIT(self->fixed_prefix);
    Py_VISIT(self->decision_type);
    Py_VISIT(self->hop_type);
    Py_VISIT(self->untrusted);
    Py_VISIT(self->last_kept);
    Py_VISIT(self->last_removed);
    Py_VISIT(self->last_sources);
    for (Py_ssize_t r = 0; r < self->nrows; r++) {
        Py_VISIT(self->rows[r].source);
        Py_VISIT(self->rows[r].cache);
    }
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
core_clear(Core *self)
{
    self->ready = 0;
    Py_CLEAR(self->app);
    Py_CLEAR(self->keys);
    Py_CLEAR(self->names);
    Py_CLEAR(self->trust);
    Py_CLEAR(self->plain);
    clear_caches(self);
    Py_CLEAR(self->matcher);
    Py_CLEAR(self->strip_obj);
    Py_CLEAR(self->fixed_prefix);
    Py_CLEAR(self->decision_type);
    Py_CLEAR(self->hop_type);
    Py_CLEAR(self->untrusted);
    Py_CLEAR(self->last_kept);
    Py_CLEAR(self->last_removed);
    Py_CLEAR(self->last_sources);
    for (Py_ssize_t r = 0; r < self->nrows; r++) {
        Py_CLEAR(self->rows[r].source);
        Py_CLEAR(self->rows[r].cache);
    }
    self->nrows = 0;
    PyMem_Free(self->rows);
    self->rows = NULL;
    return 0;
}

static void
core_dealloc(Core *self)
{
    PyObject_GC_UnTrack(self);
    core_clear(self);
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free((PyObject *)self);
}

/* Before Python 3.12 a subclass defined in Python does not inherit the
 * vectorcall flag; mark each subclass that keeps this __call__, so calling a
 * middleware skips building an argument tuple. */
static PyObject *
core_init_subclass(PyObject *cls, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "__init_subclass__() takes no arguments");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    if (type->tp_call == core_call && type->tp_vectorcall_offset == offsetof(Core, vectorcall))
        type->tp_flags |= Py_TPFLAGS_HAVE_VECTORCALL;
    Py_RETURN_NONE;
}

/* self._decide(environ): core_run deciding only, for the ASGI adapter. */
static PyObject *
core_decide(PyObject *op, PyObject *environ)
{
    return core_run(op, environ, NULL);
}

/* Forget everything remembered: the caches, and the decisions kept by peer
 * and by set of headers. For the fuzz harness, which starts each input cold;
 * decisions are the same either way. */
static PyObject *
core_clear_caches(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    Core *self = (Core *)op;
    clear_caches(self);
    if (self->untrusted != NULL)
        PyDict_Clear(self->untrusted);
    Py_CLEAR(self->last_kept);
    Py_CLEAR(self->last_removed);
    Py_CLEAR(self->last_sources);
    Py_RETURN_NONE;
}

static PyMethodDef core_methods[] = {
    {"__init_subclass__", (PyCFunction)(void (*)(void))core_init_subclass,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "Mark a subclass that keeps the compiled __call__ for vectorcall."},
    {"_setup", (PyCFunction)(void (*)(void))core_setup, METH_VARARGS | METH_KEYWORDS,
     "Hand the compiled policy's tables to the fast path (called once, by __init__)."},
    {"_clear_caches", core_clear_caches, METH_NOARGS,
     "Forget what the fast path remembered (its decisions do not change)."},
    {"_decide", (PyCFunction)core_decide, METH_O,
     "The Decision for an environ of REMOTE_ADDR and known header keys, which is left as "
     "scratch; nothing is rewritten and no application is called (for the ASGI adapter)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef core_members[] = {
    {"app", Py_T_OBJECT_EX, offsetof(Core, app), 0, "The wrapped WSGI application."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "trustedproxy._speedups.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC
                | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Base class of TrustedProxyMiddleware: the compiled request path.",
    .tp_vectorcall_offset = offsetof(Core, vectorcall),
    .tp_call = core_call,
    .tp_methods = core_methods,
    .tp_members = core_members,
    .tp_new = core_new,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_dealloc = (destructor)core_dealloc,
};

/* ------------------------------------------------------------------ ASGI */

/* The ASGI adapter's request (asgi.TrustedProxyMiddleware._prepare_python,
 * asgi._scan and asgi._apply) for the scopes servers build: a dict scope
 * whose headers are a list or tuple of (bytes, bytes) pairs, tuples or lists,
 * and whose client is a tuple or None. Any other shape goes to Python. */

/* Most known headers (and host) one scope may hold here; more go to Python. */
#define MAX_SPOTS 64

/* Where a known forwarded header or host stands in scope["headers"]. */
typedef struct {
    Py_ssize_t index;
    PyObject *entry;  /* asgi._Entry (key, engine name, lower-case name): a new reference */
} Spot;

static void
spots_clear(Spot *spots, Py_ssize_t count)
{
    for (Py_ssize_t j = 0; j < count; j++)
        Py_DECREF(spots[j].entry);
}

/* A header pair as the fast path takes it: a tuple or list of two. */
static int
is_pair(PyObject *item)
{
    return (PyTuple_CheckExact(item) || PyList_CheckExact(item)) && Py_SIZE(item) == 2;
}

/* asgi._scan of *headers* (a list or tuple): the known forwarded headers
 * present go in *found*, by key, their fields joined with ", "; each known
 * header and host gets a spot. Only bytes names and values are read here, so
 * no Python code but names.learn runs. 1: done; 0: a shape left to Python;
 * -1: an error. */
static int
scan_headers(PyObject *headers, PyObject *names, PyObject *found, Spot *spots,
             Py_ssize_t *nspots)
{
    PyObject *seen = PyObject_GetAttr(names, S_seen);
    if (seen == NULL)
        return -1;
    int result = 1;
    for (Py_ssize_t i = 0; i < Py_SIZE(headers); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(headers, i);
        if (!is_pair(item) || !PyBytes_CheckExact(PySequence_Fast_GET_ITEM(item, 0))) {
            result = 0;
            break;
        }
        PyObject *name = PySequence_Fast_GET_ITEM(item, 0);
        PyObject *entry = PyDict_GetItemWithError(seen, name);
        if (entry != NULL) {
            Py_INCREF(entry);
        }
        else {
            if (PyErr_Occurred()
                || (entry = PyObject_CallMethodOneArg(names, S_learn, name)) == NULL) {
                result = -1;
                break;
            }
            Py_SETREF(seen, PyObject_GetAttr(names, S_seen));  /* learn may start afresh */
            if (seen == NULL) {
                Py_DECREF(entry);
                result = -1;
                break;
            }
        }
        if (entry == Py_None) {
            Py_DECREF(entry);
            continue;
        }
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 3
            || !PyUnicode_CheckExact(PyTuple_GET_ITEM(entry, 0)) || *nspots == MAX_SPOTS) {
            Py_DECREF(entry);
            result = 0;
            break;
        }
        PyObject *value = PySequence_Fast_GET_ITEM(item, 1);
        if (!PyBytes_CheckExact(value)) {  /* host's too: Python replaces it uncompared */
            Py_DECREF(entry);
            result = 0;
            break;
        }
        spots[*nspots].index = i;
        spots[(*nspots)++].entry = entry;
        PyObject *key = PyTuple_GET_ITEM(entry, 0);
        if (PyUnicode_GET_LENGTH(key) == 0)  /* host */
            continue;
        PyObject *text = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value),
                                                NULL);
        PyObject *before = text ? PyDict_GetItemWithError(found, key) : NULL;
        if (before != NULL) {
            /* A repeated header: its fields in the order received, in a list
             * joined once at the end (joining as they come would copy the
             * text so far for each line: quadratic in the lines). */
            if (PyList_CheckExact(before)) {
                int failed = PyList_Append(before, text);
                Py_DECREF(text);
                if (failed < 0) {
                    result = -1;
                    break;
                }
                continue;
            }
            PyObject *fields = PyList_New(2);
            if (fields != NULL) {
                PyList_SET_ITEM(fields, 0, Py_NewRef(before));
                PyList_SET_ITEM(fields, 1, text);
            }
            else {
                Py_DECREF(text);
            }
            text = fields;
        }
        if (text == NULL || PyErr_Occurred() || PyDict_SetItem(found, key, text) < 0) {
            Py_XDECREF(text);
            result = -1;
            break;
        }
        Py_DECREF(text);
    }
    Py_XDECREF(seen);
    if (result <= 0)
        return result;
    /* Join the fields of each repeated header (only the values change). */
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(found, &pos, &key, &value)) {
        if (!PyList_CheckExact(value))
            continue;
        PyObject *joined = PyUnicode_Join(S_comma, value);
        if (joined == NULL || PyDict_SetItem(found, key, joined) < 0) {
            Py_XDECREF(joined);
            return -1;
        }
        Py_DECREF(joined);
    }
    return result;
}

/* decision.name (a new reference): from the decision's __dict__ (*fields*,
 * may be NULL) when it is there, else as an attribute (a class default). */
static PyObject *
field(PyObject *decision, PyObject *fields, PyObject *name)
{
    if (fields != NULL) {
        PyObject *value = PyDict_GetItemWithError(fields, name);
        if (value != NULL)
            return Py_NewRef(value);
        if (PyErr_Occurred())
            return NULL;
    }
    return PyObject_GetAttr(decision, name);
}

#define FIELD(name) field(decision, fields, name)

/* Rewrite the header list as asgi._apply does: drop removed headers; put each
 * replaced one (host, x-forwarded-for, forwarded) where its first field
 * stood, lower-case, and drop its other fields; append host when none came.
 * 1: done, 0: a shape left to Python, -1: an error. */
static int
rewrite_headers(PyObject *decision, PyObject *fields, PyObject *headers, const Spot *spots,
                Py_ssize_t nspots, PyObject *new, PyObject *orig)
{
    PyObject *names[3] = {S_host, S_x_forwarded_for, S_forwarded};
    PyObject *raw_names[3] = {B_host, B_x_forwarded_for, B_forwarded};
    PyObject *texts[3] = {FIELD(S_host), NULL, NULL};
    texts[1] = texts[0] ? FIELD(S_forwarded_for) : NULL;
    texts[2] = texts[1] ? FIELD(S_forwarded) : NULL;
    PyObject *removed = texts[2] ? FIELD(S_removed) : NULL;
    PyObject *rewritten = NULL;
    int result = -1, nreplace = 0, done = 0, changed = 0;
    int any_removed = removed ? PyObject_IsTrue(removed) : -1;
    if (any_removed < 0)
        goto out;
    for (int r = 0; r < 3; r++)
        nreplace += texts[r] != Py_None;
    if (!nreplace && !(any_removed && nspots)) {
        result = 1;
        goto out;
    }
    rewritten = headers ? PySequence_List(headers) : PyList_New(0);
    if (rewritten == NULL)
        goto out;
    Py_ssize_t gone[MAX_SPOTS], ngone = 0;
    for (Py_ssize_t j = 0; j < nspots; j++) {
        PyObject *name = PyTuple_GET_ITEM(spots[j].entry, 1);
        PyObject *lower = PyTuple_GET_ITEM(spots[j].entry, 2);
        Py_ssize_t i = spots[j].index;
        int is_removed = PySequence_Contains(removed, name);
        if (is_removed < 0)
            goto out;
        if (is_removed) {
            gone[ngone++] = i;
            continue;
        }
        int r = 0;
        for (; r < 3; r++) {
            if (texts[r] == Py_None)
                continue;
            int equal = PyObject_RichCompareBool(name, names[r], Py_EQ);
            if (equal < 0)
                goto out;
            if (equal)
                break;
        }
        if (r == 3)  /* a header kept as it came */
            continue;
        if (done & 1 << r) {  /* a second field of a replaced header */
            gone[ngone++] = i;
            continue;
        }
        done |= 1 << r;
        if (i >= PyList_GET_SIZE(rewritten) || !is_pair(PyList_GET_ITEM(rewritten, i))) {
            result = 0;  /* the list changed under us (a logging handler?) */
            goto out;
        }
        PyObject *item = PyList_GET_ITEM(rewritten, i);
        PyObject *encoded = PyUnicode_AsLatin1String(texts[r]);
        if (encoded == NULL)
            goto out;
        if (!changed) {
            changed = PyObject_RichCompareBool(encoded, PySequence_Fast_GET_ITEM(item, 1), Py_NE);
            if (changed == 0)
                changed = PyObject_RichCompareBool(PySequence_Fast_GET_ITEM(item, 0), lower,
                                                   Py_NE);
            if (changed < 0) {
                Py_DECREF(encoded);
                goto out;
            }
        }
        PyObject *pair = PyTuple_Pack(2, lower, encoded);
        Py_DECREF(encoded);
        if (pair == NULL || PyList_SetItem(rewritten, i, pair) < 0)
            goto out;
    }
    for (int r = 0; r < 3; r++) {  /* host, when none came */
        if (texts[r] == Py_None || done & 1 << r)
            continue;
        PyObject *encoded = PyUnicode_AsLatin1String(texts[r]);
        PyObject *pair = encoded ? PyTuple_Pack(2, raw_names[r], encoded) : NULL;
        Py_XDECREF(encoded);
        if (pair == NULL || PyList_Append(rewritten, pair) < 0) {
            Py_XDECREF(pair);
            goto out;
        }
        Py_DECREF(pair);
        changed = 1;
    }
    for (Py_ssize_t j = ngone; j-- > 0;) {
        if (PyList_SetSlice(rewritten, gone[j], gone[j] + 1, NULL) < 0)
            goto out;
        changed = 1;
    }
    result = 1;
    if (changed && (remember(orig, S_headers, headers) < 0
                    || PyDict_SetItem(new, S_headers, rewritten) < 0))
        result = -1;
out:
    for (int r = 0; r < 3; r++)
        Py_XDECREF(texts[r]);
    Py_XDECREF(removed);
    Py_XDECREF(rewritten);
    return result;
}

/* The fields asgi._apply sets after the headers: client, scheme and server.
 * 1: done, 0: a shape left to Python, -1: an error. */
static int
rewrite_fields(PyObject *decision, PyObject *fields, PyObject *scope, int websocket,
               PyObject *new, PyObject *orig, PyObject *old_client)
{
    int result = -1;
    PyObject *value = NULL, *server = NULL, *port = NULL, *number = NULL;
    PyObject *client = FIELD(S_client);
    if (client == NULL)
        return -1;
    if (client != Py_None) {
        value = PyTuple_Pack(2, client, ZERO);
        int differs = value ? PyObject_RichCompareBool(old_client ? old_client : Py_None, value,
                                                       Py_NE) : -1;
        if (differs < 0 || (differs && PyDict_SetItem(new, S_client, value) < 0))
            goto out;
        Py_CLEAR(value);
    }
    PyObject *scheme = FIELD(S_scheme);
    if (scheme == NULL)
        goto out;
    if (scheme != Py_None) {
        value = Py_NewRef(scheme);
        if (websocket) {
            int is_http = PyObject_RichCompareBool(scheme, S_http, Py_EQ);
            int is_https = is_http == 0 ? PyObject_RichCompareBool(scheme, S_https, Py_EQ) : 0;
            if (is_http < 0 || is_https < 0) {
                Py_DECREF(scheme);
                goto out;
            }
            if (!is_http && !is_https) {  /* not a scheme the engine gives */
                Py_DECREF(scheme);
                result = 0;
                goto out;
            }
            Py_SETREF(value, Py_NewRef(is_http ? S_ws : S_wss));
        }
        PyObject *old = PyDict_GetItemWithError(scope, S_scheme);
        if ((old == NULL && PyErr_Occurred()) || change(new, orig, S_scheme, old, value) < 0) {
            Py_DECREF(scheme);
            goto out;
        }
        Py_CLEAR(value);
    }
    Py_DECREF(scheme);
    server = FIELD(S_server);
    port = server ? FIELD(S_port) : NULL;
    if (port == NULL)
        goto out;
    if (server != Py_None || port != Py_None) {
        PyObject *old = PyDict_GetItemWithError(scope, S_server);
        if (old == NULL && PyErr_Occurred())
            goto out;
        if (old == Py_None)
            old = NULL;
        /* Any other shape than (str, int or None): Python, which compares no other. */
        if (old != NULL && !(PyTuple_CheckExact(old) && PyTuple_GET_SIZE(old) == 2
                             && PyUnicode_CheckExact(PyTuple_GET_ITEM(old, 0))
                             && (PyLong_CheckExact(PyTuple_GET_ITEM(old, 1))
                                 || PyTuple_GET_ITEM(old, 1) == Py_None))) {
            result = 0;
            goto out;
        }
        /* A port alone needs a host to go with: not for a missing server, nor
         * for a Unix socket's (path, None). */
        if (server != Py_None || (old != NULL && PySequence_Fast_GET_ITEM(old, 1) != Py_None)) {
            PyObject *host = server != Py_None ? server
                : PySequence_Fast_GET_ITEM(old, 0);
            PyObject *bare = NULL;  /* an [IPv6] server name, as ASGI holds it: bare */
            if (server != Py_None && PyUnicode_Check(server) && PyUnicode_GET_LENGTH(server) > 2
                && PyUnicode_READ_CHAR(server, 0) == '[') {
                if ((bare = PyUnicode_Substring(server, 1, PyUnicode_GET_LENGTH(server) - 1))
                    == NULL)
                    goto out;
                host = bare;
            }
            if (port != Py_None)
                number = PyLong_FromUnicodeObject(port, 10);
            else
                number = Py_NewRef(old != NULL ? PySequence_Fast_GET_ITEM(old, 1) : Py_None);
            value = number ? PyTuple_Pack(2, host, number) : NULL;
            Py_XDECREF(bare);
            if (value == NULL || change(new, orig, S_server, old, value) < 0)
                goto out;
        }
    }
    result = 1;
out:
    Py_DECREF(client);
    Py_XDECREF(value);
    Py_XDECREF(server);
    Py_XDECREF(port);
    Py_XDECREF(number);
    return result;
}

/* Whether *text* starts with *head* followed by its end or a "/". */
static int
starts_segment(PyObject *text, PyObject *head)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(head);
    if (PyUnicode_GET_LENGTH(text) < n)
        return 0;
    int match = PyUnicode_Tailmatch(text, head, 0, n, -1);
    if (match <= 0)
        return match;
    return PyUnicode_GET_LENGTH(text) == n || PyUnicode_READ_CHAR(text, n) == '/';
}

/* A str field of the scope ("" when absent or None) in *text*, and its value
 * (NULL when absent) in *old*, both borrowed. 0: not a str, left to Python. */
static int
str_field(PyObject *scope, PyObject *key, PyObject **old, PyObject **text)
{
    *old = PyDict_GetItemWithError(scope, key);
    if (*old == NULL && PyErr_Occurred())
        return -1;
    *text = *old == NULL || *old == Py_None ? S_empty : *old;
    return PyUnicode_CheckExact(*text);
}

/* asgi._apply_prefix for a non-empty *prefix*: root_path, path and raw_path.
 * 1: done, 0: left to Python (a root_path or path that is not a str, a
 * non-ASCII prefix, whose latin-1 text Python reads as UTF-8 for these text
 * fields, or a new path that does not end with the old one), -1: an error.
 * Python redoes all of it from the scope, so it may take over at any point. */
static int
rewrite_prefix(PyObject *prefix, int strip, PyObject *scope, PyObject *new, PyObject *orig,
               PyObject *quote_prefix)
{
    PyObject *old_root, *root, *old_path, *path;
    int ok = str_field(scope, S_root_path, &old_root, &root);
    if (ok > 0)
        ok = str_field(scope, S_path, &old_path, &path);
    if (ok <= 0 || !PyUnicode_CheckExact(prefix) || !PyUnicode_IS_ASCII(prefix))
        return ok < 0 ? -1 : 0;
    int result = -1;
    PyObject *route = NULL, *root_path = NULL, *new_path = NULL, *head = NULL, *raw = NULL;
    /* A server that leaves root_path out of path: all of path is the route. */
    int inside = PyUnicode_GET_LENGTH(root) > 0 ? starts_segment(path, root) : 0;
    if (inside < 0)
        return -1;
    route = inside ? PyUnicode_Substring(path, PyUnicode_GET_LENGTH(root), PY_SSIZE_T_MAX)
        : Py_NewRef(path);
    int cut = route && strip ? starts_segment(route, prefix) : 0;
    if (cut < 0)
        goto out;
    if (cut)
        Py_SETREF(route, PyUnicode_Substring(route, PyUnicode_GET_LENGTH(prefix), PY_SSIZE_T_MAX));
    root_path = route ? PyUnicode_Concat(prefix, root) : NULL;
    new_path = root_path ? PyUnicode_Concat(root_path, route) : NULL;
    if (new_path == NULL || remember(orig, S_root_path, old_root) < 0
        || PyDict_SetItem(new, S_root_path, root_path) < 0)
        goto out;
    int same = PyUnicode_Compare(new_path, path);
    if (same == -1 && PyErr_Occurred())
        goto out;
    result = 1;
    if (same == 0)
        goto out;
    result = -1;
    if (remember(orig, S_path, old_path) < 0 || PyDict_SetItem(new, S_path, new_path) < 0)
        goto out;
    PyObject *old_raw = PyDict_GetItemWithError(scope, S_raw_path);
    if (old_raw == NULL && PyErr_Occurred())
        goto out;
    result = 1;
    if (old_raw == NULL || old_raw == Py_None)
        goto out;
    result = 0;
    if (!PyBytes_CheckExact(old_raw))  /* Python makes it anew */
        goto out;
    Py_ssize_t added = PyUnicode_GET_LENGTH(new_path) - PyUnicode_GET_LENGTH(path);
    int ends = added >= 0 ? PyUnicode_Tailmatch(new_path, path, 0, PY_SSIZE_T_MAX, 1) : 0;
    result = ends < 0 ? -1 : 0;
    if (ends <= 0)  /* the whole path quoted anew: left to Python */
        goto out;
    result = -1;
    head = PyUnicode_Substring(new_path, 0, added);
    PyObject *quoted = head ? PyObject_CallOneArg(quote_prefix, head) : NULL;
    raw = quoted ? PyNumber_Add(quoted, old_raw) : NULL;
    Py_XDECREF(quoted);
    if (raw == NULL || change(new, orig, S_raw_path, old_raw, raw) < 0)
        goto out;
    result = 1;
out:
    Py_XDECREF(route);
    Py_XDECREF(root_path);
    Py_XDECREF(new_path);
    Py_XDECREF(head);
    Py_XDECREF(raw);
    return result;
}

/* _speedups.asgi_prepare(config, scope): the scope the application gets
 * (asgi.TrustedProxyMiddleware._prepare_python), or None when the scope has a
 * shape left to Python (nothing decided yet). config is the tuple
 * (decider, names, apply_prefix, rescan_apply, quote_prefix): the WSGI
 * middleware whose request path decides (its _decide); the adapter's asgi._Names;
 * asgi._apply_prefix(decision, scope, new, orig); asgi._rescan_apply(decision,
 * scope, names), the whole rewrite, for a shape this path leaves to Python
 * once the decision is taken; asgi._quote_prefix(text). */
static PyObject *
asgi_prepare(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 5) {
        PyErr_SetString(PyExc_TypeError, "asgi_prepare(config, scope): config is a 5-tuple");
        return NULL;
    }
    PyObject *config = args[0], *scope = args[1];
    PyObject *decider = PyTuple_GET_ITEM(config, 0), *names = PyTuple_GET_ITEM(config, 1);
    if (!PyDict_CheckExact(scope))
        Py_RETURN_NONE;
    PyObject *kind = PyDict_GetItemWithError(scope, S_type);
    if (kind == NULL && PyErr_Occurred())
        return NULL;
    if (kind == NULL || kind == Py_None)
        return Py_NewRef(scope);  /* not http nor websocket: untouched */
    if (!PyUnicode_CheckExact(kind))
        Py_RETURN_NONE;
    int websocket = 0;
    if (!PyUnicode_Compare(kind, S_websocket))
        websocket = 1;
    else if (PyUnicode_Compare(kind, S_http))
        return PyErr_Occurred() ? NULL : Py_NewRef(scope);

    PyObject *client = PyDict_GetItemWithError(scope, S_client);
    if (client == NULL && PyErr_Occurred())
        return NULL;
    PyObject *headers = PyDict_GetItemWithError(scope, S_headers);
    if (headers == NULL && PyErr_Occurred())
        return NULL;
    if (client == Py_None)
        client = NULL;
    if (headers == Py_None)
        headers = NULL;
    /* Python reads a client of any other shape than (str, int or None), and
     * headers of any other type than a list or tuple. */
    if ((client != NULL && !(PyTuple_CheckExact(client) && PyTuple_GET_SIZE(client) == 2
                             && PyUnicode_CheckExact(PyTuple_GET_ITEM(client, 0))
                             && (PyLong_CheckExact(PyTuple_GET_ITEM(client, 1))
                                 || PyTuple_GET_ITEM(client, 1) == Py_None)))
        || (headers != NULL && !PyList_CheckExact(headers) && !PyTuple_CheckExact(headers)))
        Py_RETURN_NONE;
    PyObject *peer = client != NULL ? PyTuple_GET_ITEM(client, 0) : S_empty;
    Py_INCREF(peer);  /* the scan runs names.learn: hold what is used after it */
    Py_XINCREF(client);
    Py_XINCREF(headers);

    Spot spots[MAX_SPOTS];
    Py_ssize_t nspots = 0;
    PyObject *result = NULL, *decision = NULL, *new = NULL, *orig = NULL, *extensions = NULL,
        *fields = NULL, *prefix = NULL;
    PyObject *found = PyDict_New();
    int scanned = found == NULL ? -1 : headers == NULL ? 1
        : scan_headers(headers, names, found, spots, &nspots);
    if (scanned <= 0) {
        if (scanned == 0)
            result = Py_NewRef(Py_None);
        goto out;
    }
    int any_found = PyDict_GET_SIZE(found) > 0;
    if (PyDict_SetItem(found, S_REMOTE_ADDR, peer) < 0)
        goto out;
    /* Decided only: found is scratch, nothing in it is read again. */
    decision = PyObject_TypeCheck(decider, &CoreType) ? core_run(decider, found, NULL)
        : PyObject_CallMethodOneArg(decider, S_decide, found);
    if (decision == NULL)
        goto out;
    fields = PyObject_GenericGetDict(decision, NULL);
    if (fields != NULL && !PyDict_Check(fields))
        Py_CLEAR(fields);
    PyErr_Clear();  /* no __dict__: the fields are read as attributes */
    prefix = FIELD(S_prefix);
    int has_prefix = prefix ? PyObject_IsTrue(prefix) : -1;
    if (has_prefix < 0)
        goto out;

    new = PyDict_Copy(scope);
    orig = PyDict_New();
    if (new == NULL || orig == NULL || remember(orig, S_client, client) < 0)
        goto out;
    if (any_found || has_prefix) {
        int done = rewrite_headers(decision, fields, headers, spots, nspots, new, orig);
        if (done > 0)
            done = rewrite_fields(decision, fields, scope, websocket, new, orig, client);
        if (done > 0 && has_prefix) {
            PyObject *strip = FIELD(S_strip_prefix);
            int cut = strip ? PyObject_IsTrue(strip) : -1;
            Py_XDECREF(strip);
            done = cut < 0 ? -1
                : rewrite_prefix(prefix, cut, scope, new, orig, PyTuple_GET_ITEM(config, 4));
            if (done == 0) {  /* the prefix part, all of it, by Python */
                PyObject *none = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(config, 2),
                                                              decision, scope, new, orig, NULL);
                Py_XDECREF(none);
                done = none == NULL ? -1 : 1;
            }
        }
        if (done < 0)
            goto out;
        if (done == 0) {  /* a shape left to Python, now that the decision is taken */
            PyObject *both = PyObject_CallFunctionObjArgs(PyTuple_GET_ITEM(config, 3), decision,
                                                          scope, names, NULL);
            if (both == NULL)
                goto out;
            if (!PyTuple_CheckExact(both) || PyTuple_GET_SIZE(both) != 2) {
                Py_DECREF(both);
                PyErr_SetString(PyExc_TypeError, "rescan_apply must return (new, orig)");
                goto out;
            }
            Py_SETREF(new, Py_NewRef(PyTuple_GET_ITEM(both, 0)));
            Py_SETREF(orig, Py_NewRef(PyTuple_GET_ITEM(both, 1)));
            Py_DECREF(both);
        }
    }

    PyObject *given = PyDict_GetItemWithError(scope, S_extensions);
    if (given == NULL && PyErr_Occurred())
        goto out;
    if (given == Py_None)
        given = NULL;
    Py_XINCREF(given);  /* reading one of another type runs its code, which may drop it */
    int any = given ? PyObject_IsTrue(given) : 0;
    extensions = any < 0 ? NULL : !any ? PyDict_New() : PyDict_CheckExact(given)
        ? PyDict_Copy(given) : PyObject_CallOneArg((PyObject *)&PyDict_Type, given);
    if (extensions == NULL && given != NULL && !PyDict_CheckExact(given)
        && PyErr_ExceptionMatches(PyExc_Exception)) {
        /* Not a mapping nor pairs (a server's mistake), as asgi._extensions
         * reads it: an empty dict, the value kept in orig. */
        PyErr_Clear();
        extensions = PyDict_SetItem(orig, S_extensions, given) < 0 ? NULL : PyDict_New();
    }
    Py_XDECREF(given);
    PyObject *ours = extensions ? new_dict(2) : NULL;
    if (ours == NULL || PyDict_SetItem(ours, S_orig, orig) < 0
        || PyDict_SetItem(ours, S_decision, decision) < 0) {
        Py_XDECREF(ours);
        goto out;
    }
    if (set_item_steal(extensions, S_trustedproxy, ours) < 0
        || PyDict_SetItem(new, S_extensions, extensions) < 0)
        goto out;
    result = Py_NewRef(new);
out:
    spots_clear(spots, nspots);
    Py_XDECREF(found);
    Py_XDECREF(decision);
    Py_XDECREF(fields);
    Py_XDECREF(prefix);
    Py_XDECREF(new);
    Py_XDECREF(orig);
    Py_XDECREF(extensions);
    Py_DECREF(peer);
    Py_XDECREF(client);
    Py_XDECREF(headers);
    return result;
}

#undef FIELD

static PyMethodDef speedups_methods[] = {
    {"asgi_prepare", (PyCFunction)(void (*)(void))asgi_prepare, METH_FASTCALL,
     "The scope the ASGI application gets, or None for a shape left to Python."},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------ module */

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "trustedproxy._speedups",
    "The compiled fast path of trustedproxy's WSGI and ASGI middleware and network matcher.", -1,
    speedups_methods,
};

static int
intern_all(void)
{
    struct { PyObject **slot; const char *text; } table[] = {
        {&S_call_python, "_call_python"}, {&S_fix_python, "_fix_python"}, {&S_decide, "_decide"},
        {&S___call__, "__call__"},
        {&S_REMOTE_ADDR, "REMOTE_ADDR"},
        {&S_HTTP_X_FORWARDED_FOR, "HTTP_X_FORWARDED_FOR"}, {&S_url_scheme, "wsgi.url_scheme"},
        {&S_HTTP_HOST, "HTTP_HOST"}, {&S_SERVER_NAME, "SERVER_NAME"},
        {&S_SERVER_PORT, "SERVER_PORT"}, {&S_HTTPS, "HTTPS"},
        {&S_REQUEST_SCHEME, "REQUEST_SCHEME"}, {&S_SCRIPT_NAME, "SCRIPT_NAME"}, {&S_on, "on"},
        {&S_https, "https"}, {&S_empty, ""}, {&S_ORIG, "trustedproxy.orig"},
        {&S_DECISION, "trustedproxy.decision"}, {&S___dict__, "__dict__"},
        {&S_element, "element"}, {&S_verdict, "verdict"}, {&S_trusted_v, "trusted"},
        {&S_client_v, "client"}, {&S_unvisited_v, "unvisited"}, {&S_peer, "peer"},
        {&S_trusted, "trusted"}, {&S_strip_prefix, "strip_prefix"}, {&S_chain, "chain"},
        {&S_client, "client"}, {&S_forwarded_for, "forwarded_for"}, {&S_scheme, "scheme"},
        {&S_host, "host"}, {&S_server, "server"}, {&S_port, "port"}, {&S_prefix, "prefix"},
        {&S_kept, "kept"}, {&S_removed, "removed"},
        {&S_sources, "sources"}, {&S_seen, "seen"}, {&S_learn, "learn"}, {&S_comma, ", "},
        {&S_x_forwarded_for, "x-forwarded-for"}, {&S_forwarded, "forwarded"},
        {&S_headers, "headers"}, {&S_http, "http"}, {&S_ws, "ws"}, {&S_wss, "wss"},
        {&S_websocket, "websocket"}, {&S_type, "type"}, {&S_extensions, "extensions"},
        {&S_orig, "orig"}, {&S_decision, "decision"}, {&S_trustedproxy, "trustedproxy"},
        {&S_root_path, "root_path"}, {&S_path, "path"}, {&S_raw_path, "raw_path"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        *table[i].slot = PyUnicode_InternFromString(table[i].text);
        if (*table[i].slot == NULL)
            return -1;
    }
    B_host = PyBytes_FromString("host");
    B_x_forwarded_for = PyBytes_FromString("x-forwarded-for");
    B_forwarded = PyBytes_FromString("forwarded");
    ZERO = PyLong_FromLong(0);
    if (B_host == NULL || B_x_forwarded_for == NULL || B_forwarded == NULL || ZERO == NULL)
        return -1;
    EMPTY_TUPLE = PyTuple_New(0);
    MISSING = PyBaseObject_Type.tp_alloc(&PyBaseObject_Type, 0);  /* dict_pop's default */
    return EMPTY_TUPLE == NULL || MISSING == NULL ? -1 : 0;
}

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (intern_all() < 0 || PyType_Ready(&CoreType) < 0 || PyType_Ready(&MatcherType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Core", (PyObject *)&CoreType) < 0
        || PyModule_AddObjectRef(module, "Matcher", (PyObject *)&MatcherType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
