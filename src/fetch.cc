// Fetching a whole file in the seed form (PROTOCOL §2) from one source. See fetch.h.
//
// The source sends the file and closes. Fetching stops reading the socket while
// a chunk is being written to disk: the sender is slowed by TCP instead of
// filling our memory. The file is written to a temporary file, hashed, checked
// against the content id when one is known, and linked into place.
#include "fetch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "limits.h"
#include "manifest.h"
#include "place.h"

static void fetch_maybe_done(Fetch* f) {
  if (f->open_handles > 0 || f->fs_busy || f->done_called) return;
  f->done_called = true;
  delete[] f->buf;
  f->buf = nullptr;
  f->opt.done(f->opt.ctx, f->status, f->error, f->received);
}

static void fetch_on_handle_closed(uv_handle_t* h) {
  Fetch* f = static_cast<Fetch*>(h->data);
  f->open_handles--;
  fetch_maybe_done(f);
}

static void fetch_close_fd(Fetch* f) {
  if (f->fd < 0) return;
  uv_fs_t req;
  uv_fs_close(nullptr, &req, f->fd, nullptr);
  uv_fs_req_cleanup(&req);
  f->fd = -1;
}

// Ends the fetch: closes everything, removes the temporary file, and reports
// once the last callback is in. status 0 means the final file is in place.
static void fetch_end(Fetch* f, int status, const std::string& err) {
  if (f->failed) return;
  f->failed = true;
  gate_forget(f->opt.download, f);
  f->status = status;
  f->error = err;
  uv_handle_t* hs[2] = {reinterpret_cast<uv_handle_t*>(&f->tcp),
                        reinterpret_cast<uv_handle_t*>(&f->timer)};
  for (uv_handle_t* h : hs) {
    if (!uv_is_closing(h)) uv_close(h, fetch_on_handle_closed);
  }
  if (!f->fs_busy) {
    fetch_close_fd(f);
    if (!f->tmp_path.empty()) {
      // A synchronous unlink: it is one metadata call, and it must happen even if
      // the loop is about to stop.
      uv_fs_t req;
      uv_fs_unlink(nullptr, &req, f->tmp_path.c_str(), nullptr);
      uv_fs_req_cleanup(&req);
      f->tmp_path.clear();
    }
  }
  fetch_maybe_done(f);
}

static void fetch_fail(Fetch* f, int status, const std::string& err) {
  fetch_end(f, status, err);
}

// A callback of an fs request that finds the fetch already ended finishes the cleanup.
static bool fetch_fs_returned(Fetch* f) {
  f->fs_busy = false;
  if (!f->failed) return false;
  f->failed = false;  // let fetch_end run its cleanup now that the fs request is back
  fetch_end(f, f->status, f->error);
  return true;
}

static void fetch_on_timer(uv_timer_t* t) {
  Fetch* f = static_cast<Fetch*>(t->data);
  fetch_fail(f, UV_ETIMEDOUT,
             f->received == 0 ? "no data from the source" : "the source stopped sending");
}

static void fetch_on_placed(void* ctx, int status, const std::string& err) {
  Fetch* f = static_cast<Fetch*>(ctx);
  if (status == 0) {
    // The complete file is in place: that stands even if a cancel came meanwhile.
    f->tmp_path.clear();  // placing removed the temporary name
    f->fs_busy = false;
    f->failed = false;
    fetch_end(f, 0, "");
    return;
  }
  if (fetch_fs_returned(f)) return;
  fetch_fail(f, status, err);
}

static void fetch_on_hashed(void* ctx, int status, const Manifest* m, const std::string& err) {
  Fetch* f = static_cast<Fetch*>(ctx);
  if (fetch_fs_returned(f)) return;
  if (status != 0) {
    fetch_fail(f, status, "cannot hash the download: " + err);
    return;
  }
  if (!f->opt.expect_id.empty() && m->id != f->opt.expect_id) {
    fetch_fail(f, UV_EPROTO,
               "the content does not match the id the tracker announced (" +
                   f->opt.expect_id.substr(0, 12) + "...)");
    return;
  }
  f->manifest = *m;
  f->manifest.name = f->opt.name;
  int r = place_download(f->loop, PlaceFile{f->tmp_path, f->final_path, f->opt.name},
                         fetch_on_placed, f);
  if (r != 0) {
    fetch_fail(f, r, std::string("cannot move the download into place: ") + uv_strerror(r));
    return;
  }
  f->fs_busy = true;
}

static void fetch_finish_file(Fetch* f) {
  if (f->received == 0) {
    fetch_fail(f, UV_EPROTO, "the source sent no data (it may not have the file)");
    return;
  }
  fetch_close_fd(f);
  // Hash what arrived (on the threadpool): it is checked against the content id
  // the tracker announced, and the manifest lets this peer serve it in pieces.
  int r = manifest_hash_start(f->loop, f->tmp_path, fetch_on_hashed, f);
  if (r != 0) {
    fetch_fail(f, r, std::string("cannot hash the download: ") + uv_strerror(r));
    return;
  }
  f->fs_busy = true;
}

