// What the load generators (ttload: JSON actions; btload: BEP 15 announces)
// share: fatal usage errors, the clock, flag values, the server address and
// latency percentiles, the null responder. Each program sets kLoadgenName
// before including this.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <uv.h>

#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <string>
#include <vector>

#include "udpserve.h"

// Prints "NAME: message" on stderr and exits 2 (a usage error).
static void die(const char* fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", kLoadgenName);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The subcommand in argv[1], one of `names`. With none, prints `usage` and
// exits 2; for help, prints it and exits 0; an unknown one is fatal.
static std::string loadgen_subcommand(int argc, char** argv, const char* usage,
                                      std::initializer_list<const char*> names) {
  if (argc < 2) {
    fputs(usage, stderr);
    exit(2);
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    fputs(usage, stdout);
    exit(0);
  }
  std::string have;
  for (const char* n : names) {
    if (cmd == n) return cmd;
    have += (have.empty() ? "" : ", ") + std::string(n);
  }
  die("unknown subcommand '%s' (have %s; try --help)", cmd.c_str(), have.c_str());
}

// The value of the flag argv[*i], which *i then points at; for --help or -h,
// prints `usage` and exits 0. A flag without a value is fatal.
static const char* loadgen_flag_value(int argc, char** argv, int* i, const char* usage) {
  const char* f = argv[*i];
  if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
    fputs(usage, stdout);
    exit(0);
  }
  if (*i + 1 >= argc) die("%s needs a value (try --help)", f);
  return argv[++*i];
}

// Waits up to timeout_ms on the epoll set ep, whose entries carry an index in
// data.u64, and reads every datagram that has arrived on their sockets:
// on_datagram(index, data, len, arrival_ns). A failed read (EAGAIN, or an
// ICMP error when nobody listens) ends a socket's turn; the caller's timeouts
// count what never came.
template <typename FdOf, typename F>
static void loadgen_pump(int ep, int timeout_ms, FdOf fd_of, F on_datagram) {
  struct epoll_event evs[256];
  int n = epoll_wait(ep, evs, 256, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return;
    die("epoll_wait: %s", strerror(errno));
  }
  static uint8_t buf[65536];
  for (int i = 0; i < n; i++) {
    uint64_t index = evs[i].data.u64;
    int fd = fd_of(index);
    for (;;) {
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r < 0) break;
      on_datagram(index, buf, static_cast<size_t>(r), now_ns());
    }
  }
}

static long parse_long(const char* flag, const char* s, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
    die("%s needs an integer from %ld to %ld, not '%s'", flag, lo, hi, s);
  return v;
}

static double parse_secs(const char* flag, const char* s, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
    die("%s needs a number of seconds from %g to %g, not '%s'", flag, lo, hi, s);
  return v;
}

// --server IP:PORT (IPv4, port 1..65535).
static struct sockaddr_in parse_server_addr(const char* s) {
  std::string str(s);
  size_t colon = str.rfind(':');
  if (colon == std::string::npos) die("--server needs IP:PORT, not '%s'", s);
  std::string ip = str.substr(0, colon);
  long port = parse_long("--server port", str.c_str() + colon + 1, 1, 65535);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1)
    die("--server needs an IPv4 address, not '%s'", ip.c_str());
  return a;
}

// A client UDP socket on 127.0.0.1 connected to server (the kernel then drops
// datagrams from anyone else), watched by epoll ep with tag as its data.
static int loadgen_socket(int ep, const struct sockaddr_in& server, uint64_t tag) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  struct sockaddr_in any {};
  any.sin_family = AF_INET;
  any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&any), sizeof any) != 0)
    die("bind: %s", strerror(errno));
  if (connect(fd, reinterpret_cast<const struct sockaddr*>(&server), sizeof server) != 0)
    die("connect: %s", strerror(errno));
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl: %s", strerror(errno));
  return fd;
}

// The q-quantile (0..1] of sorted latencies v; 0 when there are none.
static uint32_t pct(const std::vector<uint32_t>& v, double q) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
  if (i >= v.size()) i = v.size() - 1;
  return v[i];
}

// The null responder's server: the tracker's own UDP I/O (src/udpserve.cc:
// recvmmsg batches, answers sent together with sendmmsg) with a fixed answer
// in place of the tracker's work, so that tracker / null measures what the
// tracker's handling costs. Both programs' `null` modes run it.
struct NullServer {
  UdpServe udp;
  uv_signal_t sigint, sigterm;
};

static void null_server_stop(uv_signal_t* s, int) {
  NullServer* ns = static_cast<NullServer*>(s->data);
  udpserve_close(&ns->udp);
  uv_close(reinterpret_cast<uv_handle_t*>(&ns->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&ns->sigterm), nullptr);
}

// Serves 127.0.0.1:port (0: a free one), each datagram to on_datagram(ctx, ...),
// until SIGINT or SIGTERM; prints "listening on 127.0.0.1:PORT" first. Returns
// the datagrams it answered.
static uint64_t null_serve(NullServer* ns, int port, void* ctx,
                           void (*on_datagram)(void*, const char*, size_t,
                                               const struct sockaddr_in*, bool)) {
  uv_loop_t* loop = uv_default_loop();
  ns->udp.ctx = ctx;
  ns->udp.on_datagram = on_datagram;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  int r = udpserve_start(&ns->udp, loop, &addr);
  if (r != 0) die("cannot bind UDP 127.0.0.1:%d: %s", port, uv_strerror(r));
  uv_signal_init(loop, &ns->sigint);
  uv_signal_init(loop, &ns->sigterm);
  ns->sigint.data = ns->sigterm.data = ns;
  uv_signal_start(&ns->sigint, null_server_stop, SIGINT);
  uv_signal_start(&ns->sigterm, null_server_stop, SIGTERM);
  printf("listening on 127.0.0.1:%d\n", udpserve_port(&ns->udp));
  fflush(stdout);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return ns->udp.datagrams;
}
