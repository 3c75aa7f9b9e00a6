// The tracker: UDP datagrams -> decode -> action table -> answer; liveness
// (expiry of silent peers, TCP probes of seed peers and of id holders), the
// tracker console (logs request, all-logs, file_logs, peers, files, stats,
// help, exit, quit), its counters and an optional HTTP status server (--http).
// Owns a UdpServe (its uv_udp_t), a sweep timer, the probes' TCP handles, the stdin console, the
// HTTP server and the signal handles. Called from main.cc.
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "app.h"
#include "bep15.h"
#include "bthttp.h"
#include "btstore.h"
#include "console.h"
#include "hmac.h"
#include "http.h"
#include "limits.h"
#include "log.h"
#include "proto.h"
#include "registry.h"
#include "stats.h"
#include "udpserve.h"

struct TrackerOptions {
  std::string host = "127.0.0.1";
  int port = kDefaultTrackerPort;
  std::string log_path = ".tracker.log";
  int peer_ttl_s = kDefaultPeerTtlS;
  int max_ids_per_ip = kDefaultMaxIdsPerIp;
  int max_files_per_ip = static_cast<int>(kDefaultMaxFilesPerIp);
  int max_contents_per_ip = static_cast<int>(kDefaultMaxContentsPerIp);
  int log_max_mib = kDefaultLogMaxMiB;
  // --http IP:PORT, checked by the caller: a dotted IPv4 address and a port
  // from 0 (a free one) to 65535; http_port -1: no status server.
  std::string http_ip;
  int http_port = -1;
  // BitTorrent (BEP 15): the BtLimits the flags set (--bt-max-swarms, ...).
  int bt_max_swarms = static_cast<int>(BtLimits().max_swarms);
  int bt_max_peers = static_cast<int>(BtLimits().max_peers);
  int bt_max_peers_per_ip = static_cast<int>(BtLimits().max_peers_per_ip);
  int bt_interval_s = BtLimits().interval_s;
};

// The BtLimits that opt's flags ask for.
BtLimits tracker_bt_limits(const TrackerOptions& opt);

struct Probe;
struct LogPrint;

// A join that waits for the verdict of a liveness probe.
struct Waiter {
  std::string datagram;
  struct sockaddr_in from;
};

// A probe in flight, as the tracker's rules see it (the handles are in Probe).
struct ProbeWait {
  uint64_t target = 0;  // the holder's ip << 16 | tcp_port: what is connected to
  uint32_t sender = 0;  // the IP whose join asked for it (0: the sweep)
  std::vector<Waiter> waiters;
};

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
  int64_t now = 0;                                 // ms, read once per datagram or timer pass
  unsigned char key[32] = {};                      // keys the tokens; new at every start
  Hmac mac;                                        // keyed with key; freed with the tracker
  std::unordered_map<std::string, Probe*> probes;  // by the id whose holder is probed
  std::unordered_map<std::string, int64_t> probed_alive;  // id -> when a probe last found it alive
  std::unordered_map<std::string, ProbeWait> waiting;     // probes in flight, by id
  std::unordered_map<uint64_t, int> probe_targets;        // ProbeWait::target -> probes in flight
  std::unordered_map<uint32_t, int> probe_senders;        // ProbeWait::sender -> probes in flight
  size_t waiting_bytes = 0;                               // datagrams in ProbeWait::waiters
  std::unordered_map<std::string, int64_t> probe_missed;  // id -> when a probe of it timed out
  size_t sweep_cursor = 0;                                // the next registry slot the sweep reads
  LogPrint* printing = nullptr;            // a console command reading the log off the loop
  std::vector<std::string> console_queue;  // console lines typed meanwhile
  int64_t refusal_second = -1;             // rate limit for refusal lines
  int refusal_lines = 0;
  int refusals_hidden = 0;
  ProtoRequest req;    // reused for every datagram
  ProtoReply reply;    // reused for every answer
  RegFileInfo info;    // get_peers', reused
  std::string blob;    // join's: the bytes the joining peer is listed with, reused
  std::string answer;  // the encoded answer, reused
  Stats stats;         // counters, for the console's stats and /metrics
  HttpServer http;     // --http: started only when asked for
  // BitTorrent swarms (BEP 15 on the UDP port, HTTP announce). Never null:
  // made with default limits here, again with the flags' at start-up.
  BtStore* bt = bt_store_new(BtLimits());
  Bep15Request bt_req;  // reused for every BEP 15 datagram
  BtAnswer bt_answer;   // an announce's sample and counts, reused
  uv_timer_t bt_sweep;  // expires silent BitTorrent peers, a bounded step at a time
  bool bt_sweep_open = false;

  Tracker() = default;
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;
  ~Tracker() {
    bt_store_free(bt);
    hmac_free(&mac);
  }
  BtHttpCounts bt_http;  // /announce and /scrape answers
};

