// A request/answer UDP server's I/O on a libuv loop, shared by the tracker and
// the null responder its benchmark compares it with (tests/bench/ttload.cc):
// datagrams are read in batches of up to 20 (recvmmsg), handed to on_datagram
// one by one, and the answers to one batch go out together (sendmmsg) when the
// batch ends, after on_batch_end (where the tracker flushes its log, so a
// logged request is on disk before its answer leaves). Answers that do not fit
// in the socket buffer are queued and sent when it drains; nothing is lost to
// EAGAIN. No allocation per datagram once warm.
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <string>
#include <vector>

struct UdpOut {
  struct sockaddr_in to;
  size_t off;  // into UdpServe::out
  size_t len;
};

struct UdpServe {
  uv_udp_t udp;
  bool open = false;
  void* ctx = nullptr;
  // One datagram from `from`; `oversize` when it filled the 64 KiB slot (cut).
  // Answers with udpserve_answer.
  void (*on_datagram)(void* ctx, const char* data, size_t len, const struct sockaddr_in* from,
                      bool oversize) = nullptr;
  void (*on_batch_end)(void* ctx) = nullptr;  // optional
  char* rbuf = nullptr;
  size_t rbuf_len = 0;
  std::string out;              // this batch's answers, back to back
  std::vector<UdpOut> pending;  // ... and where each goes
  uint64_t datagrams = 0;       // received, for statistics
};

// Binds addr and starts reading. Returns 0 or a libuv error.
int udpserve_start(UdpServe* s, uv_loop_t* loop, const struct sockaddr_in* addr);
// The bound port.
int udpserve_port(const UdpServe* s);
// Adds an answer to the current batch. Outside a batch (a timer, a probe),
// call udpserve_flush afterwards.
void udpserve_answer(UdpServe* s, const struct sockaddr_in* to, const char* data, size_t len);
// Sends the answers added so far.
void udpserve_flush(UdpServe* s);
// Closes the handle (answers not yet sent are dropped). Frees the buffer when closed.
void udpserve_close(UdpServe* s);
