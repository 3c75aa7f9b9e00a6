// The tracker: UDP datagrams -> decode -> action table -> answer, plus the
// tracker console (logs request, all-logs, file_logs, help, exit). Owns a
// uv_udp_t, the stdin console and the signal handles. Called from main.cc.
#pragma once

#include <uv.h>

#include <string>

#include "app.h"
#include "console.h"
#include "limits.h"
#include "log.h"
#include "registry.h"

struct TrackerOptions {
  std::string host = "127.0.0.1";
  int port = kDefaultTrackerPort;
  std::string log_path = ".tracker.log";
};

struct Tracker {
  uv_loop_t* loop = nullptr;
  TrackerOptions opt;
  uv_udp_t udp;
  bool udp_open = false;
  AppSignals signals;
  Console console;
  Log log;
  Registry reg;
  bool quiet = false;  // no console lines (unit tests)
  bool stopping = false;
  std::string answer;  // reused for every answer
  char rbuf[kMaxDatagram];
};

// Runs a tracker until `exit` or a signal. Returns the process exit code.
int tracker_main(const TrackerOptions& opt);

// Handles one datagram from ip:port and leaves the answer (possibly empty: no
// answer) in t->answer. No sockets: used by the UDP callback and by tests.
void tracker_handle(Tracker* t, const char* data, size_t len, const char* ip, int port);
