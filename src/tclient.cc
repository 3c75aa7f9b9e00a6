// Request/answer over UDP to the tracker. See tclient.h.
#include "tclient.h"

#include <arpa/inet.h>

#include <cstdlib>
#include <cstring>

struct SendReq {
  uv_udp_send_t req;
  std::string data;
};

int tc_parse_addr(const std::string& s, struct sockaddr_in* out) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size()) return UV_EINVAL;
  std::string host = s.substr(0, colon);
  std::string port = s.substr(colon + 1);
  if (host == "localhost") host = "127.0.0.1";
  char* end = nullptr;
  long p = strtol(port.c_str(), &end, 10);
  if (*end != '\0' || p < 1 || p > 65535) return UV_EINVAL;
  return uv_ip4_addr(host.c_str(), static_cast<int>(p), out);
}

static void finish(TClient* tc, int status, const ProtoAnswer* ans, const std::string& err) {
  if (!tc->busy) return;
  tc->busy = false;
  uv_timer_stop(&tc->timer);
  TcAnswerCb cb = tc->cb;
  tc->cb = nullptr;
  if (cb != nullptr) cb(tc->ctx, status, ans, err);
}

static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  TClient* tc = static_cast<TClient*>(h->data);
  buf->base = tc->rbuf;
  buf->len = sizeof tc->rbuf;
}

static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const struct sockaddr*,
                    unsigned flags) {
  TClient* tc = static_cast<TClient*>(h->data);
  if (nread == 0) return;  // nothing more to read
  if (nread < 0) {
    // On a connected socket, an ICMP "port unreachable" arrives here: nobody listens.
    if (tc->busy)
      finish(
          tc, static_cast<int>(nread), nullptr,
          "tracker " + tc->name + " not answering (" + uv_strerror(static_cast<int>(nread)) + ")");
    return;
  }
  if (!tc->busy) return;  // a late answer to a request already given up
  if (flags & UV_UDP_PARTIAL) {
    finish(tc, UV_EMSGSIZE, nullptr, "tracker " + tc->name + " sent an oversized answer");
    return;
  }
  ProtoAnswer ans;
  std::string err;
  if (proto_decode_answer(buf->base, static_cast<size_t>(nread), &ans, &err) != 0) {
    finish(tc, UV_EPROTO, nullptr, err);
    return;
  }
  finish(tc, 0, &ans, "");
}

static void on_timeout(uv_timer_t* t) {
  TClient* tc = static_cast<TClient*>(t->data);
  finish(tc, UV_ETIMEDOUT, nullptr, "tracker " + tc->name + " not answering");
}

int tc_open(TClient* tc, uv_loop_t* loop, const std::string& tracker) {
  struct sockaddr_in addr;
  int r = tc_parse_addr(tracker, &addr);
  if (r != 0) return r;
  char ip[INET_ADDRSTRLEN];
  uv_ip4_name(&addr, ip, sizeof ip);
  tc->name = std::string(ip) + ":" + std::to_string(ntohs(addr.sin_port));
  tc->loop = loop;
  if ((r = uv_udp_init(loop, &tc->udp)) != 0) return r;
  tc->udp.data = tc;
  tc->open_handles++;
  uv_timer_init(loop, &tc->timer);
  tc->timer.data = tc;
  tc->open_handles++;
  if ((r = uv_udp_connect(&tc->udp, reinterpret_cast<const struct sockaddr*>(&addr))) != 0)
    return r;
  return uv_udp_recv_start(&tc->udp, on_alloc, on_recv);
}

int tc_request(TClient* tc, const ProtoRequest& req, int timeout_ms, TcAnswerCb cb, void* ctx) {
  if (tc->busy) return UV_EBUSY;
  SendReq* s = new SendReq;
  proto_encode_request(req, &s->data);
  uv_buf_t b = uv_buf_init(&s->data[0], static_cast<unsigned>(s->data.size()));
  s->req.data = s;
  int r = uv_udp_send(&s->req, &tc->udp, &b, 1, nullptr,
                      [](uv_udp_send_t* rq, int) { delete static_cast<SendReq*>(rq->data); });
  if (r != 0) {
    delete s;  // a call that fails never runs its callback
    return r;
  }
  tc->busy = true;
  tc->cb = cb;
  tc->ctx = ctx;
  uv_timer_start(&tc->timer, on_timeout, static_cast<uint64_t>(timeout_ms), 0);
  return 0;
}

void tc_cancel(TClient* tc) {
  tc->busy = false;
  tc->cb = nullptr;
  uv_timer_stop(&tc->timer);
}

static void on_handle_closed(uv_handle_t* h) {
  TClient* tc = static_cast<TClient*>(h->data);
  if (--tc->open_handles == 0 && tc->on_closed != nullptr) tc->on_closed(tc->closed_ctx);
}

void tc_close(TClient* tc, void (*on_closed)(void* ctx), void* ctx) {
  tc_cancel(tc);
  tc->on_closed = on_closed;
  tc->closed_ctx = ctx;
  if (tc->open_handles == 0) {
    if (on_closed != nullptr) on_closed(ctx);
    return;
  }
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tc->udp)))
    uv_close(reinterpret_cast<uv_handle_t*>(&tc->udp), on_handle_closed);
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tc->timer)))
    uv_close(reinterpret_cast<uv_handle_t*>(&tc->timer), on_handle_closed);
}
