// btload: BEP 15 (UDP tracker protocol) load generator and null responder for
// scripts/bench.sh bep15 (docs/benchmarks.md).
//
//   btload null --port 0 [--answer-peers K]
//   btload load --server IP:PORT --window W --duration SECS [--sockets S] [--hashes H]
//               [--pairs N] [--warmup SECS] [--server-pid PID]
//   btload hashes --hashes H
//
// The client side is raw non-blocking UDP sockets and epoll. Each socket does a
// BEP 15 connect (and again before its connection id is a minute old); W
// announces stay in flight over all sockets, each matched to its request by its
// transaction id (the slot's number in the high bits). Every answer is checked
// against BEP 15's layout. The null responder runs the tracker's own UDP I/O
// (src/udpserve.cc) and answers with fixed, well-formed answers: the machine's
// limit for this shape.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "udpserve.h"

static constexpr const char* kLoadgenName = "btload";
#include "loadgen.h"

static const char kUsage[] =
    "usage: btload null --port PORT [--answer-peers K]\n"
    "       btload load --server IP:PORT --window W --duration SECS [--sockets S]\n"
    "                   [--hashes H] [--pairs N] [--warmup SECS] [--server-pid PID]\n"
    "       btload hashes --hashes H\n"
    "\n"
    "null    answers BEP 15 datagrams on UDP 127.0.0.1:PORT (PORT 0: the kernel picks;\n"
    "        prints 'listening on 127.0.0.1:PORT'): a connect with a fixed connection id,\n"
    "        an announce with interval 1800 and K peers (default 9, 0 to 200) at\n"
    "        127.0.0.1, anything else with an error; runs until SIGINT/SIGTERM.\n"
    "load    S sockets (default 4) each connect; setup (not timed): each of N (info hash,\n"
    "        peer) pairs (default 100000, over H info hashes, default 10000) is announced\n"
    "        once (event started, 64 in flight); then W announces stay in flight for SECS\n"
    "        seconds (after --warmup SECS, default 1, not recorded), each for a random\n"
    "        pair. Pair j: info hash j mod H, its own peer id, port and key; one in three\n"
    "        a seeder (left 0). An announce unanswered after 1 s is counted lost and\n"
    "        replaced. Prints one line:\n"
    "        btload: window=.. sockets=.. duration=.. sent=.. answered=.. lost=.. errors=..\n"
    "                malformed=.. rate=.. p50_us=.. p99_us=.. p999_us=.. max_us=..\n"
    "                peers_per_answer=..\n"
    "        (errors: BEP 15 error answers; malformed: answers that break BEP 15's layout,\n"
    "        a wrong action or transaction id, a peer list not a multiple of 6 bytes, more\n"
    "        peers than the counts, a peer not at 127.0.0.1, an interval out of 1..604800;\n"
    "        rate: answered announces per second)\n"
    "        With --server-pid, adds the server's RSS before and after the setup and its\n"
    "        growth per pair, and its CPU time over the recorded seconds from\n"
    "        /proc/PID/stat (utime+stime): rss0_kb=.. rss1_kb=.. bytes_per_pair=..\n"
    "        server_cpu=.. load_cpu=.. (busy fraction of one CPU) server_us=.. (server\n"
    "        CPU microseconds per answered announce)\n"
    "hashes  prints the H info hashes load uses, 40 hex digits a line (a whitelist)\n";

/* ----------------------------------------------------------------------------
 * BEP 15 wire layout (big-endian)
 * ------------------------------------------------------------------------- */

static const uint64_t kMagic = 0x41727101980ull;
enum { ACT_CONNECT = 0, ACT_ANNOUNCE = 1, ACT_SCRAPE = 2, ACT_ERROR = 3 };
static const size_t kConnectLen = 16, kAnnounceLen = 98, kAnnounceAnswerLen = 20;

static void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
static void put64(uint8_t* p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}
static uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
static uint64_t get64(const uint8_t* p) {
  return static_cast<uint64_t>(get32(p)) << 32 | get32(p + 4);
}

static uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Info hash number h: the same in every run (a whitelist can list them).
static void info_hash(long h, uint8_t out[20]) {
  for (int i = 0; i < 3; i++) {
    uint64_t v = mix64(static_cast<uint64_t>(h) * 4 + static_cast<uint64_t>(i) + 0x6274);
    memcpy(out + 8 * i, &v, i < 2 ? 8 : 4);
  }
}

/* ----------------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------------- */

struct Opts {
  std::string cmd;
  int port = -1;
  struct sockaddr_in server {};
  bool has_server = false;
  long window = -1;
  long sockets = 4;
  double duration = -1;
  double warmup = 1;
  long hashes = 10000;
  long pairs = 100000;
  long server_pid = 0;
  long answer_peers = 9;
};

static void parse_server(const char* s, Opts* o) {
  o->server = parse_server_addr(s);
  o->has_server = true;
}

static void parse_args(int argc, char** argv, Opts* o) {
  o->cmd = loadgen_subcommand(argc, argv, kUsage, {"null", "load", "hashes"});
  bool is_null = o->cmd == "null", is_load = o->cmd == "load";
  for (int i = 2; i < argc; i++) {
    std::string f = argv[i];
    const char* v = loadgen_flag_value(argc, argv, &i, kUsage);
    if (f == "--port" && is_null) {
      o->port = static_cast<int>(parse_long("--port", v, 0, 65535));
    } else if (f == "--answer-peers" && is_null) {
      o->answer_peers = parse_long("--answer-peers", v, 0, 200);
    } else if (f == "--server" && is_load) {
      parse_server(v, o);
    } else if (f == "--window" && is_load) {
      o->window = parse_long("--window", v, 1, 4095);
    } else if (f == "--sockets" && is_load) {
      o->sockets = parse_long("--sockets", v, 1, 256);
    } else if (f == "--duration" && is_load) {
      o->duration = parse_secs("--duration", v, 0.01, 86400);
    } else if (f == "--warmup" && is_load) {
      o->warmup = parse_secs("--warmup", v, 0, 3600);
    } else if (f == "--hashes" && !is_null) {
      o->hashes = parse_long("--hashes", v, 1, 10000000);
    } else if (f == "--pairs" && is_load) {
      o->pairs = parse_long("--pairs", v, 1, 100000000);
    } else if (f == "--server-pid" && is_load) {
      o->server_pid = parse_long("--server-pid", v, 1, 4194304);
    } else {
      die("unknown flag %s for '%s' (try --help)", f.c_str(), o->cmd.c_str());
    }
  }
  if (is_null) {
    if (o->port < 0) die("null needs --port PORT (0: the kernel picks one)");
    return;
  }
  if (!is_load) return;
  if (!o->has_server) die("load needs --server IP:PORT");
  if (o->window < 0) die("load needs --window W");
  if (o->duration < 0) die("load needs --duration SECS");
  // Peers of one swarm differ by port (trackers key peers by address and port).
  if (o->pairs / o->hashes >= 64000)
    die("--pairs %ld over --hashes %ld: more than 64000 peers a swarm", o->pairs, o->hashes);
}

/* ----------------------------------------------------------------------------
 * null: the responder
 * ------------------------------------------------------------------------- */

struct Null {
  NullServer srv;
  uint8_t announce[kAnnounceAnswerLen + 6 * 200];
  size_t announce_len = 0;
};

static void null_datagram(void* ctx, const char* data, size_t len, const struct sockaddr_in* from,
                          bool) {
  Null* n = static_cast<Null*>(ctx);
  const uint8_t* d = reinterpret_cast<const uint8_t*>(data);
  uint8_t out[kConnectLen + 64];
  if (len >= kConnectLen && get64(d) == kMagic && get32(d + 8) == ACT_CONNECT) {
    put32(out, ACT_CONNECT);
    memcpy(out + 4, d + 12, 4);
    put64(out + 8, 0x1234567890abcdefull);
    udpserve_answer(&n->srv.udp, from, reinterpret_cast<char*>(out), kConnectLen);
  } else if (len >= kAnnounceLen && get32(d + 8) == ACT_ANNOUNCE) {
    memcpy(n->announce + 4, d + 12, 4);  // the transaction id
    udpserve_answer(&n->srv.udp, from, reinterpret_cast<char*>(n->announce), n->announce_len);
  } else if (len >= 16) {
    static const char kMsg[] = "unknown request";
    put32(out, ACT_ERROR);
    memcpy(out + 4, d + 12, 4);
    memcpy(out + 8, kMsg, sizeof kMsg - 1);
    udpserve_answer(&n->srv.udp, from, reinterpret_cast<char*>(out), 8 + sizeof kMsg - 1);
  }
}

