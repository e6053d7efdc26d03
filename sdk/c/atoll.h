/*
 * atoll.h: Atoll ABI v1 for C guests (see engine/wasmhost/ABI.md and engine/rows/CODEC.md).
 * Header only, no libc. Build with Debian's clang and lld:
 *
 *   clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Isdk/c -o fn.wasm fn.c
 *
 * A guest defines, with ATOLL_EXPORT:
 *   int32_t  atoll_abi_version(void)                     return ATOLL_ABI_VERSION
 *   uint8_t *atoll_alloc(uint32_t len)                   a buffer the host fills (guest-owned)
 *   uint64_t atoll_process(const uint8_t *in, uint32_t len)
 *                                                        ATOLL_RESULT(out, out_len)
 *   int32_t  atoll_init(const uint8_t *json, uint32_t len)   optional, 0 = ok
 * and may import atoll_log. The helpers below read and write the batch codec.
 */
#ifndef ATOLL_H
#define ATOLL_H

#include <stddef.h>
#include <stdint.h>

#define ATOLL_ABI_VERSION 1
#define ATOLL_EXPORT(name) __attribute__((export_name(#name))) __attribute__((visibility("default")))
#define ATOLL_RESULT(ptr, len) (((uint64_t)(uintptr_t)(ptr) << 32) | (uint64_t)(uint32_t)(len))

/* The reserved field that marks an output row as failed; its string value is the reason. */
#define ATOLL_ERROR_FIELD "$error"

enum { ATOLL_DEBUG = 0, ATOLL_INFO = 1, ATOLL_WARN = 2, ATOLL_ERROR = 3 };

/* atoll_v1.log: one line to the node's log. */
__attribute__((import_module("atoll_v1"), import_name("log"))) void atoll_log(int32_t level, const char *msg,
                                                                              uint32_t len);

/* Value tags of the codec. */
enum {
  ATOLL_NULL = 0, ATOLL_BOOL = 1, ATOLL_INT = 2, ATOLL_FLOAT = 3, ATOLL_STRING = 4,
  ATOLL_BYTES = 5, ATOLL_TIMESTAMP = 6, ATOLL_LIST = 7, ATOLL_FLOAT32S = 8
};

/* ---- memory: a grow-only heap on top of memory.grow ---- */

extern unsigned char __heap_base;
static uintptr_t atoll_heap_top;

/* atoll_sbrk returns n fresh bytes (8-aligned), or 0 when memory cannot grow. */
static inline uint8_t *atoll_sbrk(uint32_t n) {
  if (atoll_heap_top == 0) atoll_heap_top = ((uintptr_t)&__heap_base + 7) & ~(uintptr_t)7;
  uintptr_t p = atoll_heap_top, end = p + ((n + 7) & ~7u);
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    uintptr_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  }
  atoll_heap_top = end;
  return (uint8_t *)p;
}

/* atoll_buffer is a reusable growable buffer: guests keep their input and output in two. */
typedef struct {
  uint8_t *data;
  uint32_t cap;
} atoll_buffer;

/* atoll_reserve makes b hold at least n bytes (old contents are not kept). */
static inline uint8_t *atoll_reserve(atoll_buffer *b, uint32_t n) {
  if (b->cap < n) {
    uint32_t c = n + n / 2 + 64;
    uint8_t *d = atoll_sbrk(c);
    if (!d) return 0;
    b->data = d;
    b->cap = c;
  }
  return b->data;
}

/* atoll_copy copies n bytes; with -mbulk-memory it is one memory.copy instruction. */
static inline void atoll_copy(uint8_t *dst, const uint8_t *src, uint32_t n) { __builtin_memcpy(dst, src, n); }

static inline uint32_t atoll_strlen(const char *s) {
  uint32_t n = 0;
  while (s[n]) n++;
  return n;
}

static inline void atoll_log_str(int32_t level, const char *s) { atoll_log(level, s, atoll_strlen(s)); }

/* ---- codec reading: a cursor over one batch ---- */

typedef struct {
  const uint8_t *p, *end;
  int bad; /* set on any overrun */
} atoll_reader;

static inline uint32_t atoll_u32(atoll_reader *r) {
  if (r->end - r->p < 4) { r->bad = 1; r->p = r->end; return 0; }
  uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
  r->p += 4;
  return v;
}

static inline uint64_t atoll_u64(atoll_reader *r) {
  uint64_t lo = atoll_u32(r);
  return lo | (uint64_t)atoll_u32(r) << 32;
}

