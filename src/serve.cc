// TCP serving, seed form and extended form. See serve.h.
//
// The seed form reads the file with uv_fs_read into two buffers in turn and
// writes them with uv_write, so one read from disk overlaps one write to the
// socket and memory per connection stays at two chunks whatever the file size.
// The extended form answers one request line at a time, in order: the action
// table (kExtActions) says which handler; a piece's header goes out with
// uv_try_write/uv_write and its bytes by sendfile on the threadpool. Events for
// a watching downloader wait in `events` until the answer being sent is out.
// Under an upload limit, piece bytes and seed-form chunks wait their turn at
// the server's RateGate.
#include "serve.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "app.h"
#include "hex.h"
#include "limits.h"
#include "manifest.h"
#include "netaddr.h"
#include "out.h"
#include "proto.h"
#include "rapidjson/document.h"
#include "wire.h"

/* ----------------------------------------------------------------------------
 * Serving
 * ------------------------------------------------------------------------- */

enum ServeState {
  SERVE_REQUEST,    // reading the first bytes
  SERVE_OPENING,    // seed form: opening the file
  SERVE_STREAMING,  // seed form: sending the file
  SERVE_EXTENDED,   // extended form: answering request lines
  SERVE_DRAINING,   // all sent: waiting for the client to close
  SERVE_CLOSING,
};

struct ServeConn {
  XferServer* srv = nullptr;
  uv_tcp_t tcp;
  uv_timer_t timer;
  int open_handles = 0;
  ServeState state = SERVE_REQUEST;
  std::string request;
  uv_fs_t fs_req;
  bool fs_busy = false;
  uv_file fd = -1;
  int64_t offset = 0;
  // Two chunks used in turn: one filling from disk while the other goes out.
  char* buf[2] = {nullptr, nullptr};
  size_t len[2] = {0, 0};
  int fill_i = 0, send_i = 0;
  int in_use = 0;  // chunks reading, full or writing
  int full = 0;    // chunks read and not yet handed to uv_write
  bool reading = false, writing = false, eof = false;
  bool peer_eof = false;   // the client has shut down its side
  bool gate_wait = false;  // waiting for upload tokens
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  // Extended form: the answer being written. A piece's bytes follow its header
  // by sendfile from c->fd (no copy through our memory), on the threadpool (the
  // file may not be cached), into wfd: a duplicate of the socket, so that the
  // job never writes to a descriptor number that closing the uv_tcp_t has freed.
  // While the socket is full, wpoll waits until it drains.
  bool ext_busy = false;
  bool in_pump = false;  // ext_pump is on the stack: answers done at once return to it
  std::string ext_head;
  size_t head_sent = 0;  // bytes of ext_head that uv_try_write sent
  std::string ext_path;  // the file c->fd is open on
  int wfd = -1;
  uv_poll_t wpoll;
  bool wpoll_open = false;
  uv_work_t sf_work;
  bool sf_busy = false;
  int64_t sf_off = 0, sf_end = 0;  // the piece bytes still to send
  int64_t sf_sent = 0;             // by the last job
  int64_t sf_limit = 0;            // most bytes the next job may send (0: no limit)
  std::string watch;               // the file whose new pieces are pushed as events
  bool has_slot = false;           // one of the server's upload slots is this answer's
  bool slot_waiting = false;       // in the server's slot queue, with slot_req
  uint64_t slot_ms = 0;            // when the slot was taken or its answer last moved enough
  uint64_t slot_moved = 0;         // piece bytes its answer sent since slot_ms
  WireRequest slot_req;
  std::string piece_path;             // the file of its last piece request
  uint64_t piece_ms = 0;              // ... and when
  std::string events;                 // event lines waiting for the next answer boundary
  bool events_out = false;            // the answer being sent is pushed events only
  bool last_answer = false;           // close once the answer being sent is out
  int sf_err = 0;                     // of the last job: 0, UV_EAGAIN (socket full) or an error
  uint64_t ext_dev = 0, ext_ino = 0;  // the file c->fd is open on, as checked
  // The connection table: the client's address, and whether (since when) no
  // request is in flight. Pushed events restart the idle time, not partial lines.
  uint32_t ip = 0;
  bool counted = false;  // in srv->live and srv->per_ip
  bool idle = true;
  uint64_t idle_ms = 0;
  XferFile seed_file;  // seed form: what was asked for (checked when opened)
  std::string seed_name;
  // For serve_status: the file last asked for, file bytes sent, when it connected.
  std::string upload_name;
  uint64_t bytes_out = 0;
  uint64_t started_ms = 0;
  char rbuf[16384];
};

static void serve_maybe_free(ServeConn* c) {
  if (c->open_handles > 0 || c->fs_busy || c->writing || c->sf_busy) return;
  if (c->fd >= 0) {
    uv_fs_t req;
    uv_fs_close(nullptr, &req, c->fd, nullptr);
    uv_fs_req_cleanup(&req);
  }
  if (c->wfd >= 0) close(c->wfd);  // the connection really closes now
  XferServer* s = c->srv;
  s->conns.erase(c);
  delete[] c->buf[0];
  delete[] c->buf[1];
  delete c;
  if (--s->open == 0 && s->closing && s->on_closed != nullptr) s->on_closed(s->ctx);
}

static void serve_on_handle_closed(uv_handle_t* h) {
  ServeConn* c = static_cast<ServeConn*>(h->data);
  c->open_handles--;
  serve_maybe_free(c);
}

