// The data plane over TCP (PROTOCOL §2, seed form): serving shared files to any
// number of downloaders at once, and fetching one file into a temporary file that
// is linked into place only when complete. Each serving connection owns a
// uv_tcp_t and a uv_timer_t; each fetch owns the same. Used by peer.cc.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

/* ---- serving -------------------------------------------------------------- */

// What the first bytes of a TCP request ask for (no I/O: tested and fuzzed directly).
enum XferRequestKind {
  XREQ_NEED_MORE,  // nothing usable yet: wait for more bytes
  XREQ_PARTIAL,    // a valid name so far, unterminated: serve it if we have it, else wait
  XREQ_SEED,       // a complete seed-form request for *name
  XREQ_EXTENDED,   // the extended form (first byte '{')
  XREQ_INVALID,    // not a request we can serve: close
};
// `complete` means no more bytes will come (the client shut down, or the wait ran out).
XferRequestKind xfer_parse_request(const char* data, size_t len, bool complete, std::string* name);

#include "manifest.h"

// What the server may serve under a name. The pointers are valid only during
// the lookup call: the server copies what it needs.
struct XferFile {
  std::string path;
  const Manifest* manifest = nullptr;          // null while the file is being hashed
  const std::vector<uint8_t>* have = nullptr;  // one byte per piece (1: verified); null: complete
};

// Maps a requested name to what to serve; 0 when this peer serves it.
typedef int (*XferLookup)(void* ctx, const std::string& name, XferFile* out);

// The bitfield of the have answer: bit i of the file is bit 7 - i % 8 of byte
// i / 8, in hex. Exposed for tests and for the downloader.
std::string xfer_bitfield_hex(const std::vector<uint8_t>& have, size_t pieces);
int xfer_bitfield_parse(const std::string& hex, size_t pieces, std::vector<uint8_t>* have);

struct ServeConn;

struct XferServer {
  uv_loop_t* loop = nullptr;
  uv_tcp_t listener;
  bool listening = false;
  int port = 0;
  XferLookup lookup = nullptr;
  void* ctx = nullptr;
  std::unordered_set<ServeConn*> conns;
  bool closing = false;
  int open = 0;  // the listener plus live connections
  void (*on_closed)(void* ctx) = nullptr;
};

int xfer_server_start(XferServer* s, uv_loop_t* loop, const std::string& host, int port,
                      XferLookup lookup, void* ctx);
// Closes the listener and every connection; on_closed runs when all are gone.
void xfer_server_close(XferServer* s, void (*on_closed)(void* ctx));

/* ---- fetching ------------------------------------------------------------- */

struct Fetch;
// status 0: the file is complete under its final name. Otherwise err says why and
// nothing is left behind. bytes is what the source sent.
typedef void (*FetchDoneCb)(void* ctx, int status, const std::string& err, uint64_t bytes);

struct Fetch {
  uv_loop_t* loop = nullptr;
  std::string name, ip, final_path, tmp_path;
  int port = 0;
  uint64_t stall_ms = 0;
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_timer_t timer;
  uv_fs_t fs_req;
  uv_file fd = -1;
  uint64_t received = 0;  // bytes on disk
  char* buf = nullptr;
  size_t chunk_len = 0;   // bytes of buf read from the socket
  size_t chunk_done = 0;  // ... and written so far
  int open_handles = 0;
  bool fs_busy = false;
  bool failed = false;
  bool done_called = false;
  int status = 0;
  std::string error;
  std::string expect_id;  // the content id to check the download against; empty: none known
  Manifest manifest;      // of the complete download
  FetchDoneCb done = nullptr;
  void* ctx = nullptr;
};

// Downloads `name` from ip:port (seed form) into dir. Refuses to start when
// dir/name exists. Returns 0 (done runs later) or a negative error with *err set
// (done never runs).
int xfer_fetch_start(Fetch* f, uv_loop_t* loop, const std::string& ip, int port,
                     const std::string& name, const std::string& dir, uint64_t stall_ms,
                     FetchDoneCb done, void* ctx, std::string* err);
// Stops the download; done runs with UV_ECANCELED once everything is released.
void xfer_fetch_cancel(Fetch* f);
