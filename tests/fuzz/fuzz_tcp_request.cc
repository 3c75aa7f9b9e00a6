// libFuzzer target: the TCP request classifier (xfer_parse_request), which sees
// the first bytes any client sends to a peer's data port. The first input byte
// chooses `complete` (its low bit); the rest is the request. Invariants:
//   - a name returned for XREQ_SEED or XREQ_PARTIAL passes proto_check_name and
//     contains no '/' (it becomes a lookup key next to the filesystem);
//   - XREQ_EXTENDED only for input starting with '{' (a name may start with '{' too);
//   - with complete set, the answer is final: never XREQ_NEED_MORE or XREQ_PARTIAL;
//   - a PARTIAL request, once complete, is the SEED request for the same name.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "proto.h"
#include "serve.h"

static const char* kind_name(XferRequestKind k) {
  switch (k) {
    case XREQ_NEED_MORE:
      return "NEED_MORE";
    case XREQ_PARTIAL:
      return "PARTIAL";
    case XREQ_SEED:
      return "SEED";
    case XREQ_EXTENDED:
      return "EXTENDED";
    case XREQ_INVALID:
      return "INVALID";
  }
  return "?";
}

[[noreturn]] static void fail(const char* what, const char* req, size_t len, bool complete,
                              XferRequestKind kind, const std::string& name) {
  fprintf(stderr, "fuzz_tcp_request: invariant broken: %s\n", what);
  fprintf(stderr, "request (%zu bytes, complete=%d) -> %s, name (%zu bytes): %.*s\n", len,
          complete ? 1 : 0, kind_name(kind), name.size(), static_cast<int>(name.size()),
          name.data());
  (void)req;
  abort();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  bool complete = (data[0] & 1) != 0;
  // A copy of exactly the request bytes, so reads past the end are caught.
  std::string req(reinterpret_cast<const char*>(data) + 1, size - 1);
  const char* p = req.data();
  size_t len = req.size();

  std::string name;
  XferRequestKind kind = xfer_parse_request(p, len, complete, &name);
  switch (kind) {
    case XREQ_NEED_MORE:
    case XREQ_PARTIAL:
    case XREQ_SEED:
    case XREQ_EXTENDED:
    case XREQ_INVALID:
      break;
    default:
      fail("unknown kind", p, len, complete, kind, name);
  }
  if (kind == XREQ_EXTENDED && (len == 0 || p[0] != '{'))
    fail("EXTENDED for a request not starting with '{'", p, len, complete, kind, name);
  if (complete && (kind == XREQ_NEED_MORE || kind == XREQ_PARTIAL))
    fail("a complete request is not final", p, len, complete, kind, name);
  if (kind == XREQ_SEED || kind == XREQ_PARTIAL) {
    std::string why;
    if (proto_check_name(name, &why) != 0)
      fail(("returned name fails proto_check_name: " + why).c_str(), p, len, complete, kind, name);
    if (name.find('/') != std::string::npos)
      fail("returned name contains '/'", p, len, complete, kind, name);
    if (name.size() > len)
      fail("returned name is longer than the request", p, len, complete, kind, name);
  }
  if (kind == XREQ_PARTIAL) {
    std::string again;
    XferRequestKind k2 = xfer_parse_request(p, len, true, &again);
    if (k2 != XREQ_SEED || again != name)
      fail("a PARTIAL request, once complete, is not SEED for the same name", p, len, true, k2,
           again);
  }
  return 0;
}