static void slot_release(ServeConn* c);

static void serve_close(ServeConn* c) {
  if (c->state == SERVE_CLOSING) return;
  // A transfer cut short must not look finished: the seed form has no length, so
  // a plain close (FIN) would pass for the end of the file. A reset cannot.
  bool cut_short = c->state == SERVE_STREAMING;
  c->state = SERVE_CLOSING;
  XferServer* s = c->srv;
  if (c->counted) {
    c->counted = false;
    s->live--;
    auto it = s->per_ip.find(c->ip);
    if (it != s->per_ip.end() && --it->second == 0) s->per_ip.erase(it);
  }
  gate_forget(s->upload, c);
  if (c->slot_waiting) {
    s->slot_queue.erase(std::find(s->slot_queue.begin(), s->slot_queue.end(), c));
    c->slot_waiting = false;
    if (s->slot_queue.empty() && s->slot_timer_open) uv_timer_stop(&s->slot_timer);
  }
  if (c->has_slot) slot_release(c);  // may start another connection's answer
  if (!cut_short || uv_tcp_close_reset(&c->tcp, serve_on_handle_closed) != 0)
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), serve_on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), serve_on_handle_closed);
  if (c->wpoll_open) uv_close(reinterpret_cast<uv_handle_t*>(&c->wpoll), serve_on_handle_closed);
}

static void serve_on_timer(uv_timer_t* t) {
  serve_close(static_cast<ServeConn*>(t->data));
}

static void serve_pump(ServeConn* c);

static void serve_on_read_file(uv_fs_t* req) {
  ServeConn* c = static_cast<ServeConn*>(req->data);
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  c->fs_busy = false;
  c->reading = false;
  if (c->state == SERVE_CLOSING) {
    serve_maybe_free(c);
    return;
  }
  if (n < 0) {  // the file went bad under us: the client sees a short transfer
    serve_close(c);
    return;
  }
  if (n == 0) {
    c->eof = true;
    c->in_use--;
  } else {
    c->len[c->fill_i] = static_cast<size_t>(n);
    c->fill_i ^= 1;
    c->offset += n;
    c->full++;
  }
  serve_pump(c);
}

static void serve_on_shutdown(uv_shutdown_t* req, int status) {
  ServeConn* c = static_cast<ServeConn*>(req->data);
  if (c->state == SERVE_CLOSING) return;
  // Otherwise the read side closes when the client does (or the linger timer fires).
  if (status < 0 || c->peer_eof) serve_close(c);
}

// A write of c's ended: false when the connection goes (it is closing, or the
// write failed), true when it carries on.
static bool serve_write_ended(ServeConn* c, int status) {
  c->writing = false;
  if (c->state == SERVE_CLOSING) {
    serve_maybe_free(c);
    return false;
  }
  if (status < 0) {
    serve_close(c);
    return false;
  }
  return true;
}

static void serve_on_write(uv_write_t* req, int status) {
  ServeConn* c = static_cast<ServeConn*>(req->data);
  if (status >= 0) c->bytes_out += c->len[c->send_i];
  c->send_i ^= 1;
  c->in_use--;
  if (!serve_write_ended(c, status)) return;
  uv_timer_start(&c->timer, serve_on_timer, kServeStallMs, 0);
  serve_pump(c);
}

static void serve_on_gate(void* ctx) {
  ServeConn* c = static_cast<ServeConn*>(ctx);
  c->gate_wait = false;
  serve_pump(c);
}

static void serve_pump(ServeConn* c) {
  if (c->state != SERVE_STREAMING || c->gate_wait) return;
  if (!c->reading && !c->eof && c->in_use < 2) {
    uv_buf_t b = uv_buf_init(c->buf[c->fill_i], kXferChunk);
    c->fs_req.data = c;
    if (uv_fs_read(c->srv->loop, &c->fs_req, c->fd, &b, 1, c->offset, serve_on_read_file) != 0) {
      serve_close(c);
      return;
    }
    c->fs_busy = true;
    c->reading = true;
    c->in_use++;
  }
  if (!c->writing && c->full > 0) {
    XferServer* s = c->srv;
    if (gate_limited(s->upload)) {  // a chunk goes when its tokens are there
      uint64_t need = std::min<uint64_t>(c->len[c->send_i], kRateChunk);
      if (gate_available(s->upload) < need) {
        c->gate_wait = true;
        gate_wait(s->upload, need, serve_on_gate, c);
        return;
      }
      gate_spend(s->upload, c->len[c->send_i]);
    }
    uv_buf_t b = uv_buf_init(c->buf[c->send_i], static_cast<unsigned>(c->len[c->send_i]));
    c->write_req.data = c;
    if (uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1, serve_on_write) !=
        0) {
      serve_close(c);
      return;
    }
    c->writing = true;
    c->full--;
  }
  if (c->eof && !c->reading && !c->writing && c->full == 0) {
    // Everything is out: send FIN and wait for the client to close, so that no
    // unread byte of ours turns the close into a reset that loses data.
    c->state = SERVE_DRAINING;
    c->idle = true;
    c->idle_ms = uv_now(c->srv->loop);
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, reinterpret_cast<uv_stream_t*>(&c->tcp), serve_on_shutdown) !=
        0) {
      serve_close(c);
      return;
    }
    uv_timer_start(&c->timer, serve_on_timer, kServeLingerMs, 0);
  }
}

