// Loop run, teardown and signals. See app.h.
#include "app.h"

#include <sys/stat.h>

#include <csignal>
#include <cstdio>

static mode_t g_umask = 022;

unsigned app_file_mode() {
  return 0666 & ~g_umask;
}

void app_init_process() {
  g_umask = umask(022);  // reading the umask means setting it: put it straight back
  umask(g_umask);
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, nullptr, _IOLBF, 0);
}

static void on_signal(uv_signal_t* h, int signum) {
  AppSignals* s = static_cast<AppSignals*>(h->data);
  if (s->on_signal != nullptr) s->on_signal(s->ctx, signum);
}

int app_signals_start(AppSignals* s, uv_loop_t* loop, void (*cb)(void*, int), void* ctx) {
  s->on_signal = cb;
  s->ctx = ctx;
  uv_signal_t* hs[2] = {&s->sigint, &s->sigterm};
  int nums[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; i++) {
    int r = uv_signal_init(loop, hs[i]);
    if (r != 0) return r;
    s->open++;
    hs[i]->data = s;
    if ((r = uv_signal_start(hs[i], on_signal, nums[i])) != 0) return r;
  }
  return 0;
}

void app_signals_close(AppSignals* s) {
  uv_signal_t* hs[2] = {&s->sigint, &s->sigterm};
  for (int i = 0; i < s->open; i++) {
    uv_handle_t* h = reinterpret_cast<uv_handle_t*>(hs[i]);
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }
}

int app_run(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  // Anything still open here is a straggler: close it so the loop can be closed.
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop);
}
