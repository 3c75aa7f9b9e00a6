// Serving shared files over TCP (PROTOCOL §2) to any number of downloaders at
// once: the seed form (the whole file, then close) and the extended form
// (request lines answered from a table of actions, see wire.h), with have
// events pushed to watching downloaders, the least-sent piece chosen from a
// downloader's want set, and the upload rate limit. Each connection owns a
// uv_tcp_t and a uv_timer_t (and a uv_poll_t while sending pieces). Used by
// peer.cc.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "manifest.h"
#include "ratelimit.h"

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

// What the server may serve under a name. The pointers are valid only during
// the lookup call: the server copies what it needs.
struct XferFile {
  std::string path;
  const Manifest* manifest = nullptr;          // null while the file is being hashed
  const std::vector<uint8_t>* have = nullptr;  // one byte per piece (1: verified); null: complete
};

// Maps a requested name to what to serve; 0 when this peer serves it.
typedef int (*XferLookup)(void* ctx, const std::string& name, XferFile* out);

// Given several pieces a downloader would take (a want set), the one this
// server has sent least, so that a seeder's first copies go to distinct
// downloaders; among those, `asked` if it is one, else the first after it.
// sent[j] counts the times piece j was sent. -1 when want and have share none.
int serve_choose_piece(const std::vector<uint8_t>& want, const std::vector<uint8_t>* have,
                       const std::vector<uint32_t>& sent, uint32_t asked);

struct ServeConn;

struct XferServer {
  uv_loop_t* loop = nullptr;
  uv_tcp_t listener;
  bool listening = false;
  int port = 0;
  XferLookup lookup = nullptr;
  void* ctx = nullptr;
  RateGate* upload = nullptr;  // piece bytes out wait their turn here (null: no limit)
  std::unordered_set<ServeConn*> conns;
  // Pieces sent per file (by path), for choosing from want sets; bounded by the
  // files served and their piece counts.
  std::unordered_map<std::string, std::vector<uint32_t>> sent;
  // Upload slots: at most kUploadSlots piece answers are sent at once; other
  // piece requests wait in turn (their piece is chosen when a slot frees).
  size_t sending = 0;
  std::vector<ServeConn*> slot_queue;
  uv_timer_t slot_timer;  // revokes slots held too long while others wait
  bool slot_timer_open = false;
  bool closing = false;
  int open = 0;  // the listener plus live connections
  void (*on_closed)(void* ctx) = nullptr;
};

int xfer_server_start(XferServer* s, uv_loop_t* loop, const std::string& host, int port,
                      XferLookup lookup, void* ctx);
// A piece of `name` was verified here: every connection watching it is told.
void xfer_server_have(XferServer* s, const std::string& name, uint32_t index);
// Closes the listener and every connection; on_closed runs when all are gone.
void xfer_server_close(XferServer* s, void (*on_closed)(void* ctx));