static int run_null(const Opts& o) {
  Null n;
  // The fixed announce answer: interval 1800, K peers counted as leechers and
  // one seeder, peers 127.0.0.1 at ports 6881, 6882, ...
  uint32_t k = static_cast<uint32_t>(o.answer_peers);
  put32(n.announce, ACT_ANNOUNCE);
  put32(n.announce + 8, 1800);
  put32(n.announce + 12, k);
  put32(n.announce + 16, 1);
  for (uint32_t i = 0; i < k; i++) {
    uint8_t* p = n.announce + kAnnounceAnswerLen + 6 * i;
    put32(p, 0x7f000001);
    p[4] = static_cast<uint8_t>((6881 + i) >> 8);
    p[5] = static_cast<uint8_t>(6881 + i);
  }
  n.announce_len = kAnnounceAnswerLen + 6 * k;
  uint64_t answered = null_serve(&n.srv, o.port, &n, null_datagram);
  fprintf(stderr, "btload null: answered %" PRIu64 " datagrams\n", answered);
  return 0;
}

/* ----------------------------------------------------------------------------
 * Client side: sockets (each with its connection id) and slots (one
 * announce in flight each)
 * ------------------------------------------------------------------------- */

static const uint64_t kSecond = 1000000000ull;
static const uint64_t kReconnectNs = 50 * kSecond;  // connection ids live a minute at least

struct Sock {
  int fd = -1;
  bool connected = false;
  bool connecting = false;
  uint64_t conn_id = 0;
  uint64_t conn_ns = 0;  // when conn_id came
  uint32_t ctid = 0;     // the connect in flight
  uint64_t csent_ns = 0;
  int ctries = 0;
};

struct Slot {
  size_t sock = 0;
  bool busy = false;
  bool parked = false;  // waiting for its socket's connect
  uint32_t tid = 0;
  uint32_t counter = 0;
  uint64_t sent_ns = 0;
  long pair = -1;
  int event = 0;
  int tries = 0;
  uint8_t req[kAnnounceLen];
};

struct Client {
  Opts o;
  std::vector<Sock> socks;
  std::vector<Slot> slots;
  int ep = -1;
  std::mt19937_64 rng{12345};
  uint64_t salt = 0;  // peer ids differ from run to run
  bool recording = false;
  uint64_t sent = 0, answered = 0, lost = 0, errors = 0, malformed = 0, peers_seen = 0;
  std::vector<uint32_t> lat_ns;
  std::string first_problem;  // the first error or malformed answer, for the log
  uint64_t strays = 0;        // datagrams that answer nothing we sent
  std::string first_stray;    // the first one's length and first bytes
};

static const char* server_str(const Client* c) {
  static char buf[64];
  snprintf(buf, sizeof buf, "%s:%d", inet_ntoa(c->o.server.sin_addr), ntohs(c->o.server.sin_port));
  return buf;
}

static void client_open(Client* c) {
  c->ep = epoll_create1(0);
  if (c->ep < 0) die("epoll_create1: %s", strerror(errno));
  c->socks.resize(static_cast<size_t>(c->o.sockets));
  for (size_t i = 0; i < c->socks.size(); i++) {
    int fd = loadgen_socket(c->ep, c->o.server, i);
    c->socks[i].fd = fd;
  }
  c->slots.resize(static_cast<size_t>(c->o.window));
  for (size_t i = 0; i < c->slots.size(); i++)
    c->slots[i].sock = i % c->socks.size();
}

