// ttload: load generator and null responder for the tracker benchmarks
// (scripts/bench.sh tracker, memory, share; docs/benchmarks.md).
//
//   ttload null --port 0 [--answer-bytes N]
//   ttload load --server IP:PORT --window W --duration D [--mix ...] [--peers N]
//               [--files F] [--sources-per-file S] [--warmup SECS] [--server-pid PID]
//   ttload fill --server IP:PORT --peers N --files-per-peer K --files F [--window W]
//
// The client side is raw non-blocking UDP sockets and epoll: one socket per
// "slot", at most one request in flight per slot, so an answer belongs to the
// request its socket sent (and, when the server echoes one, to its seq). The
// null responder runs the tracker's own UDP I/O (src/udpserve.cc) with a fixed
// answer: the machine's limit for this shape, to compare the tracker with.
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

static constexpr const char* kLoadgenName = "ttload";
#include "loadgen.h"

static const char kUsage[] =
    "usage: ttload null --port PORT [--answer-bytes N]\n"
    "       ttload load --server IP:PORT --window W --duration SECS [--mix SPEC] [--peers N]\n"
    "                   [--files F] [--sources-per-file S] [--warmup SECS] [--server-pid PID]\n"
    "       ttload fill --server IP:PORT --peers N --files-per-peer K --files F [--window W]\n"
    "\n"
    "null  answers every datagram on UDP 127.0.0.1:PORT with {\"status\":\"ok\"} (PORT 0: the\n"
    "      kernel picks; prints 'listening on 127.0.0.1:PORT'); runs until SIGINT/SIGTERM.\n"
    "      --answer-bytes N (24 to 8192): answers {\"status\":\"ok\",\"pad\":\"xx..\"} of N "
    "bytes.\n"
    "load  setup (not timed): N peers (default 1000) join over W sockets and share files so\n"
    "      that each of F files (default 1000) has S holders (default 10); then W requests\n"
    "      stay in flight for SECS seconds (after --warmup SECS, default 1, not recorded),\n"
    "      actions picked by --mix (default get_peers=100,heartbeat=0,share_file=0,join=0).\n"
    "      A request unanswered after 1 s is counted lost and replaced. Prints one line:\n"
    "      ttload: window=.. duration=.. sent=.. answered=.. lost=.. errors=.. nopeers=..\n"
    "              rate=.. p50_us=.. p99_us=.. p999_us=.. max_us=.. answer_bytes=..\n"
    "      (errors: answers with \"status\":\"error\"; nopeers: get_peers answers without\n"
    "      a non-empty peers list; rate: answered requests per second; answer_bytes:\n"
    "      their mean length)\n"
    "      With --server-pid, the CPU time of that process and of ttload over the recorded\n"
    "      seconds is added: server_cpu=.. load_cpu=.. (busy fraction of one CPU) and\n"
    "      server_us=.. (server CPU microseconds per answered request)\n"
    "fill  registers N peers, each joining with K of F file names (peer i has files\n"
    "      (i*K+j) mod F), W (default 64) joins in flight, timeouts retried; prints\n"
    "      ttload: registered N peers, R registrations in T s\n";

/* ----------------------------------------------------------------------------
 * Flags
 * ------------------------------------------------------------------------- */

struct Opts {
  std::string cmd;
  int port = -1;
  struct sockaddr_in server {};
  bool has_server = false;
  long window = -1;
  double duration = -1;
  double warmup = 1;
  long peers = -1;
  long files = -1;
  long sources = 10;
  long files_per_peer = -1;
  int mix[4] = {100, 0, 0, 0};  // get_peers, heartbeat, share_file, join
  long server_pid = 0;          // 0: the server's CPU time is not measured
  long answer_bytes = 0;        // null: pad answers to this length (0: 15 bytes)
};

enum Action { A_GET_PEERS, A_HEARTBEAT, A_SHARE_FILE, A_JOIN, A_COUNT };
static const char* const kActionNames[A_COUNT] = {"get_peers", "heartbeat", "share_file", "join"};

static void parse_server(const char* s, Opts* o) {
  o->server = parse_server_addr(s);
  o->has_server = true;
}

