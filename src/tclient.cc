// Request/answer over UDP to the tracker, with retransmission. See tclient.h.
//
// Every tracker action is idempotent, so sending a request again is safe; the
// answer to an extended request echoes its seq, which tells a late answer to an
// earlier try or an earlier request apart. A seed tracker echoes nothing: its
// answer is taken for the request in flight.
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

std::string tc_refused_text(const TClient* tc) {
  std::string port = tc->name.substr(tc->name.rfind(':') + 1);
  return "Tracker " + tc->name +
         " refused the connection (nothing listens there): start one with 'tt tracker --port " +
         port + "', or pass --tracker HOST:PORT";
}

static void send_front(TClient* tc);
static void on_timer(uv_timer_t* t);

static void send_datagram(TClient* tc, const std::string& data) {
  SendReq* s = new SendReq;
  s->data = data;
  uv_buf_t b = uv_buf_init(&s->data[0], static_cast<unsigned>(s->data.size()));
  s->req.data = s;
  int r = uv_udp_send(&s->req, &tc->udp, &b, 1, nullptr,
                      [](uv_udp_send_t* rq, int) { delete static_cast<SendReq*>(rq->data); });
  if (r != 0) {
    delete s;  // a call that fails never runs its callback; the resend timer tries again
    tc->last_error = r;
  }
}

// Ends the front request with an answer or an error, and starts the next one.
static void finish_front(TClient* tc, int status, const ProtoAnswer* ans, const std::string& err) {
  if (tc->queue.empty()) return;
  TcRequest req = std::move(tc->queue.front());
  tc->queue.pop_front();
  uv_timer_stop(&tc->timer);
  if (!tc->queue.empty()) send_front(tc);
  if (req.cb != nullptr) req.cb(req.ctx, status, ans, err);
}

static void send_front(TClient* tc) {
  tc->sent_at = uv_now(tc->loop);
  tc->rto_ms = kRetransmitFirstMs;
  tc->last_error = 0;
  send_datagram(tc, tc->queue.front().data);
  uv_timer_start(&tc->timer, on_timer, static_cast<uint64_t>(tc->rto_ms), 0);
}

static void on_timer(uv_timer_t* t) {
  TClient* tc = static_cast<TClient*>(t->data);
  if (tc->queue.empty()) return;
  const TcRequest& req = tc->queue.front();
  uint64_t waited = uv_now(tc->loop) - tc->sent_at;
  if (waited >= static_cast<uint64_t>(req.budget_ms)) {
    std::string why = "tracker " + tc->name + " not answering";
    if (tc->last_error != 0) why += std::string(" (") + uv_strerror(tc->last_error) + ")";
    finish_front(tc, UV_ETIMEDOUT, nullptr, why);
    return;
  }
  send_datagram(tc, req.data);
  tc->rto_ms = tc->rto_ms * 2 < kRetransmitMaxMs ? tc->rto_ms * 2 : kRetransmitMaxMs;
  uint64_t left = static_cast<uint64_t>(req.budget_ms) - waited;
  uv_timer_start(&tc->timer, on_timer, static_cast<uint64_t>(tc->rto_ms) < left ? tc->rto_ms : left,
                 0);
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
    // On a connected socket an ICMP "port unreachable" lands here: nobody listens
    // (yet: a tracker restarting, say). Unless told to give up at once, keep
    // trying until the budget runs out.
    tc->last_error = static_cast<int>(nread);
    if (nread == UV_ECONNREFUSED && tc->refused_is_final && !tc->queue.empty())
      finish_front(tc, UV_ECONNREFUSED, nullptr, tc_refused_text(tc));
    return;
  }
  if (tc->queue.empty() || (flags & UV_UDP_PARTIAL)) return;
  ProtoAnswer ans;
  std::string err;
  if (proto_decode_answer(buf->base, static_cast<size_t>(nread), &ans, &err) != 0) {
    finish_front(tc, UV_EPROTO, nullptr, err);
    return;
  }
  // A late answer to an earlier request is dropped; a seed tracker's (no seq) is ours.
  if (ans.has_seq && ans.seq != tc->queue.front().seq) return;
  finish_front(tc, 0, &ans, "");
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

int tc_request(TClient* tc, ProtoRequest req, int budget_ms, TcAnswerCb cb, void* ctx) {
  if (tc->open_handles == 0 || tc->closing) return UV_EBADF;
  TcRequest r;
  if (req.extended) {
    req.seq = tc->next_seq++;
    req.fields |= FLD_SEQ;
  }
  r.seq = req.seq;
  proto_encode_request(req, &r.data);
  r.budget_ms = budget_ms;
  r.cb = cb;
  r.ctx = ctx;
  tc->queue.push_back(std::move(r));
  if (tc->queue.size() == 1) send_front(tc);
  return 0;
}

bool tc_busy(const TClient* tc) {
  return !tc->queue.empty();
}

void tc_cancel_all(TClient* tc) {
  std::deque<TcRequest> gone;
  gone.swap(tc->queue);
  if (tc->open_handles > 0) uv_timer_stop(&tc->timer);
  // Every callback runs exactly once: these with UV_ECANCELED, so owners free their state.
  for (TcRequest& r : gone) {
    if (r.cb != nullptr) r.cb(r.ctx, UV_ECANCELED, nullptr, "cancelled");
  }
}

static void on_handle_closed(uv_handle_t* h) {
  TClient* tc = static_cast<TClient*>(h->data);
  if (--tc->open_handles == 0 && tc->on_closed != nullptr) tc->on_closed(tc->closed_ctx);
}

void tc_close(TClient* tc, void (*on_closed)(void* ctx), void* ctx) {
  tc_cancel_all(tc);
  tc->closing = true;
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