static void send_raw(int fd, const uint8_t* d, size_t n) {
  ssize_t r = send(fd, d, n, 0);
  // A refused or dropped send simply goes unanswered: it times out.
  if (r < 0 && errno != EAGAIN && errno != ECONNREFUSED)
    die("send to the server: %s", strerror(errno));
}

static void sock_connect(Client* c, Sock* k) {
  uint8_t req[kConnectLen];
  k->connecting = true;
  k->ctid = static_cast<uint32_t>(c->rng()) | 0xfff00000u;  // no slot has these high bits
  k->csent_ns = now_ns();
  put64(req, kMagic);
  put32(req + 8, ACT_CONNECT);
  put32(req + 12, k->ctid);
  send_raw(k->fd, req, sizeof req);
}

// Pair j's announce in s->req (the connection id is filled in when sent).
static void build(Client* c, Slot* s, long j, int event) {
  uint8_t* r = s->req;
  s->pair = j;
  s->event = event;
  s->counter++;
  s->tid = static_cast<uint32_t>(s - &c->slots[0]) << 20 | (s->counter & 0xfffff);
  put32(r + 8, ACT_ANNOUNCE);
  put32(r + 12, s->tid);
  info_hash(j % c->o.hashes, r + 16);
  uint64_t id = mix64(static_cast<uint64_t>(j) ^ c->salt);
  memcpy(r + 36, "-BL0001-", 8);
  for (int i = 0; i < 12; i++)
    r[44 + i] = static_cast<uint8_t>("0123456789abcdef"[(id >> (4 * i)) & 15]);
  put64(r + 56, 0);                                                       // downloaded
  put64(r + 64, j % 3 == 0 ? 0 : 1000000 + static_cast<uint64_t>(j));     // left
  put64(r + 72, 0);                                                       // uploaded
  put32(r + 80, static_cast<uint32_t>(event));                            // event
  put32(r + 84, 0);                                                       // ip: the sender's
  put32(r + 88, static_cast<uint32_t>(mix64(static_cast<uint64_t>(j))));  // key
  put32(r + 92, 0xffffffffu);                                             // numwant: default
  // Peers of one swarm (j, j + H, j + 2H, ...) get distinct ports.
  uint64_t k = static_cast<uint64_t>(j / c->o.hashes);
  uint16_t port = static_cast<uint16_t>(1024 + (k * 7919 + (c->salt & 0xffff)) % 64000);
  r[96] = static_cast<uint8_t>(port >> 8);
  r[97] = static_cast<uint8_t>(port);
}

// Sends the announce in s->req, or parks the slot until its socket is connected.
static void slot_send(Client* c, Slot* s) {
  Sock* k = &c->socks[s->sock];
  uint64_t t = now_ns();
  if (k->connected && t - k->conn_ns >= kReconnectNs) k->connected = false;
  if (!k->connected) {
    s->parked = true;
    s->busy = false;
    if (!k->connecting) {
      k->ctries = 1;
      sock_connect(c, k);
    }
    return;
  }
  s->parked = false;
  s->busy = true;
  s->sent_ns = t;
  put64(s->req, k->conn_id);
  send_raw(k->fd, s->req, sizeof s->req);
  if (c->recording) c->sent++;
}

// The first bytes of a datagram for a message: as text when they are printable
// ASCII (a JSON answer), else in hex.
static std::string hexstart(const uint8_t* d, size_t n) {
  size_t m = std::min<size_t>(n, 48);
  bool text = m > 0;
  for (size_t i = 0; i < m; i++)
    text = text && d[i] >= 0x20 && d[i] < 0x7f;
  if (text)
    return "'" + std::string(reinterpret_cast<const char*>(d), m) + "'" + (n > m ? "..." : "");
  std::string s;
  char b[4];
  for (size_t i = 0; i < n && i < 24; i++) {
    snprintf(b, sizeof b, "%02x", d[i]);
    s += b;
  }
  return n > 24 ? s + "..." : s;
}