// Whether fd, just opened from f.path, is still the file that was shared.
// Otherwise *why says what f.path is now.
static bool serve_same_file(int fd, const XferFile& f, std::string* why) {
  struct stat st;
  if (fd == UV_ELOOP) {
    *why = f.path + " is now a symbolic link";
    return false;
  }
  if (fd < 0 || fstat(fd, &st) != 0) return false;  // gone, or unreadable: nothing to say
  if (!S_ISREG(st.st_mode)) {
    *why = f.path + " is now not a regular file";
    return false;
  }
  if (f.ino != 0 && (st.st_dev != f.dev || st.st_ino != f.ino)) {
    *why = f.path + " is now another file (a new inode)";
    return false;
  }
  return true;
}

static int serve_open_flags(const XferFile& f) {
  // O_NONBLOCK: a FIFO put in place of a shared file must not pin a thread.
  return O_RDONLY | O_NONBLOCK | O_CLOEXEC | (f.follow ? 0 : O_NOFOLLOW);
}

static void serve_refused(XferServer* s, const std::string& name, const std::string& why) {
  if (!why.empty() && s->on_refused != nullptr) s->on_refused(s->ctx, name, why);
}

static void serve_on_open(uv_fs_t* req) {
  ServeConn* c = static_cast<ServeConn*>(req->data);
  ssize_t r = req->result;
  uv_fs_req_cleanup(req);
  c->fs_busy = false;
  if (r >= 0) c->fd = static_cast<uv_file>(r);
  if (c->state == SERVE_CLOSING) {
    serve_maybe_free(c);
    return;
  }
  std::string why;
  if (!serve_same_file(r >= 0 ? c->fd : static_cast<int>(r), c->seed_file, &why)) {
    serve_close(c);  // seed form has no error answer: the client sees no data
    serve_refused(c->srv, c->seed_name, why);
    return;
  }
  c->state = SERVE_STREAMING;
  c->buf[0] = new char[kXferChunk];
  c->buf[1] = new char[kXferChunk];
  uv_timer_start(&c->timer, serve_on_timer, kServeStallMs, 0);
  serve_pump(c);
}

// A complete first line that is a JSON object: the extended form.
static bool is_json_line(const char* data, size_t len) {
  const char* nl = static_cast<const char*>(memchr(data, '\n', len));
  if (len == 0 || data[0] != '{' || nl == nullptr) return false;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(data, static_cast<size_t>(nl - data));
  return !d.HasParseError() && d.IsObject();
}

XferRequestKind xfer_parse_request(const char* data, size_t len, bool complete, std::string* name) {
  // '{' starts the extended form, but also a valid name such as "{notes}.txt":
  // only a whole line of JSON is taken for the extended form.
  if (is_json_line(data, len)) return XREQ_EXTENDED;
  if (len > kMaxSeedRequest) return data[0] == '{' && !complete ? XREQ_NEED_MORE : XREQ_INVALID;
  size_t n = len;
  bool terminated = false;
  while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r')) {
    n--;
    terminated = true;
  }
  complete = complete || terminated;
  std::string why;
  // An invalid prefix may still become valid (a UTF-8 sequence split in two).
  if (proto_check_name(data, n, &why) != 0) return complete ? XREQ_INVALID : XREQ_NEED_MORE;
  name->assign(data, n);
  return complete ? XREQ_SEED : XREQ_PARTIAL;
}

/* ---- extended form: request lines, answer lines (+ piece bytes), events ---- */

static void ext_pump(ServeConn* c);
static void serve_alloc(uv_handle_t* h, size_t, uv_buf_t* buf);
static void serve_on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);

// An answer is all out: on to pushed events and the next request.
static void ext_answer_done(ServeConn* c) {
  if (c->has_slot) slot_release(c);
  c->ext_busy = false;
  c->sf_off = c->sf_end = 0;
  if (c->last_answer) {
    serve_close(c);
    return;
  }
  if (c->events_out) c->idle_ms = uv_now(c->srv->loop);  // pushed events: the idle time restarts
  c->events_out = false;
  uv_timer_start(&c->timer, serve_on_timer, kServeStallMs, 0);
  if (!c->in_pump) ext_pump(c);  // otherwise the pump's loop goes on
}

static void ext_sendfile(ServeConn* c);

static void ext_on_writable(uv_poll_t* h, int status, int) {
  ServeConn* c = static_cast<ServeConn*>(h->data);
  uv_poll_stop(h);
  if (c->state == SERVE_CLOSING) return;
  if (status < 0) {
    serve_close(c);
    return;
  }
  ext_sendfile(c);
}

// Threadpool: as many piece bytes as the socket takes now, up to sf_limit.
static void ext_sendfile_work(uv_work_t* w) {
  ServeConn* c = static_cast<ServeConn*>(w->data);
  c->sf_err = 0;
  c->sf_sent = 0;
  int64_t end = c->sf_limit > 0 ? std::min(c->sf_end, c->sf_off + c->sf_limit) : c->sf_end;
  while (c->sf_off < end) {
    off_t off = static_cast<off_t>(c->sf_off);
    ssize_t n = sendfile(c->wfd, c->fd, &off, static_cast<size_t>(end - c->sf_off));
    if (n > 0) {
      c->sf_off += n;
      c->sf_sent += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c->sf_err = UV_EAGAIN;
      return;
    }
    c->sf_err = n < 0 ? -errno : UV_EIO;  // 0: the file is shorter than its manifest says
    return;
  }
}

