// Batched UDP request/answer I/O. See udpserve.h.
#include "udpserve.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

// libuv reads with recvmmsg when the buffer holds several 64 KiB slots (one per
// datagram), up to 20 of them per call.
static constexpr size_t kSlot = 64 * 1024;
static constexpr size_t kSlots = 20;
static constexpr size_t kBatchMax = 64;        // answers sent per sendmmsg call
static constexpr int kSocketBuffer = 4 << 20;  // asked for; the kernel caps it (rmem_max)

struct QueuedAnswer {
  uv_udp_send_t req;
  std::string data;
};

static void on_queued_sent(uv_udp_send_t* req, int) {
  delete static_cast<QueuedAnswer*>(req->data);
}

// The socket buffer is full: libuv keeps a copy and sends it when it drains.
static void queue_answer(UdpServe* s, const UdpOut& o) {
  QueuedAnswer* q = new QueuedAnswer;
  q->data.assign(s->out, o.off, o.len);
  q->req.data = q;
  uv_buf_t b = uv_buf_init(&q->data[0], static_cast<unsigned>(q->data.size()));
  if (uv_udp_send(&q->req, &s->udp, &b, 1, reinterpret_cast<const struct sockaddr*>(&o.to),
                  on_queued_sent) != 0)
    delete q;
}

void udpserve_flush(UdpServe* s) {
  if (s->pending.empty()) return;
  uv_os_fd_t fd;
  bool raw = uv_fileno(reinterpret_cast<uv_handle_t*>(&s->udp), &fd) == 0 &&
             uv_udp_get_send_queue_count(&s->udp) == 0;
  size_t i = 0;
  while (raw && i < s->pending.size()) {
    struct mmsghdr msgs[kBatchMax];
    struct iovec iov[kBatchMax];
    size_t n = s->pending.size() - i < kBatchMax ? s->pending.size() - i : kBatchMax;
    for (size_t k = 0; k < n; k++) {
      UdpOut& o = s->pending[i + k];
      iov[k].iov_base = &s->out[o.off];
      iov[k].iov_len = o.len;
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_name = &o.to;
      msgs[k].msg_hdr.msg_namelen = sizeof o.to;
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    int sent;
    do
      sent = sendmmsg(fd, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    if (sent > 0) {
      i += static_cast<size_t>(sent);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      break;  // the rest waits in libuv's queue
    } else {
      i++;  // this answer's own problem (unreachable, ...): nothing to keep
    }
  }
  for (; i < s->pending.size(); i++)
    queue_answer(s, s->pending[i]);
  s->pending.clear();
  s->out.clear();
}

// The owner's end-of-batch step (its log), then the answers.
static void end_batch(UdpServe* s) {
  if (s->on_batch_end != nullptr) s->on_batch_end(s->ctx);
  udpserve_flush(s);
}

void udpserve_answer(UdpServe* s, const struct sockaddr_in* to, const char* data, size_t len) {
  if (len == 0) return;
  s->pending.push_back(UdpOut{*to, s->out.size(), len});
  s->out.append(data, len);
  if (s->pending.size() >= kBatchMax) end_batch(s);
}

static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  UdpServe* s = static_cast<UdpServe*>(h->data);
  buf->base = s->rbuf;
  buf->len = s->rbuf_len;
}

static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const struct sockaddr* addr,
                    unsigned flags) {
  UdpServe* s = static_cast<UdpServe*>(h->data);
  if (addr != nullptr && nread >= 0 && addr->sa_family == AF_INET) {
    s->datagrams++;
    size_t len = static_cast<size_t>(nread);
    bool oversize = (flags & UV_UDP_PARTIAL) || len >= kSlot;
    s->on_datagram(s->ctx, buf->base, len, reinterpret_cast<const struct sockaddr_in*>(addr),
                   oversize);
  }
  // Every call but a batch's chunks ends a batch: a lone datagram, the last
  // call of a recvmmsg batch (UV_UDP_MMSG_FREE), or nothing more to read.
  if (!(flags & UV_UDP_MMSG_CHUNK) && !s->pending.empty()) end_batch(s);
}

int udpserve_start(UdpServe* s, uv_loop_t* loop, const struct sockaddr_in* addr) {
  int r = uv_udp_init_ex(loop, &s->udp, AF_INET | UV_UDP_RECVMMSG);
  if (r != 0) return r;
  s->open = true;
  s->udp.data = s;
  if ((r = uv_udp_bind(&s->udp, reinterpret_cast<const struct sockaddr*>(addr), 0)) != 0) return r;
  int size = kSocketBuffer;
  uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&s->udp), &size);
  size = kSocketBuffer;
  uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&s->udp), &size);
  s->rbuf_len = kSlot * kSlots;
  s->rbuf = new char[s->rbuf_len];
  return uv_udp_recv_start(&s->udp, on_alloc, on_recv);
}

int udpserve_port(const UdpServe* s) {
  struct sockaddr_in bound;
  int len = sizeof bound;
  if (uv_udp_getsockname(&s->udp, reinterpret_cast<struct sockaddr*>(&bound), &len) != 0) return 0;
  return ntohs(bound.sin_port);
}

static void on_closed(uv_handle_t* h) {
  UdpServe* s = static_cast<UdpServe*>(h->data);
  delete[] s->rbuf;
  s->rbuf = nullptr;
}

void udpserve_close(UdpServe* s) {
  if (!s->open) return;
  s->open = false;
  s->pending.clear();
  s->out.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&s->udp), on_closed);
}
