// The peer's side of the control plane: requests to the tracker over a
// connected UDP handle, queued and sent one at a time, each sent again with
// backoff until its answer comes (matched by seq) or the wait runs out. Owns a
// uv_udp_t and a uv_timer_t. Used by peer.cc.
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <deque>
#include <string>

#include "limits.h"
#include "proto.h"

// status is 0 with a decoded answer, or negative with err saying why in words.
typedef void (*TcAnswerCb)(void* ctx, int status, const ProtoAnswer* ans, const std::string& err);

struct TcRequest {
  std::string data;  // the encoded datagram, sent again unchanged
  uint64_t seq = 0;
  int budget_ms = 0;
  TcAnswerCb cb = nullptr;
  void* ctx = nullptr;
};

struct TClient {
  uv_loop_t* loop = nullptr;
  uv_udp_t udp;
  uv_timer_t timer;
  std::string name;             // "127.0.0.1:6771", for messages
  std::deque<TcRequest> queue;  // the front one is in flight
  uint64_t next_seq = 1;
  uint64_t sent_at = 0;  // ms: first send of the front request
  int rto_ms = 0;        // wait before the next resend
  int last_error = 0;    // e.g. UV_ECONNREFUSED seen while waiting
  // A refusal (ICMP port unreachable) ends the request in flight at once, with
  // UV_ECONNREFUSED and a hint, instead of being retried until the budget runs
  // out (for the first contact: a tracker that restarts is waited for).
  bool refused_is_final = false;
  int open_handles = 0;
  bool closing = false;
  void (*on_closed)(void* ctx) = nullptr;
  void* closed_ctx = nullptr;
  char rbuf[kMaxDatagram];
};

// Parses "HOST:PORT" (IPv4). Returns 0 or UV_EINVAL.
int tc_parse_addr(const std::string& s, struct sockaddr_in* out);
// "Tracker IP:PORT refused the connection (nothing listens there): ...", with
// how to start one or point elsewhere.
std::string tc_refused_text(const TClient* tc);
int tc_open(TClient* tc, uv_loop_t* loop, const std::string& tracker);
// Queues a request. An extended request (req.extended) gets the next seq. cb runs
// exactly once: with the answer, an error, or UV_ECANCELED from tc_cancel_all or
// tc_close. budget_ms bounds
// the wait for the answer from the moment the request is first sent.
int tc_request(TClient* tc, ProtoRequest req, int budget_ms, TcAnswerCb cb, void* ctx);
bool tc_busy(const TClient* tc);
// Drops every queued request, running each callback with UV_ECANCELED.
void tc_cancel_all(TClient* tc);
void tc_close(TClient* tc, void (*on_closed)(void* ctx), void* ctx);