static void ext_sendfile_done(uv_work_t* w, int status) {
  ServeConn* c = static_cast<ServeConn*>(w->data);
  c->sf_busy = false;
  if (c->state == SERVE_CLOSING) {
    serve_maybe_free(c);
    return;
  }
  XferServer* s = c->srv;
  if (c->sf_sent > 0) {
    c->bytes_out += static_cast<uint64_t>(c->sf_sent);
    uv_timer_start(&c->timer, serve_on_timer, kServeStallMs, 0);
    c->slot_moved += static_cast<uint64_t>(c->sf_sent);  // counted at the slot timer
  }
  if (c->sf_limit > c->sf_sent)  // tokens taken for bytes the socket did not take
    gate_refund(s->upload, static_cast<uint64_t>(c->sf_limit - c->sf_sent));
  if (status == 0 && c->sf_err == UV_EAGAIN) {
    if (uv_poll_start(&c->wpoll, UV_WRITABLE, ext_on_writable) != 0) serve_close(c);
    return;
  }
  // The header promised bytes we cannot send: only closing says so now.
  if (status != 0 || c->sf_err != 0) {
    serve_close(c);
    return;
  }
  if (c->sf_off < c->sf_end) {  // the rate limit's share was sent: the rest in turn
    ext_sendfile(c);
    return;
  }
  ext_answer_done(c);
}

static void ext_on_gate(void* ctx) {
  ext_sendfile(static_cast<ServeConn*>(ctx));
}

static void ext_sendfile(ServeConn* c) {
  XferServer* s = c->srv;
  c->sf_limit = 0;
  if (gate_limited(s->upload)) {
    // Limited: a chunk at a time, each waiting its turn for tokens.
    uint64_t want = std::min<uint64_t>(kRateChunk, static_cast<uint64_t>(c->sf_end - c->sf_off));
    uint64_t avail = gate_available(s->upload);
    if (avail < want) {
      gate_wait(s->upload, want, ext_on_gate, c);
      return;
    }
    c->sf_limit = static_cast<int64_t>(want);
    gate_spend(s->upload, want);  // taken now, so that other connections wait their turn
  }
  c->sf_work.data = c;
  if (uv_queue_work(s->loop, &c->sf_work, ext_sendfile_work, ext_sendfile_done) != 0) {
    serve_close(c);
    return;
  }
  c->sf_busy = true;
}

// The header is out: the piece bytes follow, if any.
static void ext_head_done(ServeConn* c) {
  if (c->sf_off < c->sf_end)
    ext_sendfile(c);
  else
    ext_answer_done(c);
}

static void ext_on_written(uv_write_t* req, int status) {
  ServeConn* c = static_cast<ServeConn*>(req->data);
  if (serve_write_ended(c, status)) ext_head_done(c);
}

// Sends c->ext_head (answer and event lines), then the piece bytes in
// [sf_off, sf_end). What the socket takes at once goes now; the rest through
// uv_write.
static void ext_send(ServeConn* c) {
  c->ext_busy = true;
  uv_stream_t* st = reinterpret_cast<uv_stream_t*>(&c->tcp);
  uv_buf_t b = uv_buf_init(&c->ext_head[0], static_cast<unsigned>(c->ext_head.size()));
  int n = uv_try_write(st, &b, 1);
  if (n == static_cast<int>(b.len)) {
    ext_head_done(c);
    return;
  }
  c->head_sent = n > 0 ? static_cast<size_t>(n) : 0;
  b = uv_buf_init(&c->ext_head[c->head_sent], static_cast<unsigned>(b.len - c->head_sent));
  c->write_req.data = c;
  if (uv_write(&c->write_req, st, &b, 1, ext_on_written) != 0) {
    serve_close(c);
    return;
  }
  c->writing = true;
}

static void ext_error(ServeConn* c, const std::string& message) {
  c->ext_head.clear();
  wire_encode_error(message, &c->ext_head);
  c->sf_off = c->sf_end = 0;
  ext_send(c);
}

// The socket, duplicated for sendfile, and the handle that waits for it to drain.
static int ext_open_wfd(ServeConn* c) {
  if (c->wfd >= 0) return 0;
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) != 0) return -1;
  c->wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (c->wfd < 0) return -1;
  if (uv_poll_init_socket(c->srv->loop, &c->wpoll, c->wfd) != 0) {
    close(c->wfd);
    c->wfd = -1;
    return -1;
  }
  c->wpoll.data = c;
  c->wpoll_open = true;
  c->open_handles++;
  return 0;
}

// Opens (or keeps) the file a piece comes from. A plain open: it is one metadata
// call, O_NONBLOCK keeps a FIFO from blocking it, and it must be the file that
// was shared (*why says otherwise).
static int ext_open(ServeConn* c, const XferFile& f, std::string* why) {
  if (c->fd >= 0 && c->ext_path == f.path && c->ext_dev == f.dev && c->ext_ino == f.ino) return 0;
  if (c->fd >= 0) close(c->fd);
  c->fd = open(f.path.c_str(), serve_open_flags(f));
  c->ext_path = f.path;
  c->ext_dev = f.dev;
  c->ext_ino = f.ino;
  if (!serve_same_file(c->fd >= 0 ? c->fd : -errno, f, why)) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
  }
  return c->fd >= 0 ? 0 : -1;
}

