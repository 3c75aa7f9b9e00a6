// The tracker: UDP datagrams -> decode -> action table -> answer; liveness
// (expiry of silent peers, TCP probes of seed peers and of id holders), and the
// tracker console (logs request, all-logs, file_logs, help, exit). Owns a
// uv_udp_t, a sweep timer, the probes' TCP handles, the stdin console and the
// signal handles. Called from main.cc.
#pragma once

#include <netinet/in.h>
#include <openssl/sha.h>
#include <uv.h>

#include <string>
#include <unordered_map>
#include <unordered_set>

#include "app.h"
#include "console.h"
#include "limits.h"
#include "log.h"
#include "registry.h"
#include "udpserve.h"

struct TrackerOptions {
  std::string host = "127.0.0.1";
  int port = kDefaultTrackerPort;
  std::string log_path = ".tracker.log";
  int peer_ttl_s = kDefaultPeerTtlS;
  int max_files_per_ip = static_cast<int>(kDefaultMaxFilesPerIp);
  int max_contents_per_ip = static_cast<int>(kDefaultMaxContentsPerIp);
};

struct Probe;

struct Tracker {
  uv_loop_t* loop = nullptr;
  TrackerOptions opt;
  UdpServe udp;
  uv_prepare_t prepare;  // flushes buffered console and log lines once per loop pass
  bool prepare_open = false;
  uv_timer_t sweep;
  bool sweep_open = false;
  AppSignals signals;
  Console console;
  Log log;
  Registry reg;
  bool quiet = false;  // no console lines (unit tests)
  bool stopping = false;
  int64_t now = 0;             // ms, read once per datagram or timer pass
  unsigned char key[32] = {};  // keys the tokens; new at every start
  SHA256_CTX hmac_inner;       // the key absorbed: see tracker.cc
  SHA256_CTX hmac_outer;
  bool hmac_ready = false;
  std::unordered_map<std::string, Probe*> probes;         // by the id whose holder is probed
  std::unordered_map<std::string, int64_t> probed_alive;  // id -> when a probe last found it alive
  int64_t refusal_second = -1;                            // rate limit for refusal lines
  int refusal_lines = 0;
  int refusals_hidden = 0;
  ProtoRequest req;    // reused for every datagram
  ProtoReply reply;    // reused for every answer
  RegFileInfo info;    // get_peers', reused
  std::string answer;  // the encoded answer, reused
};

enum TrackerResult {
  TRACKER_ANSWER = 0,  // t->answer holds the answer (possibly empty: none)
  TRACKER_PROBE = 1,   // a join waits for a liveness probe of t->probe_target's holder
};

// Sets a random token key (tests may call it to get a tracker without a loop).
void tracker_init_key(Tracker* t);
// Handles one datagram from ip:port. No sockets: used by the UDP callback and by
// tests. TRACKER_PROBE leaves in *probe_id the id whose holder must be checked.
int tracker_handle(Tracker* t, const char* data, size_t len, const char* ip, int port,
                   std::string* probe_id = nullptr);
// The same for a datagram from a socket address (what the UDP callback calls).
int tracker_handle_from(Tracker* t, const char* data, size_t len, const struct sockaddr_in* from,
                        std::string* probe_id = nullptr);
// The token the tracker hands the peer `id` joined from ip:tcp_port.
std::string tracker_token(const Tracker* t, const std::string& id, const std::string& ip,
                          int tcp_port);
// What the probe found: a dead holder is removed, a live one keeps its id.
void tracker_probe_result(Tracker* t, const std::string& id, bool alive);
// Removes peers past their ttl, printing and logging each.
void tracker_expire(Tracker* t);
// Runs a tracker until `exit` or a signal. Returns the process exit code.
int tracker_main(const TrackerOptions& opt);
