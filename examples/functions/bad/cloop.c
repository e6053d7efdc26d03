/* cloop.c: a C guest that spins forever in atoll_process (the echo of its input is never reached). */
#include "atoll.h"
static atoll_buffer in_buf;
static volatile uint32_t counter;
ATOLL_EXPORT(atoll_abi_version) int32_t atoll_abi_version(void) { return ATOLL_ABI_VERSION; }
ATOLL_EXPORT(atoll_alloc) uint8_t *atoll_alloc(uint32_t len) { return atoll_reserve(&in_buf, len ? len : 1); }
ATOLL_EXPORT(atoll_process) uint64_t atoll_process(const uint8_t *in, uint32_t len) {
  for (;;) {
    counter++;
    if (counter == 0 && len == 0xFFFFFFFFu) break;
  }
  return ATOLL_RESULT(in, len);
}