enum TrackerResult {
  TRACKER_ANSWER = 0,  // t->answer holds the answer (possibly empty: none)
  TRACKER_PROBE = 1,   // a join waits for a new liveness probe of *probe_id's holder: start it
  TRACKER_WAIT = 2,    // a join waits for a probe already started: nothing to send yet
};

enum ProbeVerdict {
  PROBE_ALIVE = 0,    // the holder's TCP port accepted the connection
  PROBE_REFUSED = 1,  // refused (nothing listens there): the holder is gone
  PROBE_TIMEOUT = 2,  // no answer in time: gone only if the previous probe timed out too
};

// Sets a random token key and keys the HMAC with it (every tracker needs it
// before it handles a datagram; tests call it for a tracker without a loop).
// Returns 0, or -1 when OpenSSL cannot make the HMAC context.
int tracker_init_key(Tracker* t);
// Handles one datagram from ip:port. No sockets: used by tests (the UDP
// callback calls tracker_handle_from). TRACKER_PROBE leaves in *probe_id the id
// whose holder must be checked; the datagram then waits in t->waiting (as it
// does for TRACKER_WAIT).
int tracker_handle(Tracker* t, const std::string& datagram, const char* ip, int port,
                   std::string* probe_id = nullptr);
// The same for a datagram from a socket address (what the UDP callback calls).
int tracker_handle_from(Tracker* t, const char* data, size_t len, const struct sockaddr_in* from,
                        std::string* probe_id = nullptr);
// The BEP 15 connection id for ip_n:port (network order, host order) at now_ms:
// an HMAC of the address and the minute, so the tracker keeps no state for it.
// An id is accepted in its minute and the next one.
uint64_t tracker_bt_connection_id(const Tracker* t, uint32_t ip_n, int port, int64_t now_ms);
// One step of BitTorrent expiry (kBtExpireSlotsPerStep entries at most).
// Returns the entries removed.
size_t tracker_bt_sweep(Tracker* t);
// The token the tracker hands the peer `id` joined from ip:tcp_port.
std::string tracker_token(const Tracker* t, const std::string& id, const std::string& ip,
                          int tcp_port);
// Begins the bookkeeping of a probe of id's holder that no join asked for (the
// sweep's): false when one runs already or the limits say not now.
bool tracker_probe_begin(Tracker* t, const std::string& id);
// What the probe of id's holder found: a dead holder is removed, a live one
// keeps its id. The joins that waited for it are moved to *waiters (optional).
void tracker_probe_result(Tracker* t, const std::string& id, ProbeVerdict verdict,
                          std::vector<Waiter>* waiters = nullptr);
// One step of the sweep: looks at up to max_slots registry slots from where the
// last step stopped, removing the peers past their ttl (printing and logging
// each) and listing in *due (optional) the seed peers whose port should be
// probed. Returns true when the step reached the end of the table.
bool tracker_sweep_step(Tracker* t, size_t max_slots, std::vector<std::string>* due);
// What the sweep timer runs: a step, and the probes of the seed peers it found
// due, booked as far as kMaxProbes allows (their ids in *start, to be started).
// When probes run out the sweep stays where it is, so no due peer is skipped.
// Returns the delay in ms before the next call.
int tracker_sweep(Tracker* t, std::vector<std::string>* start);
// Removes every peer past its ttl (the whole table, step by step).
void tracker_expire(Tracker* t);
// The tracker's console commands and HTTP pages, as text (tests call them).
// `peers` and `files` list at most kListingRows rows.
void tracker_peers_text(Tracker* t, std::string* out);
void tracker_files_text(Tracker* t, std::string* out);
void tracker_stats_text(Tracker* t, std::string* out);
void tracker_metrics_text(Tracker* t, std::string* out);
void tracker_status_html(Tracker* t, std::string* out);
// Runs a tracker until `exit` or a signal. Returns the process exit code.
int tracker_main(const TrackerOptions& opt);
// The tracker console's command table, as `help` prints it; tt's usage
// text and `tt help --dump` list it too.
ConsoleTable tracker_console_commands();
