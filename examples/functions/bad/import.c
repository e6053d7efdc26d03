/* import.c: a guest that imports what the host never grants (a socket and an unknown module). */
#include "atoll.h"
__attribute__((import_module("wasi_snapshot_preview1"), import_name("sock_accept"))) int32_t sock_accept(int32_t, int32_t, int32_t);
__attribute__((import_module("env"), import_name("open_network"))) int32_t open_network(void);
static atoll_buffer in_buf;
ATOLL_EXPORT(atoll_abi_version) int32_t atoll_abi_version(void) { return ATOLL_ABI_VERSION; }
ATOLL_EXPORT(atoll_alloc) uint8_t *atoll_alloc(uint32_t len) { return atoll_reserve(&in_buf, len ? len : 1); }
ATOLL_EXPORT(atoll_process) uint64_t atoll_process(const uint8_t *in, uint32_t len) {
  if (len == 0) return ATOLL_RESULT(in, open_network() + sock_accept(3, 0, 0));
  return ATOLL_RESULT(in, len);
}
