// A verified download from many sources at once (PROTOCOL §2 extended form, §3):
// the manifest from one source, checked against the content id; pieces from up
// to max_conns sources, each source asked for as many as its measured rate and
// round trip keep busy, rarest first (availability counted over every
// connection, kept fresh by the sources' pushed have events), with an endgame;
// every piece hashed (on the threadpool) before it is written; a resumable part
// file; the finished file linked into place. Each source connection owns a
// uv_tcp_t and a uv_timer_t. Used by peer.cc.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "manifest.h"
#include "proto.h"
#include "ratelimit.h"

struct SwarmOptions {
  std::string name;
  std::string dir;
  std::string cid;    // the content id the tracker announced
  int64_t size = -1;  // ... and the size (-1: none): a manifest must say the same
  std::vector<ProtoSource> sources;
  size_t max_conns = 4;
  uint64_t stall_ms = 30000;
  // A source that owes us pieces and sends less than min_rate bytes per second
  // over stall_ms is dropped (0: never). Windows in which our own download
  // limit held reads back are not counted.
  uint64_t min_rate = 0;
  RateGate* download = nullptr;  // bytes in wait their turn here (null: no limit)
};

// What one source sent: piece bytes received (duplicates in the endgame
// included) and the pieces of it that were verified and kept.
struct SwarmContribution {
  ProtoAddr addr;
  uint64_t bytes = 0;
  uint32_t pieces = 0;
};

struct Swarm;

// status: 0 (the file is in place), SWARM_NO_MANIFEST (no source spoke the
// extended form: try the seed form), UV_ECANCELED, or another error with err.
constexpr int SWARM_NO_MANIFEST = -100000;

struct SwarmCallbacks {
  void* ctx = nullptr;
  // The manifest is verified and the part file open (after a resume check):
  // verified pieces may be served from swarm_part_path from now on.
  void (*on_ready)(void* ctx, Swarm* s) = nullptr;
  void (*on_piece)(void* ctx, Swarm* s, uint32_t index) = nullptr;
  // A connection to a source is being opened; and one was dropped (why says why).
  void (*on_connect)(void* ctx, const ProtoSource& src) = nullptr;
  void (*on_drop)(void* ctx, const ProtoSource& src, const std::string& why) = nullptr;
  // Runs once; the swarm is freed after it returns.
  void (*on_done)(void* ctx, Swarm* s, int status, const std::string& err) = nullptr;
};

Swarm* swarm_start(uv_loop_t* loop, const SwarmOptions& opt, const SwarmCallbacks& cb);
// Adds sources the tracker listed since the start (a crowd of partial copies
// grows); sources already known are skipped.
void swarm_add_sources(Swarm* s, const std::vector<ProtoSource>& sources);
// Stops; verified pieces stay in the part file. on_done runs with UV_ECANCELED.
void swarm_cancel(Swarm* s);

const Manifest& swarm_manifest(const Swarm* s);
const std::vector<uint8_t>& swarm_have(const Swarm* s);  // one byte per piece, 1 when on disk
const std::string& swarm_part_path(const Swarm* s);
uint32_t swarm_pieces_had(const Swarm* s);      // on disk
uint32_t swarm_pieces_resumed(const Swarm* s);  // found verified in the part file at start
uint64_t swarm_bytes_received(const Swarm* s);  // piece bytes taken off the network
size_t swarm_active_sources(const Swarm* s);
// A download's state for the peer's `status` command.
struct SwarmStatus {
  bool have_manifest = false;  // the counts below are known
  uint32_t pieces = 0;         // in the file
  uint32_t pieces_had = 0;     // verified and on disk
  uint64_t size = 0;
  uint64_t bytes_had = 0;          // of the verified pieces
  uint64_t bytes_received = 0;     // piece bytes taken off the network
  double rate = 0;                 // bytes per second now: the connected sources' rates
  std::vector<ProtoAddr> sources;  // connected now
};
void swarm_status(const Swarm* s, SwarmStatus* out);
// Every source that sent piece bytes, in the order they first did.
const std::vector<SwarmContribution>& swarm_contributions(const Swarm* s);
// The part file for a content id in dir.
std::string swarm_part_name(const std::string& cid);
// Whether dir has room for a download of `size` bytes (less what a part file of
// cid, when there is one, holds already). 0, or a negative error (UV_ENOSPC)
// with *err "not enough free space in DIR: need X, have Y".
int swarm_check_space(const std::string& dir, const std::string& cid, uint64_t size,
                      std::string* err);