static void parse_mix(const char* s, Opts* o) {
  int mix[A_COUNT] = {0, 0, 0, 0};
  std::string spec(s);
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(pos, comma - pos);
    size_t eq = item.find('=');
    if (eq == std::string::npos) die("--mix needs ACTION=WEIGHT,..., not '%s'", item.c_str());
    std::string name = item.substr(0, eq);
    int a = 0;
    while (a < A_COUNT && name != kActionNames[a])
      a++;
    if (a == A_COUNT)
      die("--mix: unknown action '%s' (have get_peers, heartbeat, share_file, join)", name.c_str());
    mix[a] = static_cast<int>(parse_long("--mix weight", item.c_str() + eq + 1, 0, 1000000));
    pos = comma + 1;
  }
  if (mix[0] + mix[1] + mix[2] + mix[3] == 0) die("--mix: every weight is 0");
  memcpy(o->mix, mix, sizeof mix);
}

static void parse_args(int argc, char** argv, Opts* o) {
  o->cmd = loadgen_subcommand(argc, argv, kUsage, {"null", "load", "fill"});
  bool is_null = o->cmd == "null", is_load = o->cmd == "load", is_fill = o->cmd == "fill";
  for (int i = 2; i < argc; i++) {
    std::string f = argv[i];
    const char* v = loadgen_flag_value(argc, argv, &i, kUsage);
    if (f == "--answer-bytes" && is_null) {
      o->answer_bytes = parse_long("--answer-bytes", v, 24, 8192);
    } else if (f == "--port" && is_null) {
      o->port = static_cast<int>(parse_long("--port", v, 0, 65535));
    } else if (f == "--server" && !is_null) {
      parse_server(v, o);
    } else if (f == "--window" && !is_null) {
      o->window = parse_long("--window", v, 1, 4096);
    } else if (f == "--duration" && is_load) {
      o->duration = parse_secs("--duration", v, 0.01, 86400);
    } else if (f == "--warmup" && is_load) {
      o->warmup = parse_secs("--warmup", v, 0, 3600);
    } else if (f == "--mix" && is_load) {
      parse_mix(v, o);
    } else if (f == "--peers" && !is_null) {
      o->peers = parse_long("--peers", v, 1, 10000000);
    } else if (f == "--files" && !is_null) {
      o->files = parse_long("--files", v, 1, 10000000);
    } else if (f == "--sources-per-file" && is_load) {
      o->sources = parse_long("--sources-per-file", v, 0, 1000);
    } else if (f == "--server-pid" && is_load) {
      o->server_pid = parse_long("--server-pid", v, 1, 4194304);
    } else if (f == "--files-per-peer" && is_fill) {
      o->files_per_peer = parse_long("--files-per-peer", v, 1, 4096);
    } else {
      die("unknown flag %s for '%s' (try --help)", f.c_str(), o->cmd.c_str());
    }
  }
  if (o->cmd == "null") {
    if (o->port < 0) die("null needs --port PORT (0: the kernel picks one)");
    return;
  }
  if (!o->has_server) die("%s needs --server IP:PORT", o->cmd.c_str());
  if (o->cmd == "load") {
    if (o->window < 0) die("load needs --window W");
    if (o->duration < 0) die("load needs --duration SECS");
    if (o->peers < 0) o->peers = 1000;
    if (o->files < 0) o->files = 1000;
    if (o->sources > o->peers)
      die("--sources-per-file %ld is more than --peers %ld", o->sources, o->peers);
  } else {
    if (o->window < 0) o->window = 64;
    if (o->peers < 0) die("fill needs --peers N");
    if (o->files_per_peer < 0) die("fill needs --files-per-peer K");
    if (o->files < 0) die("fill needs --files F");
    if (o->files_per_peer > o->files)
      die("--files-per-peer %ld is more than --files %ld", o->files_per_peer, o->files);
  }
}

/* ----------------------------------------------------------------------------
 * null: the responder
 * ------------------------------------------------------------------------- */

static const char kOk[] = "{\"status\":\"ok\"}";
// The tracker's own UDP I/O (src/udpserve.cc: recvmmsg batches, answers sent
// together with sendmmsg), with a fixed answer in place of the tracker's work:
// the ratio tracker/null then measures what the tracker's handling costs.
struct Null {
  NullServer srv;
  std::string answer = kOk;  // or padded to --answer-bytes
};