static void fetch_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Fetch* f = static_cast<Fetch*>(h->data);
  buf->base = f->buf;
  buf->len = kXferChunk;
  // Under a download limit a read takes no more than the tokens there are.
  if (gate_limited(f->opt.download)) {
    uint64_t room =
        std::max<uint64_t>(std::min<uint64_t>(gate_available(f->opt.download), kRateChunk), 4096);
    if (buf->len > room) buf->len = static_cast<size_t>(room);
  }
}

static void fetch_on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);

static void fetch_write_chunk(Fetch* f);
static void fetch_on_gate(void* ctx);

static void fetch_on_written(uv_fs_t* req) {
  Fetch* f = static_cast<Fetch*>(req->data);
  ssize_t r = req->result;
  uv_fs_req_cleanup(req);
  if (fetch_fs_returned(f)) return;
  if (r <= 0) {
    int e = r < 0 ? static_cast<int>(r) : UV_EIO;
    fetch_fail(f, e, std::string("cannot write the download: ") + uv_strerror(e));
    return;
  }
  f->received += static_cast<uint64_t>(r);
  f->chunk_done += static_cast<size_t>(r);
  if (f->chunk_done < f->chunk_len) {  // a short write: the rest goes next
    fetch_write_chunk(f);
    return;
  }
  uv_timer_start(&f->timer, fetch_on_timer, f->opt.stall_ms, 0);
  gate_spend(f->opt.download, f->chunk_len);
  if (gate_limited(f->opt.download) && gate_available(f->opt.download) == 0) {
    // Over the download limit: the next read waits for its tokens.
    f->gate_wait = true;
    rate_floor_reset(&f->floor);  // the rate floor measures the source, not our limit
    uv_timer_stop(&f->timer);     // waiting for our own tokens is not the source stalling
    gate_wait(f->opt.download, kRateChunk, fetch_on_gate, f);
    return;
  }
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&f->tcp), fetch_alloc, fetch_on_read) != 0)
    fetch_fail(f, UV_EIO, "lost the connection to the source");
}

static void fetch_on_gate(void* ctx) {
  Fetch* f = static_cast<Fetch*>(ctx);
  f->gate_wait = false;
  if (f->failed) return;
  uv_timer_start(&f->timer, fetch_on_timer, f->opt.stall_ms, 0);
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&f->tcp), fetch_alloc, fetch_on_read) != 0)
    fetch_fail(f, UV_EIO, "lost the connection to the source");
}

static void fetch_write_chunk(Fetch* f) {
  uv_buf_t b =
      uv_buf_init(f->buf + f->chunk_done, static_cast<unsigned>(f->chunk_len - f->chunk_done));
  f->fs_req.data = f;
  int r = uv_fs_write(f->loop, &f->fs_req, f->fd, &b, 1, static_cast<int64_t>(f->received),
                      fetch_on_written);
  if (r != 0) {
    fetch_fail(f, r, std::string("cannot write the download: ") + uv_strerror(r));
    return;
  }
  f->fs_busy = true;
}

// The rate floor (RateFloor): fails a fetch whose source drips. Returns true
// when it failed the fetch.
static bool fetch_below_floor(Fetch* f, uint64_t bytes) {
  std::string why;
  if (!rate_floor_below(&f->floor, bytes, uv_now(f->loop), &why)) return false;
  fetch_fail(f, UV_ETIMEDOUT, "the source " + why);
  return true;
}

// The most bytes the source may send: the announced size, or without one the
// --max-unverified-size limit (0: none).
static bool fetch_over_size(Fetch* f, uint64_t more) {
  uint64_t total = f->received + more;
  if (f->opt.expect_size >= 0) {
    if (total <= static_cast<uint64_t>(f->opt.expect_size)) return false;
    fetch_fail(f, UV_EFBIG,
               "the source sent more than the " + std::to_string(f->opt.expect_size) +
                   " bytes the tracker announced");
    return true;
  }
  if (f->opt.max_unverified == 0 || total <= f->opt.max_unverified) return false;
  fetch_fail(f, UV_EFBIG,
             "the source sent more than " + std::to_string(f->opt.max_unverified) +
                 " bytes, the --max-unverified-size limit for a file the tracker gave no size "
                 "for (raise it to fetch a larger file)");
  return true;
}

