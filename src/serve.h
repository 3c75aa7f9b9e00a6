// Serving shared files over TCP (PROTOCOL §2) to any number of downloaders at
// once: the seed form (the whole file, then close) and the extended form
// (request lines answered from a table of actions, see wire.h), with have
// events pushed to watching downloaders, the least-sent piece chosen from a
// downloader's want set, and the upload rate limit. Each connection owns a
// uv_tcp_t and a uv_timer_t (and a uv_poll_t while sending pieces). One client
// address holds at most max_per_ip connections, idle ones are closed, and only
// the file that was shared under a name (its device and inode) is opened for
// it. Used by peer.cc.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "limits.h"
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
  // Which file was shared under the name: path is opened again only while it is
  // still that file (same device and inode); ino 0: not recorded, not checked.
  // follow: the path was a symbolic link when it was shared (else O_NOFOLLOW).
  uint64_t dev = 0, ino = 0;
  bool follow = false;
};

// Maps a requested name to what to serve; 0 when this peer serves it.
typedef int (*XferLookup)(void* ctx, const std::string& name, XferFile* out);

// Given several pieces a downloader would take (a want set), the one this
// server has sent least, so that a seeder's first copies go to distinct
// downloaders; among those, `asked` if it is one, else the first after it.
// sent[j] counts the times piece j was sent. -1 when want and have share none.
int serve_choose_piece(const std::vector<uint8_t>& want, const std::vector<uint8_t>* have,
                       const std::vector<uint32_t>& sent, uint32_t asked);

// A served connection as the connection table sees it.
struct ServeSlot {
  uint32_t ip = 0;     // the client's address
  bool idle = false;   // no request in flight
  uint64_t since = 0;  // idle since (ms)
};
// Which connection to close so that a new one from `ip` can be served: the
// oldest idle one of `ip` when that address already holds max_per_ip, else
// (the table holds max_conns) the oldest idle one of the address holding the
// most. -1: no room is needed, or none can be made (the new one is turned away;
// *refuse says which).
int serve_pick_victim(const std::vector<ServeSlot>& slots, uint32_t ip, size_t max_per_ip,
                      size_t max_conns, bool* refuse);

// Which waiter (by index in `waiting`, their addresses in queue order) a freed
// upload slot goes to: the first of the address holding fewest slots now
// (`holding`: the addresses of the answers holding one), so one address
// queueing many requests does not make others wait behind all of them.
size_t serve_pick_waiter(const std::vector<uint32_t>& waiting,
                         const std::vector<uint32_t>& holding);

struct ServeConn;

struct XferServer {
  uv_loop_t* loop = nullptr;
  uv_tcp_t listener;
  bool listening = false;
  int port = 0;
  XferLookup lookup = nullptr;  // what a name serves
  void* ctx = nullptr;          // passed to lookup and the callbacks
  RateGate* upload = nullptr;   // piece bytes out wait their turn here (null: no limit)
  std::unordered_set<ServeConn*> conns;
  size_t max_per_ip = kDefaultMaxConnsPerIp;    // --max-conns-per-ip
  size_t live = 0;                              // connections not closing
  std::unordered_map<uint32_t, size_t> per_ip;  // ... of each client address
  // A request named a file whose path is no longer the file that was shared:
  // `why` says what it is now (the caller tells the user, once).
  void (*on_refused)(void* ctx, const std::string& name, const std::string& why) = nullptr;
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

// A connection that asked for a file, for the peer's `status` command.
struct ServeUpload {
  std::string addr;         // the downloader's "ip:port"
  std::string name;         // the file it last asked for
  uint64_t bytes = 0;       // file bytes sent to it
  uint64_t elapsed_ms = 0;  // since it connected
};
// Every live connection that asked for a file.
void serve_status(const XferServer* s, std::vector<ServeUpload>* out);

// Listens on host:port (0: any free port, then in s->port). Set s->lookup and
// s->ctx (and the limits and callbacks above) first. Returns 0 or a negative error.
int xfer_server_start(XferServer* s, uv_loop_t* loop, const std::string& host, int port);
// A piece of `name` was verified here: every connection watching it is told.
void xfer_server_have(XferServer* s, const std::string& name, uint32_t index);
// Closes the listener and every connection; on_closed runs when all are gone.
void xfer_server_close(XferServer* s, void (*on_closed)(void* ctx));
