// The peer's side of the control plane: one request at a time to the tracker over
// a connected UDP handle, matched with its answer or given up after a timeout.
// Owns a uv_udp_t and a uv_timer_t. Used by peer.cc.
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <string>

#include "limits.h"
#include "proto.h"

// status is 0 with a decoded answer, or negative with err saying why in words.
typedef void (*TcAnswerCb)(void* ctx, int status, const ProtoAnswer* ans, const std::string& err);

struct TClient {
  uv_loop_t* loop = nullptr;
  uv_udp_t udp;
  uv_timer_t timer;
  std::string name;  // "127.0.0.1:6771", for messages
  bool busy = false;
  TcAnswerCb cb = nullptr;
  void* ctx = nullptr;
  int open_handles = 0;
  void (*on_closed)(void* ctx) = nullptr;
  void* closed_ctx = nullptr;
  char rbuf[kMaxDatagram];
};

// Parses "HOST:PORT" (IPv4). Returns 0 or UV_EINVAL.
int tc_parse_addr(const std::string& s, struct sockaddr_in* out);
int tc_open(TClient* tc, uv_loop_t* loop, const std::string& tracker);
// Sends one request; cb runs exactly once, unless tc_close comes first. UV_EBUSY
// while another request waits for its answer.
int tc_request(TClient* tc, const ProtoRequest& req, int timeout_ms, TcAnswerCb cb, void* ctx);
// Forgets the waiting request (its callback will not run).
void tc_cancel(TClient* tc);
void tc_close(TClient* tc, void (*on_closed)(void* ctx), void* ctx);
