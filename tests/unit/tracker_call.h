// Driving a Tracker in unit tests: no sockets, the handler called directly.
#pragma once
#include <string>

#include "tracker.h"

// Handles datagram d as if it came from ip:port; returns the answer (empty: none).
static inline std::string send(Tracker* t, const std::string& d, const char* ip = "127.0.0.1",
                               int port = 4000) {
  tracker_handle(t, d, ip, port);
  return t->answer;
}

// A keyed tracker that prints nothing (its console lines would mix with Catch2's TAP).
static inline Tracker* quiet_tracker() {
  Tracker* t = new Tracker;
  t->quiet = true;
  tracker_init_key(t);
  return t;
}
