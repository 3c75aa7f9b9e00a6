// handlerbench: the tracker's datagram handler alone (tracker_handle_from, the
// entry the UDP callback uses: decode, registry, answer, log line), no sockets,
// for counting instructions per request with callgrind (scripts/bench.sh instr;
// docs/benchmarks.md).
//
//   handlerbench get_peers|join N [--peers P] [--files F] [--holders H]
//
// Set-up: P extended peers join (each from its own UDP port, keeping its
// token), and file k gets H holders (peers k*H .. k*H+H-1, mod P) through
// share_file. Then N requests: get_peers (peer i mod P asks for file i mod F,
// with its token: an authenticated answer listing H or H-1 sources) or join
// (N fresh extended peers, each with one file). The log goes to /dev/null:
// each line is formatted inside tracker_handle_from (counted) and written
// every 16 requests by log_flush, outside it (not counted, like the tracker's
// batch write). Instructions per request are (count at N=b) - (count at N=a),
// divided by b - a: set-up cancels out. Joins also carry their share of the
// registry's growth (rehashes, vector growth) as the N new peers arrive.
#include <arpa/inet.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tracker.h"

static long arg_long(const char* flag, const char* v) {
  char* end = nullptr;
  long x = strtol(v, &end, 10);
  if (end == v || *end != '\0' || x < 0 || x > 100000000) {
    fprintf(stderr, "handlerbench: %s needs a number from 0 to 100000000, not '%s'\n", flag, v);
    exit(2);
  }
  return x;
}

static void usage() {
  fputs("usage: handlerbench get_peers|join N [--peers P] [--files F] [--holders H]\n", stderr);
  exit(2);
}

// One request through the handler; the answer must be a success.
static const std::string& handle(Tracker* t, const std::string& d, int port) {
  struct sockaddr_in from = {};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  from.sin_port = htons(static_cast<uint16_t>(port));
  tracker_handle_from(t, d.data(), d.size(), &from);
  static const char kOk[] = "{\"status\":\"ok\"";
  if (t->answer.compare(0, sizeof kOk - 1, kOk) != 0) {
    fprintf(stderr, "handlerbench: unexpected answer to %s: %s\n", d.c_str(), t->answer.c_str());
    exit(1);
  }
  return t->answer;
}

static std::string token_of(const std::string& answer) {
  size_t at = answer.find("\"token\":\"");
  if (at == std::string::npos) {
    fprintf(stderr, "handlerbench: a join answer without a token: %s\n", answer.c_str());
    exit(1);
  }
  return answer.substr(at + 9, 32);
}

// The set-up: how many peers, files, and holders per file.
struct Shape {
  long peers = 10000, files = 1000, holders = 10;
};

static Shape parse_shape(int argc, char** argv) {
  Shape s;
  for (int i = 3; i < argc; i += 2) {
    if (i + 1 >= argc) usage();
    if (strcmp(argv[i], "--peers") == 0)
      s.peers = arg_long("--peers", argv[i + 1]);
    else if (strcmp(argv[i], "--files") == 0)
      s.files = arg_long("--files", argv[i + 1]);
    else if (strcmp(argv[i], "--holders") == 0)
      s.holders = arg_long("--holders", argv[i + 1]);
    else
      usage();
  }
  if (s.peers < 1 || s.files < 1 || s.holders > s.peers) usage();
  return s;
}

// Joins the peers and shares the files; returns each peer's token.
static std::vector<std::string> set_up(Tracker* t, const Shape& s) {
  char buf[512];
  std::vector<std::string> tokens(static_cast<size_t>(s.peers));
  for (long p = 0; p < s.peers; p++) {
    snprintf(buf, sizeof buf,
             "{\"action\":\"join\",\"v\":1,\"seq\":1,\"peer_id\":\"peer-%ld\",\"tcp_port\":%ld,"
             "\"files\":[]}",
             p, 1024 + p % 60000);
    tokens[static_cast<size_t>(p)] = token_of(handle(t, buf, static_cast<int>(1024 + p % 60000)));
  }
  for (long f = 0; f < s.files; f++) {
    for (long j = 0; j < s.holders; j++) {
      long p = (f * s.holders + j) % s.peers;
      snprintf(buf, sizeof buf,
               "{\"action\":\"share_file\",\"v\":1,\"seq\":2,\"peer_id\":\"peer-%ld\","
               "\"token\":\"%s\",\"file\":\"file-%ld\"}",
               p, tokens[static_cast<size_t>(p)].c_str(), f);
      handle(t, buf, static_cast<int>(1024 + p % 60000));
    }
  }
  log_flush(&t->log);
  return tokens;
}

// Request i of the measured ones. Returns the answer's size.
static size_t request(Tracker* t, const std::string& what, long i, const Shape& s,
                      const std::vector<std::string>& tokens) {
  char buf[512];
  if (what == "get_peers") {
    long p = i % s.peers;
    snprintf(buf, sizeof buf,
             "{\"action\":\"get_peers\",\"v\":1,\"seq\":%ld,\"peer_id\":\"peer-%ld\","
             "\"token\":\"%s\",\"file_name\":\"file-%ld\"}",
             i, p, tokens[static_cast<size_t>(p)].c_str(), i % s.files);
    return handle(t, buf, static_cast<int>(1024 + p % 60000)).size();
  }
  snprintf(buf, sizeof buf,
           "{\"action\":\"join\",\"v\":1,\"seq\":%ld,\"peer_id\":\"new-%ld\",\"tcp_port\":%ld,"
           "\"files\":[\"file-%ld\"]}",
           i, i, 1024 + i % 60000, i % s.files);
  return handle(t, buf, static_cast<int>(1024 + i % 60000)).size();
}

int main(int argc, char** argv) {
  if (argc < 3) usage();
  std::string what = argv[1];
  if (what != "get_peers" && what != "join") usage();
  long n = arg_long("N", argv[2]);
  Shape shape = parse_shape(argc, argv);

  Tracker* t = new Tracker;
  t->quiet = true;
  // Every peer here comes from 127.0.0.1: no per-address caps (they are not what is measured).
  t->opt.max_ids_per_ip = static_cast<int>(kMaxPeers);
  t->reg.max_files_per_ip = kMaxRegistrations;
  tracker_init_key(t);
  if (log_open(&t->log, "/dev/null") != 0) {
    fprintf(stderr, "handlerbench: cannot open /dev/null\n");
    return 1;
  }
  t->log.deferred = true;  // as in the running tracker: written once per batch
  std::vector<std::string> tokens = set_up(t, shape);

  size_t bytes = 0;
  for (long i = 0; i < n; i++) {
    bytes += request(t, what, i, shape, tokens);
    if (i % 16 == 15) log_flush(&t->log);  // a batch
  }
  log_flush(&t->log);
  printf("handlerbench: %ld %s requests, %.0f answer bytes each\n", n, what.c_str(),
         n > 0 ? static_cast<double>(bytes) / static_cast<double>(n) : 0.0);
  log_close(&t->log);
  delete t;
  return 0;
}