int serve_choose_piece(const std::vector<uint8_t>& want, const std::vector<uint8_t>* have,
                       const std::vector<uint32_t>& sent, uint32_t asked) {
  size_t n = want.size();
  int best = -1;
  for (size_t k = 0; k < n; k++) {
    size_t j = (asked + k) % n;  // from the asked piece on: it wins ties
    if (!want[j] || (have != nullptr && (j >= have->size() || !(*have)[j]))) continue;
    uint32_t sj = j < sent.size() ? sent[j] : 0;
    if (best < 0 || sj < (static_cast<size_t>(best) < sent.size() ? sent[best] : 0))
      best = static_cast<int>(j);
  }
  return best;
}

static void ext_manifest(ServeConn* c, const WireRequest&, const XferFile& file) {
  c->ext_head.clear();
  wire_encode_manifest_answer(*file.manifest, &c->ext_head);
  ext_send(c);
}

static void ext_have(ServeConn* c, const WireRequest& r, const XferFile& file) {
  size_t count = manifest_piece_count(*file.manifest);
  std::vector<uint8_t> all;
  if (file.have == nullptr) all.assign(count, 1);
  // Watching: every piece verified from now on is pushed (xfer_server_have).
  if (r.watch) c->watch = r.file;
  c->ext_head.clear();
  wire_encode_have_answer(wire_bitfield_hex(file.have ? *file.have : all, count), &c->ext_head);
  ext_send(c);
}

// Whether another connection asked for a piece of the same file lately.
static bool serve_crowded(const ServeConn* c, const std::string& path) {
  uint64_t now = uv_now(c->srv->loop);
  for (const ServeConn* o : c->srv->conns) {
    if (o != c && o->piece_ms + kCrowdMs >= now && o->piece_ms > 0 && o->piece_path == path)
      return true;
  }
  return false;
}

static void ext_piece(ServeConn* c, const WireRequest& r, const XferFile& file) {
  const Manifest& m = *file.manifest;
  size_t count = manifest_piece_count(m);
  if (r.index >= count)
    return ext_error(c, "field 'index' must be a piece number below " + std::to_string(count));
  std::vector<uint32_t>& sent = c->srv->sent[file.path];
  if (sent.size() != count) sent.assign(count, 0);
  uint32_t i = r.index;
  if (!r.want.empty()) {
    std::vector<uint8_t> want;
    if (wire_bitfield_parse(r.want, count, &want) != 0)
      return ext_error(
          c, "field 'want' must be a bitfield of " + std::to_string(count) + " pieces in hex");
    want[i] = 1;
    // Only while others fetch this file too: a downloader alone gets the
    // piece it asked for (its pieces then come in file order, and written
    // together), whatever this server sent before.
    if (serve_crowded(c, file.path)) {
      int j = serve_choose_piece(want, file.have, sent, i);
      if (j >= 0) i = static_cast<uint32_t>(j);
    }
  }
  c->piece_path = file.path;
  c->piece_ms = uv_now(c->srv->loop);
  c->upload_name = r.file;
  if (file.have != nullptr && (i >= file.have->size() || !(*file.have)[i]))
    return ext_error(c, "piece " + std::to_string(i) + " is not here yet");
  std::string why;
  if (ext_open(c, file, &why) != 0) {
    if (why.empty()) return ext_error(c, "cannot open " + out_sanitize(r.file));
    serve_refused(c->srv, r.file, why);
    return ext_error(c, "refused: " + out_sanitize(r.file) +
                            " has changed since it was shared (not served until shared again)");
  }
  if (ext_open_wfd(c) != 0) return ext_error(c, "cannot send piece " + std::to_string(i));
  sent[i]++;
  uint32_t len = manifest_piece_length(m, i);
  c->sf_off = static_cast<int64_t>(i) * m.piece_size;
  c->sf_end = c->sf_off + len;
  c->ext_head.clear();
  wire_encode_piece_header(i, len, &c->ext_head);
  ext_send(c);
}

// The extended form's actions (wire.h decodes which one a line asks for).
static const struct {
  WireAction action;
  void (*handle)(ServeConn* c, const WireRequest& r, const XferFile& file);
} kExtActions[] = {
    {WIRE_MANIFEST, ext_manifest},
    {WIRE_HAVE, ext_have},
    {WIRE_PIECE, ext_piece},
};

// Runs a decoded request: looks its file up and calls its action's handler.
static void ext_run(ServeConn* c, const WireRequest& r) {
  XferFile file;
  if (c->srv->lookup(c->srv->ctx, r.file, &file) != 0)
    return ext_error(c, "no such file: " + out_sanitize(r.file));
  if (file.manifest == nullptr)
    return ext_error(c, "not ready: " + out_sanitize(r.file) + " is still being hashed");
  c->sf_off = c->sf_end = 0;
  for (const auto& a : kExtActions) {
    if (a.action == r.action) return a.handle(c, r, file);
  }
  ext_error(c, "unknown action");
}

/* ---- upload slots ------------------------------------------------------------ */

// Piece answers are sent kUploadSlots at a time, so that each goes out at a
// good share of the uplink: a piece reaches its downloader (who can then pass
// it on) in a fraction of the time it takes when every connection sends at
// once, and a seeder's last pieces are not stuck in starved streams. A request
// that finds no free slot waits its turn (ext_busy holds the connection's
// later requests); its piece is chosen only when it gets one. A slot whose
// answer has moved less than kSlotMinBytes in kSlotHoldMs while others wait is
// taken back (the answer goes on without it), so that neither stalled
// downloaders nor ones reading a trickle can hold the uplink. A freed slot goes
// to the first waiter of the address holding fewest slots (serve_pick_waiter).