static void null_datagram(void* ctx, const char*, size_t, const struct sockaddr_in* from, bool) {
  Null* n = static_cast<Null*>(ctx);
  udpserve_answer(&n->srv.udp, from, n->answer.data(), n->answer.size());
}

static int run_null(const Opts& o) {
  Null n;
  if (o.answer_bytes > 0) {
    // {"status":"ok","pad":"xx..."}: as long as a tracker's answer, to tell
    // what the answer's size costs apart from what the tracker's handling does.
    // Empty, the pad makes 24 bytes, the least --answer-bytes takes.
    n.answer = "{\"status\":\"ok\",\"pad\":\"\"}";
    n.answer.insert(n.answer.size() - 2, static_cast<size_t>(o.answer_bytes) - n.answer.size(),
                    'x');
  }
  uint64_t answered = null_serve(&n.srv, o.port, &n, null_datagram);
  fprintf(stderr, "ttload null: answered %" PRIu64 " datagrams\n", answered);
  return 0;
}

/* ----------------------------------------------------------------------------
 * Client side: slots, one request in flight each
 * ------------------------------------------------------------------------- */

struct Peer {
  std::string id;
  char token[33] = {0};  // from the join answer; empty against a server that gives none
  bool joined = false;
};

struct Slot {
  int fd = -1;
  bool busy = false;
  uint64_t sent_ns = 0;
  uint64_t seq = 0;  // of the request in flight
  int tries = 0;
  Action action = A_GET_PEERS;
  long peer = -1;  // index into Client.peers the request is for
  char req[16384];
  size_t req_len = 0;
  std::vector<long> own;  // the peers that live on this socket
  size_t next = 0;        // setup/fill: position in the slot's work list
};

struct Client {
  Opts o;
  std::string prefix;  // peer ids: PREFIX-K, unique per run
  std::vector<Slot> slots;
  std::vector<Peer> peers;
  int ep = -1;
  uint64_t seq = 1;
  std::mt19937_64 rng{12345};
  // Counters of the measured phase.
  bool recording = false;
  uint64_t sent = 0, answered = 0, lost = 0, errors = 0, nopeers = 0;
  std::vector<uint32_t> lat_ns;
};

static void client_open(Client* c, long window) {
  c->ep = epoll_create1(0);
  if (c->ep < 0) die("epoll_create1: %s", strerror(errno));
  c->slots.resize(static_cast<size_t>(window));
  for (size_t i = 0; i < c->slots.size(); i++) {
    int fd = loadgen_socket(c->ep, c->o.server, i);
    c->slots[i].fd = fd;
  }
}

// Sends the request in s->req (built by the caller) and marks the slot busy.
static void slot_send(Client* c, Slot* s) {
  s->busy = true;
  s->sent_ns = now_ns();
  ssize_t r = send(s->fd, s->req, s->req_len, 0);
  if (r < 0 && errno != EAGAIN && errno != ECONNREFUSED)
    die("send to the server: %s", strerror(errno));
  // A refused or dropped send simply goes unanswered: it is lost after 1 s.
  if (c->recording) c->sent++;
}

static size_t put(char* buf, size_t at, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static size_t put(char* buf, size_t at, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + at, sizeof(Slot::req) - at, fmt, ap);
  va_end(ap);
  if (n < 0 || at + static_cast<size_t>(n) >= sizeof(Slot::req)) die("request too long");
  return at + static_cast<size_t>(n);
}

// The token field, when the peer has one (a null responder gives none).
static const char* token_field(const Peer& p, char* out, size_t n) {
  if (p.token[0] == '\0') return "";
  snprintf(out, n, ",\"token\":\"%s\"", p.token);
  return out;
}