static inline void atoll_skip(atoll_reader *r, uint32_t n) {
  if ((uint32_t)(r->end - r->p) < n) { r->bad = 1; r->p = r->end; return; }
  r->p += n;
}

/* atoll_skip_value skips one value (tag and payload). base is the batch start (float32 padding). */
static inline void atoll_skip_value(atoll_reader *r, const uint8_t *base, int depth) {
  if (r->p >= r->end || depth > 32) { r->bad = 1; return; }
  uint8_t tag = *r->p++;
  switch (tag) {
  case ATOLL_NULL: break;
  case ATOLL_BOOL: atoll_skip(r, 1); break;
  case ATOLL_INT: case ATOLL_FLOAT: case ATOLL_TIMESTAMP: atoll_skip(r, 8); break;
  case ATOLL_STRING: case ATOLL_BYTES: atoll_skip(r, atoll_u32(r)); break;
  case ATOLL_LIST: {
    uint32_t n = atoll_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) atoll_skip_value(r, base, depth + 1);
    break;
  }
  case ATOLL_FLOAT32S: {
    uint32_t n = atoll_u32(r);
    while (((uintptr_t)(r->p - base)) % 4 && r->p < r->end) r->p++;
    if (n > 0x3FFFFFFF) { r->bad = 1; break; }
    atoll_skip(r, n * 4);
    break;
  }
  default: r->bad = 1;
  }
}

/* ---- codec writing ---- */

typedef struct {
  uint8_t *p;
} atoll_writer;

static inline void atoll_put_u32(atoll_writer *w, uint32_t v) {
  w->p[0] = (uint8_t)v; w->p[1] = (uint8_t)(v >> 8); w->p[2] = (uint8_t)(v >> 16); w->p[3] = (uint8_t)(v >> 24);
  w->p += 4;
}

static inline void atoll_put_bytes(atoll_writer *w, const void *src, uint32_t n) {
  atoll_copy(w->p, (const uint8_t *)src, n);
  w->p += n;
}

/* atoll_put_string writes a string value (tag, length, bytes). */
static inline void atoll_put_string(atoll_writer *w, const char *s, uint32_t n) {
  *w->p++ = ATOLL_STRING;
  atoll_put_u32(w, n);
  atoll_put_bytes(w, s, n);
}

/* atoll_put_header writes the batch header: magic, version 1, flags 0, row and name counts. */
static inline void atoll_put_header(atoll_writer *w, uint32_t nrows, uint32_t nnames) {
  atoll_put_bytes(w, "ATRB", 4);
  *w->p++ = 1; *w->p++ = 0; *w->p++ = 0; *w->p++ = 0;
  atoll_put_u32(w, nrows);
  atoll_put_u32(w, nnames);
}

/* atoll_copy_value copies one value from r to w, re-padding float32 arrays for their new
   offset (alignment is relative to each batch's start: in_base and out_base). */
static inline void atoll_copy_value(atoll_reader *r, const uint8_t *in_base, atoll_writer *w,
                                    const uint8_t *out_base, int depth) {
  const uint8_t *v = r->p;
  if (r->p >= r->end || depth > 32) { r->bad = 1; return; }
  uint8_t tag = *v;
  if (tag == ATOLL_LIST) {
    r->p++;
    uint32_t n = atoll_u32(r);
    *w->p++ = tag;
    atoll_put_u32(w, n);
    for (uint32_t i = 0; i < n && !r->bad; i++) atoll_copy_value(r, in_base, w, out_base, depth + 1);
    return;
  }
  if (tag == ATOLL_FLOAT32S) {
    r->p++;
    uint32_t n = atoll_u32(r);
    while (((uintptr_t)(r->p - in_base)) % 4 && r->p < r->end) r->p++;
    const uint8_t *data = r->p;
    if (n > 0x3FFFFFFF) { r->bad = 1; return; }
    atoll_skip(r, n * 4);
    if (r->bad) return;
    *w->p++ = tag;
    atoll_put_u32(w, n);
    while (((uintptr_t)(w->p - out_base)) % 4) *w->p++ = 0;
    atoll_put_bytes(w, data, n * 4);
    return;
  }
  atoll_skip_value(r, in_base, depth);
  if (!r->bad) atoll_put_bytes(w, v, (uint32_t)(r->p - v));
}

static inline int atoll_name_eq(const uint8_t *name, uint32_t len, const char *s) {
  uint32_t n = atoll_strlen(s);
  if (n != len) return 0;
  for (uint32_t i = 0; i < n; i++)
    if (name[i] != (uint8_t)s[i]) return 0;
  return 1;
}

#endif /* ATOLL_H */