size_t serve_pick_waiter(const std::vector<uint32_t>& waiting,
                         const std::vector<uint32_t>& holding) {
  size_t best = 0, best_held = SIZE_MAX;
  for (size_t k = 0; k < waiting.size(); k++) {
    size_t held = static_cast<size_t>(std::count(holding.begin(), holding.end(), waiting[k]));
    if (held < best_held) {
      best = k;
      best_held = held;
    }
  }
  return best;
}

static void slot_wake(XferServer* s);

static void slot_release(ServeConn* c) {
  c->has_slot = false;
  c->srv->sending--;
  slot_wake(c->srv);
}

static void slot_take(ServeConn* c) {
  c->has_slot = true;
  c->slot_ms = uv_now(c->srv->loop);
  c->slot_moved = 0;
  c->srv->sending++;
}

static void slot_on_timer(uv_timer_t* t) {
  XferServer* s = static_cast<XferServer*>(t->data);
  uint64_t now = uv_now(s->loop);
  std::vector<ServeConn*> stale;
  for (ServeConn* c : s->conns) {
    if (!c->has_slot || now - c->slot_ms < kSlotHoldMs) continue;
    if (c->slot_moved < kSlotMinBytes) {
      stale.push_back(c);
    } else {  // it moved enough: it keeps its slot for another window
      c->slot_ms = now;
      c->slot_moved = 0;
    }
  }
  for (ServeConn* c : stale) {
    c->has_slot = false;
    s->sending--;
  }
  slot_wake(s);
}

static void slot_wake(XferServer* s) {
  if (s->closing) return;  // every connection is being closed
  while (s->sending < kUploadSlots && !s->slot_queue.empty()) {
    std::vector<uint32_t> waiting, holding;
    for (const ServeConn* w : s->slot_queue)
      waiting.push_back(w->ip);
    for (const ServeConn* h : s->conns)
      if (h->has_slot) holding.push_back(h->ip);
    size_t k = serve_pick_waiter(waiting, holding);
    ServeConn* c = s->slot_queue[k];
    s->slot_queue.erase(s->slot_queue.begin() + static_cast<std::ptrdiff_t>(k));
    c->slot_waiting = false;
    slot_take(c);
    WireRequest r = std::move(c->slot_req);
    ext_run(c, r);
  }
  if (!s->slot_timer_open) return;
  if (s->slot_queue.empty())
    uv_timer_stop(&s->slot_timer);
  else if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&s->slot_timer)))
    uv_timer_start(&s->slot_timer, slot_on_timer, kSlotHoldMs, kSlotHoldMs);
}

static void ext_handle(ServeConn* c, const std::string& line) {
  c->idle = false;  // a request in flight: the stall limit, not the idle time
  uv_timer_start(&c->timer, serve_on_timer, kServeStallMs, 0);
  WireRequest r;
  std::string why;
  if (wire_decode_request(line.data(), line.size(), &r, &why) != 0) return ext_error(c, why);
  if (r.action == WIRE_PIECE) {
    XferServer* s = c->srv;
    if (s->sending >= kUploadSlots) {  // wait for a slot, in turn
      c->ext_busy = true;
      c->slot_waiting = true;
      c->slot_req = std::move(r);
      s->slot_queue.push_back(c);
      slot_wake(s);  // arms the timer
      return;
    }
    slot_take(c);
  }
  ext_run(c, r);
}

static void ext_pump_lines(ServeConn* c);

// How long a connection with no request in flight is kept: shorter while the
// table is more than 3/4 full.
static uint64_t serve_idle_limit(const XferServer* s) {
  return s->live > kMaxServeConns / 4 * 3 ? kServeIdleScarceMs : kServeIdleMs;
}

static void ext_pump(ServeConn* c) {
  if (c->in_pump) return;
  c->in_pump = true;
  ext_pump_lines(c);
  c->in_pump = false;
}

// Sends pushed events, then answers the buffered request lines, in order,
// until one has to wait.
static void ext_pump_lines(ServeConn* c) {
  while (c->state == SERVE_EXTENDED && !c->ext_busy) {
    if (!c->events.empty()) {
      c->ext_head.swap(c->events);
      c->events.clear();
      c->sf_off = c->sf_end = 0;
      c->events_out = true;
      ext_send(c);
      continue;
    }
    size_t nl = c->request.find('\n');
    if ((nl == std::string::npos ? c->request.size() : nl) > kMaxExtendedLine) {
      c->last_answer = true;  // the stream cannot be resynchronised: say why, then close
      ext_error(c, "request line longer than " + std::to_string(kMaxExtendedLine) + " bytes");
      return;
    }
    if (nl == std::string::npos) {
      if (c->peer_eof) {
        serve_close(c);  // the client has said all it will, and had all its answers
        return;
      }
      XferServer* s = c->srv;
      uint64_t now = uv_now(s->loop);
      if (!c->idle) {
        c->idle = true;
        c->idle_ms = now;
      }
      // Idle: closed when the idle time runs out (partial lines do not restart it).
      uint64_t limit = serve_idle_limit(s);
      uint64_t spent = now - c->idle_ms;
      uv_timer_start(&c->timer, serve_on_timer, spent < limit ? limit - spent : 1, 0);
      // Room again for requests: read on (reading stops while too much is waiting).
      uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), serve_alloc, serve_on_read);
      return;
    }
    std::string line = c->request.substr(0, nl);
    c->request.erase(0, nl + 1);
    ext_handle(c, line);
  }
}