// A connect answer on socket k; dies when it is not one.
static void on_connect_answer(Client* c, Sock* k, const uint8_t* d, size_t n) {
  if (n >= 8 && get32(d) == ACT_ERROR)
    die("the server at %s answered a connect with a BEP 15 error: %.*s", server_str(c),
        static_cast<int>(n - 8), reinterpret_cast<const char*>(d + 8));
  if (n < kConnectLen || get32(d) != ACT_CONNECT)
    die("the server at %s answered a BEP 15 connect with %zu bytes that are not a connect "
        "answer (%s): it does not speak BEP 15",
        server_str(c), n, hexstart(d, n).c_str());
  k->connecting = false;
  k->connected = true;
  k->conn_id = get64(d + 8);
  k->conn_ns = now_ns();
  for (Slot& s : c->slots)
    if (s.parked && &c->socks[s.sock] == k) slot_send(c, &s);
}

static void problem(Client* c, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(Client* c, const char* fmt, ...) {
  if (!c->first_problem.empty()) return;
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  c->first_problem = buf;
}

enum Verdict { V_OK, V_ERROR, V_MALFORMED };

// Checks an answer to slot s's announce against BEP 15; *npeers gets its peer count.
static Verdict check_announce(Client* c, const uint8_t* d, size_t n, uint32_t* npeers) {
  *npeers = 0;
  uint32_t action = get32(d);
  if (action == ACT_ERROR) {
    problem(c, "error answer: %.*s", static_cast<int>(std::min<size_t>(n - 8, 200)),
            reinterpret_cast<const char*>(d + 8));
    return V_ERROR;
  }
  if (action != ACT_ANNOUNCE) {
    problem(c, "malformed: action %u answering an announce", action);
    return V_MALFORMED;
  }
  if (n < kAnnounceAnswerLen || (n - kAnnounceAnswerLen) % 6 != 0) {
    problem(c, "malformed: an announce answer of %zu bytes (20 + 6k)", n);
    return V_MALFORMED;
  }
  uint32_t interval = get32(d + 8), leechers = get32(d + 12), seeders = get32(d + 16);
  uint32_t k = static_cast<uint32_t>((n - kAnnounceAnswerLen) / 6);
  if (interval < 1 || interval > 604800) {
    problem(c, "malformed: interval %u", interval);
    return V_MALFORMED;
  }
  if (static_cast<uint64_t>(leechers) + seeders < k) {
    problem(c, "malformed: %u peers listed, %u leechers + %u seeders counted", k, leechers,
            seeders);
    return V_MALFORMED;
  }
  for (uint32_t i = 0; i < k; i++) {
    const uint8_t* p = d + kAnnounceAnswerLen + 6 * i;
    if (get32(p) != 0x7f000001 || (p[4] == 0 && p[5] == 0)) {
      problem(c, "malformed: peer %u.%u.%u.%u:%u (every peer announced from 127.0.0.1)", p[0], p[1],
              p[2], p[3], p[4] << 8 | p[5]);
      return V_MALFORMED;
    }
  }
  *npeers = k;
  return V_OK;
}

// Waits up to timeout_ms for answers; connect answers are taken here, and each
// answer to a slot's announce in flight goes to on_answer(slot, data, len, latency_ns).
template <typename F>
static void pump(Client* c, int timeout_ms, F on_answer) {
  auto fd_of = [c](uint64_t i) { return c->socks[i].fd; };
  loadgen_pump(c->ep, timeout_ms, fd_of,
               [&](uint64_t i, const uint8_t* buf, size_t len, uint64_t t) {
                 Sock* k = &c->socks[i];
                 uint32_t tid = len >= 8 ? get32(buf + 4) : 0;
                 if (len >= 8 && k->connecting && tid == k->ctid) {
                   on_connect_answer(c, k, buf, len);
                   return;
                 }
                 size_t si = tid >> 20;
                 Slot* s = si < c->slots.size() ? &c->slots[si] : nullptr;
                 if (len < 8 || s == nullptr || !s->busy || s->tid != tid) {
                   // Late (already counted lost), a late connect answer, or not BEP 15:
                   // kept for the message when a connect is never answered.
                   if (c->strays++ == 0)
                     c->first_stray = std::to_string(len) + " bytes: " + hexstart(buf, len);
                   return;
                 }
                 s->busy = false;
                 on_answer(s, buf, len, t - s->sent_ns);
               });
}

// Connect retries, and announces unanswered after 1 s: on_timeout(slot).
template <typename F>
static void timeouts(Client* c, F on_timeout) {
  uint64_t t = now_ns();
  for (Sock& k : c->socks) {
    if (!k.connecting || t - k.csent_ns < kSecond) continue;
    if (++k.ctries > 5) {
      if (c->strays > 0)
        die("the server at %s did not answer a BEP 15 connect after 5 tries (5 s); it sent %" PRIu64
            " datagram(s) that answer nothing sent (the first, %s): it does not speak BEP 15",
            server_str(c), c->strays, c->first_stray.c_str());
      die("the server at %s did not answer a BEP 15 connect after 5 tries (5 s)", server_str(c));
    }
    sock_connect(c, &k);
  }
  for (Slot& s : c->slots)
    if (s.busy && t - s.sent_ns >= kSecond) on_timeout(&s);
}

/* ----------------------------------------------------------------------------
 * load
 * ------------------------------------------------------------------------- */

// utime + stime of a process in seconds, from /proc/PID/stat (fields 14 and 15).
static double proc_cpu_secs(long pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE* f = fopen(path, "r");
  if (f == nullptr) die("cannot read %s: %s", path, strerror(errno));
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');  // the command name may hold spaces
  if (p == nullptr) die("cannot parse %s", path);
  unsigned long long ut = 0, st = 0;
  // After ")": state (field 3) ... utime is field 14, stime 15.
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    die("cannot parse %s", path);
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

static long rss_kb(long pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE* f = fopen(path, "r");
  if (f == nullptr) die("cannot read %s: %s", path, strerror(errno));
  long kb = -1;
  while (fgets(line, sizeof line, f) != nullptr)
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  fclose(f);
  if (kb < 0) die("no VmRSS in %s", path);
  return kb;
}

// Setup: every pair announced once (event started), 64 in flight, retried up
// to 5 times; any error answer ends the run (the server refused the load).
static void setup(Client* c, size_t window) {
  long next = 0, left = c->o.pairs;
  auto start_next = [&](Slot* s) {
    if (next >= c->o.pairs) return;
    build(c, s, next++, 2);
    s->tries = 1;
    slot_send(c, s);
  };
  for (size_t i = 0; i < window && i < c->slots.size(); i++)
    start_next(&c->slots[i]);
  while (left > 0) {
    pump(c, 50, [&](Slot* s, const uint8_t* d, size_t n, uint64_t) {
      uint32_t np;
      if (check_announce(c, d, n, &np) != V_OK)
        die("setup: the announce of pair %ld to %s got %s", s->pair, server_str(c),
            c->first_problem.c_str());
      left--;
      start_next(s);
    });
    timeouts(c, [&](Slot* s) {
      if (++s->tries > 5)
        die("setup: the server at %s did not answer an announce after 5 tries (5 s)",
            server_str(c));
      s->counter--;
      build(c, s, s->pair, s->event);  // the same announce, the same transaction id
      slot_send(c, s);
    });
  }
}

static int run_load(const Opts& o) {
  Client c;
  c.o = o;
  c.rng.seed(static_cast<uint64_t>(getpid()) * 1000003u + static_cast<uint64_t>(time(nullptr)));
  c.salt = c.rng();
  client_open(&c);
  long rss0 = o.server_pid > 0 ? rss_kb(o.server_pid) : 0;
  uint64_t t0 = now_ns();
  // The setup's own slots: 64 in flight whatever W is (W may be 1).
  Opts so = o;
  so.window = std::max<long>(o.window, 64);
  Client sc;
  sc.o = so;
  sc.rng.seed(c.rng());
  sc.salt = c.salt;
  client_open(&sc);
  setup(&sc, 64);
  long rss1 = o.server_pid > 0 ? rss_kb(o.server_pid) : 0;
  fprintf(stderr, "btload: setup: %ld pairs over %ld info hashes announced in %.2f s\n", o.pairs,
          o.hashes, static_cast<double>(now_ns() - t0) / 1e9);

  std::uniform_int_distribution<long> pick(0, o.pairs - 1);
  auto start = [&](Slot* s) {
    build(&c, s, pick(c.rng), 0);
    slot_send(&c, s);
  };
  c.lat_ns.reserve(static_cast<size_t>(std::min(o.duration * 400000.0, 1e8)));
  double server_cpu0 = 0, load_cpu0 = 0;
  uint64_t begin = now_ns();
  uint64_t rec_from = begin + static_cast<uint64_t>(o.warmup * 1e9);
  uint64_t end = rec_from + static_cast<uint64_t>(o.duration * 1e9);
  for (Slot& s : c.slots)
    start(&s);
  for (;;) {
    uint64_t t = now_ns();
    if (!c.recording && t >= rec_from) {
      c.recording = true;
      if (o.server_pid > 0) server_cpu0 = proc_cpu_secs(o.server_pid);
      load_cpu0 = proc_cpu_secs(static_cast<long>(getpid()));
    }
    if (t >= end) break;
    pump(&c, 10, [&](Slot* s, const uint8_t* d, size_t n, uint64_t lat) {
      uint32_t np = 0;
      Verdict v = check_announce(&c, d, n, &np);
      // Answers after the end are not counted; their announces were sent in
      // the window, so they are neither answered nor lost.
      if (c.recording && s->sent_ns >= rec_from && now_ns() <= end) {
        c.answered++;
        c.lat_ns.push_back(static_cast<uint32_t>(std::min<uint64_t>(lat, UINT32_MAX)));
        if (v == V_ERROR) c.errors++;
        if (v == V_MALFORMED) c.malformed++;
        c.peers_seen += np;
      }
      if (now_ns() < end) start(s);
    });
    timeouts(&c, [&](Slot* s) {
      if (c.recording && s->sent_ns >= rec_from) c.lost++;
      if (now_ns() < end) start(s);
    });
  }
  double server_cpu = o.server_pid > 0 ? proc_cpu_secs(o.server_pid) - server_cpu0 : 0;
  double load_cpu = proc_cpu_secs(static_cast<long>(getpid())) - load_cpu0;
  std::sort(c.lat_ns.begin(), c.lat_ns.end());
  double secs = o.duration;
  if (!c.first_problem.empty())
    fprintf(stderr, "btload: first bad answer: %s\n", c.first_problem.c_str());
  printf(
      "btload: window=%ld sockets=%ld duration=%.2f sent=%" PRIu64 " answered=%" PRIu64
      " lost=%" PRIu64 " errors=%" PRIu64 " malformed=%" PRIu64
      " rate=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f peers_per_answer=%.2f",
      o.window, o.sockets, secs, c.sent, c.answered, c.lost, c.errors, c.malformed,
      static_cast<double>(c.answered) / secs, pct(c.lat_ns, 0.50) / 1e3, pct(c.lat_ns, 0.99) / 1e3,
      pct(c.lat_ns, 0.999) / 1e3, (c.lat_ns.empty() ? 0 : c.lat_ns.back()) / 1e3,
      c.answered > 0 ? static_cast<double>(c.peers_seen) / static_cast<double>(c.answered) : 0.0);
  if (o.server_pid > 0)
    printf(
        " rss0_kb=%ld rss1_kb=%ld bytes_per_pair=%.1f server_cpu=%.3f load_cpu=%.3f"
        " server_us=%.3f",
        rss0, rss1, static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(o.pairs),
        server_cpu / secs, load_cpu / secs,
        c.answered > 0 ? server_cpu * 1e6 / static_cast<double>(c.answered) : 0.0);
  putchar('\n');
  fflush(stdout);
  return 0;
}

static int run_hashes(const Opts& o) {
  uint8_t h[20];
  for (long i = 0; i < o.hashes; i++) {
    info_hash(i, h);
    for (int b = 0; b < 20; b++)
      printf("%02x", h[b]);
    putchar('\n');
  }
  return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  Opts o;
  parse_args(argc, argv, &o);
  signal(SIGPIPE, SIG_IGN);
  if (o.cmd == "null") return run_null(o);
  if (o.cmd == "load") return run_load(o);
  return run_hashes(o);
}