static void build(Client* c, Slot* s, Action a, long peer, long file,
                  const std::vector<long>* files, bool new_seq) {
  if (new_seq) s->seq = c->seq++;
  s->action = a;
  s->peer = peer;
  const Peer& p = c->peers[static_cast<size_t>(peer)];
  size_t at = 0;
  if (a == A_JOIN) {
    // A join again shows the token of the last one, as a tt peer does: the id
    // then moves to whichever socket this slot uses.
    char tok[64];
    at = put(s->req, 0,
             "{\"action\":\"join\",\"v\":1,\"seq\":%" PRIu64
             ",\"peer_id\":\"%s\"%s,\"tcp_port\":%ld,\"files\":[",
             s->seq, p.id.c_str(), token_field(p, tok, sizeof tok), 1024 + peer % 60000);
    if (files != nullptr) {
      for (size_t i = 0; i < files->size(); i++)
        at = put(s->req, at, "%s\"f%ld\"", i ? "," : "", (*files)[i]);
    }
    at = put(s->req, at, "]}");
  } else {
    // The peer's own requests: the token, and for two of them a file f<N>.
    char tok[64];
    at = put(s->req, 0, "{\"action\":\"%s\",\"v\":1,\"seq\":%" PRIu64 ",\"peer_id\":\"%s\"%s",
             kActionNames[a], s->seq, p.id.c_str(), token_field(p, tok, sizeof tok));
    if (a == A_SHARE_FILE) at = put(s->req, at, ",\"file\":\"f%ld\"", file);
    if (a == A_GET_PEERS) at = put(s->req, at, ",\"file_name\":\"f%ld\"", file);
    at = put(s->req, at, "}");
  }
  s->req_len = at;
}

// What an answer says, read with plain string searches (the fields are tt's).
struct Answer {
  bool has_seq = false;
  uint64_t seq = 0;
  bool error = false;
  bool has_peers = false;  // a non-empty "peers" list
  const char* token = nullptr;
  std::string message;
  size_t bytes = 0;  // the datagram's length
};