void xfer_server_have(XferServer* s, const std::string& name, uint32_t index) {
  std::vector<ServeConn*> told;
  for (ServeConn* c : s->conns) {
    if (c->state != SERVE_EXTENDED || c->watch != name) continue;
    wire_encode_have_event(index, &c->events);
    // A downloader that reads none of them is not kept for ever.
    if (c->events.size() > kMaxExtendedBuffered) {
      serve_close(c);
      continue;
    }
    told.push_back(c);
  }
  for (ServeConn* c : told)
    ext_pump(c);
}

// Acts on what the request asks for so far. Returns true when it is settled.
static bool serve_try_request(ServeConn* c, bool complete) {
  std::string name;
  XferRequestKind kind = xfer_parse_request(c->request.data(), c->request.size(), complete, &name);
  bool named = kind == XREQ_SEED || kind == XREQ_PARTIAL;
  XferFile file;
  // The seed form sends whole files only: a partial copy is not served this way.
  if (named && c->srv->lookup(c->srv->ctx, name, &file) == 0 && file.have == nullptr) {
    c->state = SERVE_OPENING;
    c->idle = false;
    c->seed_file = file;
    c->seed_file.manifest = nullptr;  // valid only during the lookup
    c->seed_name = name;
    c->upload_name = name;
    c->fs_req.data = c;
    if (uv_fs_open(c->srv->loop, &c->fs_req, file.path.c_str(), serve_open_flags(file), 0,
                   serve_on_open) != 0) {
      serve_close(c);
      return true;
    }
    c->fs_busy = true;
    return true;
  }
  if (kind == XREQ_EXTENDED) {
    c->state = SERVE_EXTENDED;
    c->idle = false;  // the first request line is there
    uv_timer_start(&c->timer, serve_on_timer, kServeStallMs, 0);
    ext_pump(c);
    return true;
  }
  // Not a name we serve: close without data, as the seed form allows nothing else.
  if (kind == XREQ_SEED || kind == XREQ_INVALID) {
    serve_close(c);
    return true;
  }
  return false;
}

static void serve_on_request_timer(uv_timer_t* t) {
  ServeConn* c = static_cast<ServeConn*>(t->data);
  if (c->state == SERVE_REQUEST && !serve_try_request(c, true)) serve_close(c);
}

static void serve_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  ServeConn* c = static_cast<ServeConn*>(h->data);
  buf->base = c->rbuf;
  buf->len = sizeof c->rbuf;
}

static void serve_on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  ServeConn* c = static_cast<ServeConn*>(s->data);
  if (nread == 0 || c->state == SERVE_CLOSING) return;
  if (nread < 0) {
    if (nread != UV_EOF || c->state == SERVE_DRAINING ||
        (c->state == SERVE_REQUEST && c->request.empty())) {
      serve_close(c);
      return;
    }
    // A client may shut down its side right after its request (socat, nc -N):
    // the request is complete and the transfer goes on.
    uv_read_stop(s);
    c->peer_eof = true;
    if (c->state == SERVE_REQUEST) serve_try_request(c, true);
    if (c->state == SERVE_EXTENDED) ext_pump(c);
    return;
  }
  if (c->state == SERVE_EXTENDED) {
    // Requests may be pipelined; past a bound, stop reading until answers catch up.
    c->request.append(buf->base, static_cast<size_t>(nread));
    if (c->request.size() > kMaxExtendedBuffered) uv_read_stop(s);
    ext_pump(c);
    return;
  }
  if (c->state != SERVE_REQUEST) return;  // bytes after the request are ignored
  if (c->request.size() > kMaxExtendedLine) {
    serve_close(c);
    return;
  }
  c->request.append(buf->base, static_cast<size_t>(nread));
  serve_try_request(c, false);
}

int serve_pick_victim(const std::vector<ServeSlot>& slots, uint32_t ip, size_t max_per_ip,
                      size_t max_conns, bool* refuse) {
  std::unordered_map<uint32_t, size_t> held;
  for (const ServeSlot& o : slots)
    held[o.ip]++;
  bool ip_full = held[ip] >= max_per_ip;
  *refuse = false;
  if (!ip_full && slots.size() < max_conns) return -1;
  int best = -1;
  for (size_t k = 0; k < slots.size(); k++) {
    const ServeSlot& o = slots[k];
    if (!o.idle || (ip_full && o.ip != ip)) continue;
    if (best >= 0) {
      const ServeSlot& b = slots[static_cast<size_t>(best)];
      size_t ho = held[o.ip], hb = held[b.ip];
      if (ho < hb || (ho == hb && o.since >= b.since)) continue;
    }
    best = static_cast<int>(k);
  }
  *refuse = best < 0;
  return best;
}

