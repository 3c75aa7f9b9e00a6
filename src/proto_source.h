// A source as the tracker lists it in an answer: a view of the bytes the
// protocol module made for the peer when it joined (proto_source_blob), which
// the registry keeps without reading them, and what the registry knows of the
// copy. The registry hands these to the encoder (proto_encode_reply).
#pragma once

#include <cstdint>

struct ProtoSourceRef {
  const char* blob;  // valid while the answer is encoded
  uint16_t len;      // bytes of blob
  int port;          // the peer's TCP port
  bool complete;     // false: a downloader serving the pieces it has verified
};