static const char* skip_ws(const char* p, const char* e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

// p at a string's opening quote: returns just past its closing quote (or e).
static const char* skip_string(const char* p, const char* e) {
  for (p++; p < e;) {
    // The next quote (memchr: many bytes a step); it ends the string unless
    // an odd number of backslashes stands before it.
    const char* q = static_cast<const char*>(memchr(p, '"', static_cast<size_t>(e - p)));
    if (q == nullptr) return e;
    size_t slashes = 0;
    while (q - slashes > p && q[-1 - static_cast<ptrdiff_t>(slashes)] == '\\')
      slashes++;
    if (slashes % 2 == 0) return q + 1;
    p = q + 1;
  }
  return e;
}

// p at any value: returns just past it (nested lists and objects included).
static const char* skip_value(const char* p, const char* e) {
  if (p < e && *p == '"') return skip_string(p, e);
  int depth = 0;
  while (p < e) {
    char ch = *p;
    if (ch == '"') {
      p = skip_string(p, e);
      continue;
    }
    if (ch == '[' || ch == '{') depth++;
    if (ch == ']' || ch == '}') {
      if (depth == 0) return p;  // the end of the enclosing object
      if (--depth == 0) return p + 1;
    }
    if (ch == ',' && depth == 0) return p;
    p++;
  }
  return e;
}

static bool key_is(const char* k, size_t n, const char* name) {
  return n == strlen(name) && memcmp(k, name, n) == 0;
}

// One pass over the answer's top-level members, in order, stopping at "peers"
// (tt writes its long lists, peers then sources, last) or at "pad" (the padded
// null responder's bulk, last too): the bulk is never scanned, so reading costs
// the same whatever the answer's length, and a long answer costs this process
// no more than its receive does, for tt and the padded null alike.
static void read_answer(const char* d, size_t n, Answer* a) {
  a->bytes = n;
  const char* e = d + n;
  const char* p = skip_ws(d, e);
  if (p == e || *p++ != '{') return;
  for (;;) {
    p = skip_ws(p, e);
    if (p == e || *p != '"') return;
    const char* k = p + 1;
    p = skip_string(p, e);
    size_t kn = static_cast<size_t>(p - 1 - k);
    p = skip_ws(p, e);
    if (p == e || *p++ != ':') return;
    p = skip_ws(p, e);
    if (p == e) return;
    if (key_is(k, kn, "peers")) {
      p = *p == '[' ? skip_ws(p + 1, e) : e;
      a->has_peers = p < e && *p != ']';
      return;
    }
    if (key_is(k, kn, "pad")) return;  // the padded null's bulk, last like tt's lists
    const char* v = p;
    p = skip_value(p, e);
    if (key_is(k, kn, "seq") && *v >= '0' && *v <= '9') {
      a->has_seq = true;
      a->seq = strtoull(v, nullptr, 10);
    } else if (key_is(k, kn, "status")) {
      a->error = p - v == 7 && memcmp(v, "\"error\"", 7) == 0;
    } else if (key_is(k, kn, "message") && *v == '"' && p - v >= 2) {
      a->message.assign(v + 1, static_cast<size_t>(p - v - 2));
    } else if (key_is(k, kn, "token") && *v == '"' && p - v >= 34) {
      a->token = v + 1;
    }
    p = skip_ws(p, e);
    if (p == e || *p++ != ',') return;
  }
}

// Waits up to timeout_ms for answers; calls on_answer(slot, answer, latency_ns)
// for each answer to a slot's request in flight (late answers are dropped).
template <typename F>
static void pump(Client* c, int timeout_ms, F on_answer) {
  auto fd_of = [c](uint64_t i) { return c->slots[i].fd; };
  loadgen_pump(c->ep, timeout_ms, fd_of,
               [&](uint64_t i, const uint8_t* buf, size_t len, uint64_t t) {
                 Slot* s = &c->slots[i];
                 if (!s->busy) return;  // a late answer to a request already counted lost
                 Answer a;
                 read_answer(reinterpret_cast<const char*>(buf), len, &a);
                 if (a.has_seq && a.seq != s->seq) return;  // late answer to an earlier request
                 s->busy = false;
                 on_answer(s, a, t - s->sent_ns);
               });
}

static void take_token(Client* c, Slot* s, const Answer& a) {
  Peer& p = c->peers[static_cast<size_t>(s->peer)];
  p.joined = true;
  if (a.token != nullptr) {
    memcpy(p.token, a.token, 32);
    p.token[32] = '\0';
  }
}

/* ----------------------------------------------------------------------------
 * Setup and fill: each slot works through its own list in order, retrying
 * ------------------------------------------------------------------------- */

struct Work {
  Action action;
  long peer;
  long file;                // share_file
  std::vector<long> files;  // join
};

// Runs every slot's work list; returns the number of requests answered with an
// error (each is printed once, up to a few). Each request is tried 5 times.
static uint64_t run_work(Client* c, std::vector<std::vector<Work>>& work, bool fail_on_error) {
  size_t left = 0;
  for (auto& w : work)
    left += w.size();
  uint64_t errors = 0;
  auto start_next = [&](size_t i) {
    Slot* s = &c->slots[i];
    if (s->next >= work[i].size()) return;
    const Work& w = work[i][s->next];
    s->tries = 1;
    build(c, s, w.action, w.peer, w.file, &w.files, true);
    slot_send(c, s);
  };
  for (size_t i = 0; i < c->slots.size(); i++) {
    c->slots[i].next = 0;
    start_next(i);
  }
  while (left > 0) {
    pump(c, 50, [&](Slot* s, const Answer& a, uint64_t) {
      size_t i = static_cast<size_t>(s - &c->slots[0]);
      if (a.error) {
        errors++;
        if (fail_on_error)
          die("setup: %s for peer %s answered error: %s", kActionNames[s->action],
              c->peers[static_cast<size_t>(s->peer)].id.c_str(), a.message.c_str());
        if (errors <= 3) fprintf(stderr, "ttload: error answer: %s\n", a.message.c_str());
      } else if (s->action == A_JOIN) {
        take_token(c, s, a);
      }
      left--;
      s->next++;
      start_next(i);
    });
    uint64_t t = now_ns();
    for (Slot& s : c->slots) {
      if (!s.busy || t - s.sent_ns < 1000000000ull) continue;
      if (++s.tries > 5)
        die("setup: the server at %s:%d did not answer a %s after 5 tries (5 s)",
            inet_ntoa(c->o.server.sin_addr), ntohs(c->o.server.sin_port), kActionNames[s.action]);
      slot_send(c, &s);  // the same request, the same seq
    }
  }
  return errors;
}

static std::string run_prefix() {
  char buf[64];
  snprintf(buf, sizeof buf, "b%d%" PRIx64, static_cast<int>(getpid()),
           static_cast<uint64_t>(time(nullptr)) & 0xffffff);
  return buf;
}

static Peer make_peer(Client* c, long k) {
  Peer p;
  p.id = c->prefix + "-" + std::to_string(k);
  return p;
}

/* ----------------------------------------------------------------------------
 * load
 * ------------------------------------------------------------------------- */

// CPU seconds used so far by a process (ns precision), through its CPU-time clock.
static double cpu_secs(clockid_t clk) {
  struct timespec ts;
  if (clock_gettime(clk, &ts) != 0) die("cannot read a CPU-time clock: %s", strerror(errno));
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

static int run_load(const Opts& o) {
  clockid_t server_clk = CLOCK_PROCESS_CPUTIME_ID;
  if (o.server_pid > 0) {
    int e = clock_getcpuclockid(static_cast<pid_t>(o.server_pid), &server_clk);
    if (e != 0) die("cannot read the CPU time of process %ld: %s", o.server_pid, strerror(e));
  }
  double server_cpu0 = 0, load_cpu0 = 0;
  uint64_t answer_bytes = 0;  // of the answers counted
  Client c;
  c.o = o;
  c.prefix = run_prefix();
  c.rng.seed(static_cast<uint64_t>(getpid()) * 1000003u + static_cast<uint64_t>(time(nullptr)));
  client_open(&c, o.window);
  size_t w = c.slots.size();
  // Peers k live on slot k % W; holder j of file f is peer (f * S + j) % N.
  std::vector<std::vector<Work>> work(w);
  for (long k = 0; k < o.peers; k++) {
    c.peers.push_back(make_peer(&c, k));
    c.slots[static_cast<size_t>(k) % w].own.push_back(k);
    work[static_cast<size_t>(k) % w].push_back(Work{A_JOIN, k, 0, {}});
  }
  for (long f = 0; f < o.files; f++) {
    for (long j = 0; j < o.sources; j++) {
      long k = (f * o.sources + j) % o.peers;
      work[static_cast<size_t>(k) % w].push_back(Work{A_SHARE_FILE, k, f, {}});
    }
  }
  uint64_t t0 = now_ns();
  run_work(&c, work, true);
  fprintf(stderr, "ttload: setup: %ld peers joined, %ld files x %ld holders shared in %.2f s\n",
          o.peers, o.files, o.sources, static_cast<double>(now_ns() - t0) / 1e9);

  int total = o.mix[0] + o.mix[1] + o.mix[2] + o.mix[3];
  long next_peer = o.peers;
  std::uniform_int_distribution<int> pick_action(0, total - 1);
  std::uniform_int_distribution<long> pick_file(0, o.files - 1);
  auto start = [&](Slot* s) {
    int x = pick_action(c.rng), a = 0;
    while (x >= o.mix[a]) {
      x -= o.mix[a];
      a++;
    }
    long peer;
    if (a == A_JOIN || s->own.empty()) {
      // A new peer on this socket; it serves later requests once its join is answered.
      peer = next_peer++;
      c.peers.push_back(make_peer(&c, peer));
      a = A_JOIN;
    } else {
      peer = s->own[c.rng() % s->own.size()];
    }
    build(&c, s, static_cast<Action>(a), peer, pick_file(c.rng), nullptr, true);
    slot_send(&c, s);
  };
  c.lat_ns.reserve(static_cast<size_t>(std::min(o.duration * 400000.0, 1e8)));
  uint64_t begin = now_ns();
  uint64_t rec_from = begin + static_cast<uint64_t>(o.warmup * 1e9);
  uint64_t end = rec_from + static_cast<uint64_t>(o.duration * 1e9);
  for (Slot& s : c.slots)
    start(&s);
  for (;;) {
    uint64_t t = now_ns();
    if (!c.recording && t >= rec_from) {
      c.recording = true;
      if (o.server_pid > 0) server_cpu0 = cpu_secs(server_clk);
      load_cpu0 = cpu_secs(CLOCK_PROCESS_CPUTIME_ID);
    }
    if (t >= end) break;
    pump(&c, 10, [&](Slot* s, const Answer& a, uint64_t lat) {
      if (s->action == A_JOIN && !a.error) {
        take_token(&c, s, a);
        s->own.push_back(s->peer);
      }
      // Answers that arrive after the end are not counted; their requests were
      // sent in the window, so they are neither answered nor lost.
      if (c.recording && s->sent_ns >= rec_from && s->sent_ns < end) {
        uint64_t at = now_ns();
        if (at <= end) {
          c.answered++;
          answer_bytes += a.bytes;
          c.lat_ns.push_back(static_cast<uint32_t>(std::min<uint64_t>(lat, UINT32_MAX)));
          if (a.error) {
            c.errors++;
            if (c.errors <= 3) fprintf(stderr, "ttload: error answer: %s\n", a.message.c_str());
          }
          if (s->action == A_GET_PEERS && !a.has_peers) c.nopeers++;
        }
      }
      if (now_ns() < end) start(s);
    });
    t = now_ns();
    for (Slot& s : c.slots) {
      if (s.busy && t - s.sent_ns >= 1000000000ull) {
        if (c.recording && s.sent_ns >= rec_from) c.lost++;
        if (t < end) start(&s);
      }
    }
  }
  double server_cpu = o.server_pid > 0 ? cpu_secs(server_clk) - server_cpu0 : 0;
  double load_cpu = cpu_secs(CLOCK_PROCESS_CPUTIME_ID) - load_cpu0;
  std::sort(c.lat_ns.begin(), c.lat_ns.end());
  double secs = o.duration;
  printf(
      "ttload: window=%ld duration=%.2f sent=%" PRIu64 " answered=%" PRIu64 " lost=%" PRIu64
      " errors=%" PRIu64 " nopeers=%" PRIu64
      " rate=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f answer_bytes=%.0f",
      o.window, secs, c.sent, c.answered, c.lost, c.errors, c.nopeers,
      static_cast<double>(c.answered) / secs, pct(c.lat_ns, 0.50) / 1e3, pct(c.lat_ns, 0.99) / 1e3,
      pct(c.lat_ns, 0.999) / 1e3, (c.lat_ns.empty() ? 0 : c.lat_ns.back()) / 1e3,
      c.answered > 0 ? static_cast<double>(answer_bytes) / static_cast<double>(c.answered) : 0.0);
  // The server's and ttload's busy share of a CPU over the recorded seconds,
  // and the server's CPU per answer: which side was the limit, and what an
  // answer costs the server whatever the load generator costs.
  if (o.server_pid > 0)
    printf(" server_cpu=%.3f load_cpu=%.3f server_us=%.3f", server_cpu / secs, load_cpu / secs,
           c.answered > 0 ? server_cpu * 1e6 / static_cast<double>(c.answered) : 0.0);
  putchar('\n');
  fflush(stdout);
  return 0;
}

/* ----------------------------------------------------------------------------
 * fill
 * ------------------------------------------------------------------------- */

static int run_fill(const Opts& o) {
  Client c;
  c.o = o;
  c.prefix = run_prefix();
  client_open(&c, o.window);
  size_t w = c.slots.size();
  std::vector<std::vector<Work>> work(w);
  for (long k = 0; k < o.peers; k++) {
    c.peers.push_back(make_peer(&c, k));
    Work wk{A_JOIN, k, 0, {}};
    for (long j = 0; j < o.files_per_peer; j++)
      wk.files.push_back((k * o.files_per_peer + j) % o.files);
    work[static_cast<size_t>(k) % w].push_back(std::move(wk));
  }
  uint64_t t0 = now_ns();
  uint64_t errors = run_work(&c, work, false);
  double secs = static_cast<double>(now_ns() - t0) / 1e9;
  long ok = o.peers - static_cast<long>(errors);
  printf("ttload: registered %ld peers, %ld registrations in %.2f s\n", ok, ok * o.files_per_peer,
         secs);
  fflush(stdout);
  if (errors > 0) {
    fprintf(stderr, "ttload: %" PRIu64 " joins were refused\n", errors);
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  Opts o;
  parse_args(argc, argv, &o);
  signal(SIGPIPE, SIG_IGN);
  if (o.cmd == "null") return run_null(o);
  if (o.cmd == "load") return run_load(o);
  return run_fill(o);
}