// Room for the new connection c. While the table is more than 3/4 full, idle
// connections past the scarce idle time go first; then, if c's address holds
// its share or the table is full, one idle connection is closed for it (see
// serve_pick_victim). False: none could be, and c is turned away.
static bool serve_make_room(XferServer* s, ServeConn* c) {
  if (serve_idle_limit(s) == kServeIdleScarceMs) {
    uint64_t now = uv_now(s->loop);
    std::vector<ServeConn*> stale;
    for (ServeConn* o : s->conns) {
      if (o->counted && o->idle && o->state == SERVE_EXTENDED &&
          now - o->idle_ms >= kServeIdleScarceMs)
        stale.push_back(o);
    }
    for (ServeConn* o : stale)
      serve_close(o);
  }
  auto per = s->per_ip.find(c->ip);
  if (s->live < kMaxServeConns && (per == s->per_ip.end() || per->second < s->max_per_ip))
    return true;
  std::vector<ServeSlot> slots;
  std::vector<ServeConn*> owners;
  for (ServeConn* o : s->conns) {
    if (!o->counted) continue;  // closing
    ServeSlot sl;
    sl.ip = o->ip;
    sl.idle = o->idle;
    sl.since = o->idle_ms;
    slots.push_back(sl);
    owners.push_back(o);
  }
  bool refuse = false;
  int k = serve_pick_victim(slots, c->ip, s->max_per_ip, kMaxServeConns, &refuse);
  if (k >= 0) serve_close(owners[static_cast<size_t>(k)]);
  return !refuse;
}

static void serve_on_connection(uv_stream_t* server, int status) {
  XferServer* s = static_cast<XferServer*>(server->data);
  if (status < 0 || s->closing) return;
  ServeConn* c = new ServeConn;
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  uv_timer_init(s->loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 2;
  c->started_ms = uv_now(s->loop);
  s->conns.insert(c);
  s->open++;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    serve_close(c);
    return;
  }
  c->ip = net_peer_ipv4(&c->tcp);
  c->idle_ms = uv_now(s->loop);
  if (!serve_make_room(s, c)) {
    serve_close(c);  // its address holds its share, all busy: this one is turned away
    return;
  }
  c->counted = true;
  s->live++;
  s->per_ip[c->ip]++;
  uv_tcp_nodelay(&c->tcp, 1);
  // Little unsent data may wait in the socket: a piece counts as sent (and its
  // upload slot frees) when it has left, not when the kernel has buffered it.
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0) {
    int lowat = static_cast<int>(kNotSentLowat);
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
  }
  uv_timer_start(&c->timer, serve_on_request_timer, kSeedNameWaitMs, 0);
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), serve_alloc, serve_on_read) != 0)
    serve_close(c);
}

int xfer_server_start(XferServer* s, uv_loop_t* loop, const std::string& host, int port) {
  s->loop = loop;
  struct sockaddr_in addr;
  int r = uv_ip4_addr(host.c_str(), port, &addr);
  if (r != 0) return r;
  if ((r = uv_tcp_init(loop, &s->listener)) != 0) return r;
  s->listener.data = s;
  s->listening = true;
  s->open = 1;
  if ((r = uv_timer_init(loop, &s->slot_timer)) != 0) return r;
  s->slot_timer.data = s;
  s->slot_timer_open = true;
  s->open++;
  if ((r = uv_tcp_bind(&s->listener, reinterpret_cast<const struct sockaddr*>(&addr), 0)) != 0)
    return r;
  if ((r = uv_listen(reinterpret_cast<uv_stream_t*>(&s->listener), kTcpBacklog,
                     serve_on_connection)) != 0)
    return r;
  struct sockaddr_in bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&s->listener, reinterpret_cast<struct sockaddr*>(&bound), &len);
  s->port = ntohs(bound.sin_port);
  return 0;
}

void xfer_server_close(XferServer* s, void (*on_closed)(void* ctx)) {
  if (s->closing) return;
  s->closing = true;
  s->on_closed = on_closed;
  if (s->open == 0) {
    if (on_closed != nullptr) on_closed(s->ctx);
    return;
  }
  std::unordered_set<ServeConn*> conns = s->conns;
  for (ServeConn* c : conns)
    serve_close(c);
  if (s->listening) {
    uv_close(reinterpret_cast<uv_handle_t*>(&s->listener), [](uv_handle_t* h) {
      XferServer* srv = static_cast<XferServer*>(h->data);
      if (--srv->open == 0 && srv->on_closed != nullptr) srv->on_closed(srv->ctx);
    });
  }
  if (s->slot_timer_open) {
    s->slot_timer_open = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&s->slot_timer), [](uv_handle_t* h) {
      XferServer* srv = static_cast<XferServer*>(h->data);
      if (--srv->open == 0 && srv->on_closed != nullptr) srv->on_closed(srv->ctx);
    });
  }
}

void serve_status(const XferServer* s, std::vector<ServeUpload>* out) {
  out->clear();
  uint64_t now = uv_now(s->loop);
  for (const ServeConn* c : s->conns) {
    if (c->state == SERVE_CLOSING || c->upload_name.empty()) continue;
    ServeUpload u;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, reinterpret_cast<struct sockaddr*>(&ss), &len) == 0 &&
        ss.ss_family == AF_INET) {
      const struct sockaddr_in* a = reinterpret_cast<const struct sockaddr_in*>(&ss);
      char ip[16];
      uv_ip4_name(a, ip, sizeof ip);
      u.addr = std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
    } else {
      u.addr = "?";
    }
    u.name = c->upload_name;
    u.bytes = c->bytes_out;
    u.elapsed_ms = now - c->started_ms;
    out->push_back(std::move(u));
  }
}
