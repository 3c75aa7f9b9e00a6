// The HTTP server (http.cc) on a real loop, with a client on the same loop.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <string>

#include "http.h"

static const size_t kBigBody = 32u << 20;  // more than the kernel buffers on both sides

static void big_page(void*, const HttpRequest&, HttpAnswer* a) {
  a->body.assign(kBigBody, 'x');
}

static const HttpRoute kBigRoutes[] = {{"GET", "/big", big_page}};

struct HalfCloseClient {
  HttpServer* server;
  uv_poll_t poll;
  int fd = -1;
  std::string got;
  bool eof = false;
};

static void client_on_readable(uv_poll_t* p, int status, int) {
  HalfCloseClient* c = static_cast<HalfCloseClient*>(p->data);
  char buf[65536];
  for (;;) {
    ssize_t n = status < 0 ? -1 : recv(c->fd, buf, sizeof buf, 0);
    if (n > 0) {
      c->got.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && status >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    c->eof = true;  // the server's close (or an error): the test is over
    uv_close(reinterpret_cast<uv_handle_t*>(&c->poll), nullptr);
    http_close(c->server);
    return;
  }
}

TEST_CASE("http: a client that half-closes after its request gets the whole answer", "[http]") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  HttpServer s;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  REQUIRE(http_start(&s, &loop, &addr, HttpRoutes{kBigRoutes, 1}, nullptr) == 0);
  addr.sin_port = htons(static_cast<uint16_t>(http_port(&s)));

  HalfCloseClient c;
  c.server = &s;
  c.fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(c.fd >= 0);
  REQUIRE(connect(c.fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0);
  const char req[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(send(c.fd, req, sizeof req - 1, 0) == static_cast<ssize_t>(sizeof req - 1));
  // The server sees the request and the end of the client's side together,
  // long before the answer can be written whole.
  REQUIRE(shutdown(c.fd, SHUT_WR) == 0);
  fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
  uv_poll_init(&loop, &c.poll, c.fd);
  c.poll.data = &c;
  uv_poll_start(&c.poll, UV_READABLE, client_on_readable);

  uv_run(&loop, UV_RUN_DEFAULT);
  close(c.fd);
  CHECK(c.eof);
  size_t head_end = c.got.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  CHECK(c.got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(c.got.find("Content-Length: " + std::to_string(kBigBody) + "\r\n") < head_end);
  CHECK(c.got.size() - (head_end + 4) == kBigBody);
  CHECK(uv_loop_close(&loop) == 0);
}
