// Process-wide plumbing shared by the tracker and the peer: the loop's run and
// orderly teardown, and SIGINT/SIGTERM. Owns two uv_signal_t. Called from
// tracker.cc and peer.cc.
#pragma once

#include <uv.h>

struct AppSignals {
  uv_signal_t sigint;
  uv_signal_t sigterm;
  int open = 0;
  void (*on_signal)(void* ctx, int signum) = nullptr;
  void* ctx = nullptr;
};

// Ignores SIGPIPE (a peer that hangs up must not kill us), line-buffers stdout and
// reads the umask. Call before the loop starts any thread.
void app_init_process();
// The mode a new file gets from open(..., 0666): downloads are created private
// by mkstemp and given this mode when complete.
unsigned app_file_mode();
int app_signals_start(AppSignals* s, uv_loop_t* loop, void (*on_signal)(void*, int), void* ctx);
void app_signals_close(AppSignals* s);
// Runs the loop until every handle is closed, closes stragglers, and closes the
// loop. Returns 0, or a negative libuv error if the loop could not be closed.
int app_run(uv_loop_t* loop);
