/*
 * moment.c: the "moment of the day" Atoll function in C (Atoll ABI v1, no libc).
 * Reads int creation_timestamp (Unix seconds) and sets string moment by REEF's rule on the UTC
 * hour h and minute m: (0, 0) "midnight", (12, 0) "midday", h <= 8 or h >= 20 "night", else
 * "day". A row without an int
 * creation_timestamp goes to errors.
 *
 *   clang --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Isdk/c -o c-moment.wasm moment.c
 *
 * It decodes only what it needs: the name table, then each field's name index and value bounds.
 * Fields are copied through unchanged (float32 arrays re-padded); "moment" (or "$error") is appended to each row, or
 * replaces an existing "moment" value. New names go at the end of the name table (readers accept
 * any order).
 */
#include "atoll.h"

static atoll_buffer in_buf, out_buf;

ATOLL_EXPORT(atoll_abi_version) int32_t atoll_abi_version(void) { return ATOLL_ABI_VERSION; }

ATOLL_EXPORT(atoll_alloc) uint8_t *atoll_alloc(uint32_t len) { return atoll_reserve(&in_buf, len ? len : 1); }

static const char *moment(int64_t ts) {
  int64_t sec = ts % 86400;
  if (sec < 0) sec += 86400;
  int64_t h = sec / 3600, m = sec / 60 % 60;
  if (h == 0 && m == 0) return "midnight";
  if (h == 12 && m == 0) return "midday";
  if (h <= 8 || h >= 20) return "night";
  return "day";
}

static const char err_missing[] = "creation_timestamp: missing";
static const char err_type[] = "creation_timestamp: want int";
static const char err_malformed[] = "c guest: malformed input batch";

#define MAX_NAMES 4096

static uint64_t fail_all(void) {
  /* One error row: the host sends the whole batch to errors with this reason only if the
     input was malformed, which a conforming host never does. */
  uint8_t *o = atoll_reserve(&out_buf, 64 + sizeof err_malformed);
  atoll_writer w = {o};
  atoll_put_header(&w, 1, 1);
  atoll_put_u32(&w, 6);
  atoll_put_bytes(&w, "$error", 6);
  atoll_put_u32(&w, 1);
  atoll_put_u32(&w, 0);
  atoll_put_string(&w, err_malformed, sizeof err_malformed - 1);
  return ATOLL_RESULT(o, w.p - o);
}

ATOLL_EXPORT(atoll_process) uint64_t atoll_process(const uint8_t *in, uint32_t len) {
  atoll_reader r = {in, in + len, 0};
  atoll_skip(&r, 8); /* magic, version, flags: the host writes them */
  uint32_t nrows = atoll_u32(&r), nnames = atoll_u32(&r);
  if (r.bad || nnames > MAX_NAMES) return fail_all();
  int32_t ts_idx = -1, m_idx = -1, e_idx = -1;
  const uint8_t *names_start = r.p;
  for (uint32_t i = 0; i < nnames; i++) {
    uint32_t n = atoll_u32(&r);
    const uint8_t *name = r.p;
    atoll_skip(&r, n);
    if (r.bad) return fail_all();
    if (atoll_name_eq(name, n, "creation_timestamp")) ts_idx = (int32_t)i;
    else if (atoll_name_eq(name, n, "moment")) m_idx = (int32_t)i;
    else if (atoll_name_eq(name, n, "$error")) e_idx = (int32_t)i;
  }
  const uint8_t *names_end = r.p;
  uint32_t out_names = nnames;
  if (m_idx < 0) m_idx = (int32_t)out_names++;
  if (e_idx < 0) e_idx = (int32_t)out_names++;

  /* Worst case: each row grows by a field index, a tag, a length and the longest text, and
     float32 re-padding adds at most 3 bytes per (at least 5-byte) array. */
  uint32_t bound = 2 * len + 64 + nrows * (4 + 1 + 4 + 32);
  uint8_t *o = atoll_reserve(&out_buf, bound);
  if (!o) return fail_all();
  atoll_writer w = {o};
  atoll_put_header(&w, nrows, out_names);
  atoll_put_bytes(&w, names_start, (uint32_t)(names_end - names_start));
  if ((uint32_t)m_idx >= nnames) { atoll_put_u32(&w, 6); atoll_put_bytes(&w, "moment", 6); }
  if ((uint32_t)e_idx >= nnames) { atoll_put_u32(&w, 6); atoll_put_bytes(&w, "$error", 6); }

  for (uint32_t row = 0; row < nrows; row++) {
    uint32_t nf = atoll_u32(&r);
    if (r.bad) return fail_all();
    uint8_t *count_at = w.p;
    atoll_put_u32(&w, nf + 1);
    const char *text = err_missing;
    uint32_t text_len = sizeof err_missing - 1;
    int ok = 0, had_moment = 0;
    for (uint32_t f = 0; f < nf; f++) {
      uint32_t idx = atoll_u32(&r);
      const uint8_t *v = r.p;
      if (r.bad || idx >= nnames || v >= r.end) return fail_all();
      if ((int32_t)idx == m_idx) { /* replaced at the end of the row */
        atoll_skip_value(&r, in, 0);
        if (r.bad) return fail_all();
        had_moment = 1;
        continue;
      }
      if ((int32_t)idx == ts_idx) {
        if (v[0] == ATOLL_INT) {
          atoll_reader vr = {v + 1, v + 9, 0};
          text = moment((int64_t)atoll_u64(&vr));
          text_len = atoll_strlen(text);
          ok = 1;
        } else {
          text = err_type;
          text_len = sizeof err_type - 1;
        }
      }
      atoll_put_u32(&w, idx);
      atoll_copy_value(&r, in, &w, o, 0);
      if (r.bad) return fail_all();
    }
    uint32_t written = nf + 1 - (uint32_t)had_moment;
    atoll_writer cw = {count_at};
    atoll_put_u32(&cw, written);
    atoll_put_u32(&w, ok ? (uint32_t)m_idx : (uint32_t)e_idx);
    atoll_put_string(&w, text, text_len);
  }
  return ATOLL_RESULT(o, w.p - o);
}