static void fetch_on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  Fetch* f = static_cast<Fetch*>(s->data);
  if (nread == 0 || f->failed) return;
  if (nread == UV_EOF) {
    uv_read_stop(s);
    if (f->opt.expect_size >= 0 && f->received != static_cast<uint64_t>(f->opt.expect_size) &&
        f->received > 0) {
      fetch_fail(f, UV_EPROTO,
                 "the source sent " + std::to_string(f->received) + " of the " +
                     std::to_string(f->opt.expect_size) + " bytes the tracker announced");
      return;
    }
    fetch_finish_file(f);
    return;
  }
  if (nread < 0) {
    fetch_fail(
        f, static_cast<int>(nread),
        std::string("connection to the source failed: ") + uv_strerror(static_cast<int>(nread)));
    return;
  }
  if (fetch_over_size(f, static_cast<uint64_t>(nread))) return;
  if (fetch_below_floor(f, static_cast<uint64_t>(nread))) return;
  // One chunk at a time: stop reading until it is on disk.
  uv_read_stop(s);
  (void)buf;  // it is f->buf
  f->chunk_len = static_cast<size_t>(nread);
  f->chunk_done = 0;
  fetch_write_chunk(f);
}

static void fetch_on_request_sent(uv_write_t* req, int status) {
  Fetch* f = static_cast<Fetch*>(req->data);
  if (status < 0 && !f->failed)
    fetch_fail(f, status, std::string("cannot send the request: ") + uv_strerror(status));
}

static void fetch_on_connect(uv_connect_t* req, int status) {
  Fetch* f = static_cast<Fetch*>(req->data);
  if (f->failed) return;
  if (status < 0) {
    fetch_fail(f, status, std::string("cannot connect: ") + uv_strerror(status));
    return;
  }
  // Seed form: the bare name in one send, no terminator.
  uv_buf_t b = uv_buf_init(&f->opt.name[0], static_cast<unsigned>(f->opt.name.size()));
  f->write_req.data = f;
  int r = uv_write(&f->write_req, reinterpret_cast<uv_stream_t*>(&f->tcp), &b, 1,
                   fetch_on_request_sent);
  if (r == 0)
    r = uv_read_start(reinterpret_cast<uv_stream_t*>(&f->tcp), fetch_alloc, fetch_on_read);
  if (r != 0) fetch_fail(f, r, std::string("cannot send the request: ") + uv_strerror(r));
}

static void fetch_on_tmp_created(uv_fs_t* req) {
  Fetch* f = static_cast<Fetch*>(req->data);
  ssize_t r = req->result;
  if (r >= 0) {
    f->fd = static_cast<uv_file>(r);
    f->tmp_path = req->path;
  }
  uv_fs_req_cleanup(req);
  if (fetch_fs_returned(f)) return;
  if (r < 0) {
    fetch_fail(f, static_cast<int>(r),
               std::string("cannot create a temporary file: ") + uv_strerror(static_cast<int>(r)));
    return;
  }
  struct sockaddr_in addr;
  int e = uv_ip4_addr(f->opt.ip.c_str(), f->opt.port, &addr);
  if (e == 0) {
    f->connect_req.data = f;
    e = uv_tcp_connect(&f->connect_req, &f->tcp, reinterpret_cast<const struct sockaddr*>(&addr),
                       fetch_on_connect);
  }
  if (e != 0) {
    fetch_fail(f, e, std::string("cannot connect: ") + uv_strerror(e));
    return;
  }
  uv_timer_start(&f->timer, fetch_on_timer, f->opt.stall_ms, 0);
}

int xfer_fetch_start(Fetch* f, uv_loop_t* loop, const FetchOptions& o, std::string* err) {
  f->opt = o;
  f->loop = loop;
  f->final_path = o.dir + "/" + o.name;
  f->floor.min_rate = o.min_rate;
  f->floor.window_ms = o.stall_ms;
  struct stat st;
  if (lstat(f->final_path.c_str(), &st) == 0) {
    *err = o.name + " already exists in " + o.dir + "; it was not overwritten";
    return UV_EEXIST;
  }
  if (o.expect_size > 0) {
    int r = place_check_space(o.dir, static_cast<uint64_t>(o.expect_size), err);
    if (r != 0) return r;
  }
  std::string tmpl = o.dir + "/.tt-dl-XXXXXX";
  f->fs_req.data = f;
  int r = uv_fs_mkstemp(loop, &f->fs_req, tmpl.c_str(), fetch_on_tmp_created);
  if (r != 0) {
    *err = std::string("cannot create a temporary file: ") + uv_strerror(r);
    return r;  // nothing was started, so nothing needs closing
  }
  f->fs_busy = true;
  f->buf = new char[kXferChunk];
  uv_tcp_init(loop, &f->tcp);
  f->tcp.data = f;
  uv_timer_init(loop, &f->timer);
  f->timer.data = f;
  f->open_handles = 2;
  return 0;
}

void xfer_fetch_cancel(Fetch* f) {
  fetch_fail(f, UV_ECANCELED, "cancelled");
}
