// Fetching one whole file in the seed form (PROTOCOL §2) into a temporary file
// that is linked into place only when complete and, when a content id is known,
// verified. Each fetch owns a uv_tcp_t and a uv_timer_t. Used by peer.cc when no
// content id is known, or no source speaks the extended form (swarm.h fetches
// in the extended form).
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "manifest.h"
#include "ratelimit.h"

/* ---- fetching ------------------------------------------------------------- */

// status 0: the file is complete under its final name. Otherwise err says why and
// nothing is left behind. bytes is what the source sent.
typedef void (*FetchDoneCb)(void* ctx, int status, const std::string& err, uint64_t bytes);

// What to fetch, from where, the limits it runs under, and whom to tell.
struct FetchOptions {
  std::string ip;
  int port = 0;
  std::string name;  // asked for, and saved under in dir
  std::string dir;
  uint64_t stall_ms = 0;  // a source silent this long is given up
  std::string expect_id;  // the content id to check the download against; empty: none known
  // The size the tracker announced (-1: none): the source may send exactly that
  // many bytes, and dir must have room for them before the download starts.
  // With no size, max_unverified bytes at most (0: no limit). A source that
  // sends less than min_rate bytes per second over stall_ms is given up (0: never).
  int64_t expect_size = -1;
  uint64_t max_unverified = 0;
  uint64_t min_rate = 0;
  RateGate* download = nullptr;  // reads wait their turn here
  FetchDoneCb done = nullptr;
  void* ctx = nullptr;
};

struct Fetch {
  FetchOptions opt;
  uv_loop_t* loop = nullptr;
  std::string final_path, tmp_path;
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
  RateFloor floor;    // the source's rate over windows of stall_ms
  Manifest manifest;  // of the complete download
  bool gate_wait = false;
};

// Downloads o.name from o.ip:o.port (seed form) into o.dir. Refuses to start
// when dir/name exists, or when the announced size does not fit (UV_ENOSPC).
// Returns 0 (o.done runs later) or a negative error with *err set (done never runs).
int xfer_fetch_start(Fetch* f, uv_loop_t* loop, const FetchOptions& o, std::string* err);
// Stops the download; done runs with UV_ECANCELED once everything is released.
void xfer_fetch_cancel(Fetch* f);
