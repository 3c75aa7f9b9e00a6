// A verified download from many sources. See swarm.h.
//
// The steps of a download, in order (each names the function that runs it):
//  1. swarm_start: sources shuffled (one complete source first), up to max_conns
//     connections opened (swarm_connect_more).
//  2. conn_on_connect: each asks for the manifest (until one is known) and for
//     what the source has, watching (the source then pushes a have event per
//     piece it gets: conn_on_event).
//  3. conn_on_line: the first manifest that matches the content id is adopted
//     (swarm_adopt_manifest): the part file is opened and, if it existed, its
//     pieces are verified again on the threadpool; then swarm_set_ready.
//  4. conn_fill: each source is asked for pieces it has, rarest first, as many
//     as its measured rate times its round trip keeps busy (conn_depth). A
//     request names a piece and a want set (the other pieces as rare, that the
//     source may send instead: a seeder sends the one it has sent least). No
//     global cap: memory is bounded by the pieces waiting to be written.
//  5. Answers come in request order: a line, and for a piece exactly `length`
//     bytes, read straight into the piece's own buffer (conn_alloc).
//  6. piece_received: hashed on the threadpool; on_piece_hashed: a good piece
//     goes to the writers (writer_next: consecutive pieces in one pwritev,
//     O_DIRECT where the file system allows); on_pieces_written: it counts as
//     had, is reported (on_piece: the peer serves it and tells its watchers).
//  7. swarm_complete: every piece is on disk: the part file is placed
//     (place.h: mode, link, the part name removed; swarm_on_placed); swarm_maybe_report calls
//     on_done once nothing is in flight.
// A source that sends a bad piece, a wrong manifest, or nothing for stall_ms is
// dropped, and its requests go back to the pool for the others; one that has
// nothing we need is asked again what it has (conn_on_timer). A late source
// (conn_late: no piece answer for several times its own piece time) keeps its
// requests, but an idle source may be asked for those pieces too
// (swarm_check_late, pick_piece). Under a download
// limit, a connection stops reading while the RateGate has no tokens.
#include "swarm.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>

#include "limits.h"
#include "log.h"
#include "picker.h"
#include "place.h"
#include "wire.h"

enum PieceState : uint8_t { PIECE_MISSING, PIECE_VERIFYING, PIECE_HAD };
enum ExpectKind : uint8_t { EXPECT_MANIFEST, EXPECT_HAVE, EXPECT_PIECE };

struct Expect {  // an answer due
  ExpectKind kind;
  uint32_t index;              // the piece asked for
  uint64_t at_ns;              // when it was asked
  std::vector<uint32_t> want;  // the other pieces the source may send instead
};

struct SwarmConn {
  Swarm* sw = nullptr;
  int id = 0;
  ProtoSource src;
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_timer_t timer;
  int open_handles = 0;
  bool connected = false;
  bool dropped = false;
  std::deque<Expect> expect;             // answers due, in order
  std::vector<uint8_t> has;              // the source's pieces
  std::string pending_have;              // a have answer that came before the manifest
  std::vector<uint32_t> pending_events;  // have events that came before the manifest
  std::vector<uint16_t> own_wanted;      // the part of Swarm::wanted that is this source's
  std::vector<uint8_t> mine;             // while picking: the pieces it owes us already
  std::vector<uint8_t> want_bits;        // scratch: a request's want set, one byte per piece
  uint32_t cursor = 0;                   // where its next pick looks first
  bool watched = false;                  // the source pushes have events
  uint32_t nhas = 0;                     // pieces it has
  size_t inflight = 0;                   // piece requests not yet answered
  uint64_t rtt_ns = 0;                   // the quickest answer to a have or manifest
  double rate = 0;                       // bytes per second received, smoothed
  uint64_t win_ns = 0, win_bytes = 0;    // the window being measured
  bool gate_wait = false;                // reading stopped until download tokens are there
  RateFloor floor;                       // the source's rate over windows of stall_ms
  uint64_t floor_waits = 0;              // Swarm::gate_waits when its window began
  uint64_t connected_ms = 0;             // loop time it connected
  uint64_t useful_ms = 0;                // ... and last had a piece we needed
  bool sent_piece_bytes = false;         // its rate measures pieces, not just short answers
  uint64_t due_ms = 0;   // loop ms its oldest owed piece answer is due since: its last piece
                         // answer, or the request when it owed none (picker_source_late)
  std::string line;      // a header line being read
  char* body = nullptr;  // piece bytes being read
  uint32_t body_index = 0, body_len = 0, body_got = 0;
  char scratch[65536];
};

struct Swarm {
  uv_loop_t* loop = nullptr;
  SwarmOptions opt;
  SwarmCallbacks cb;
  std::string part_path, final_path;
  Manifest m;
  bool have_manifest = false;
  bool ready = false;  // resume check done: pieces may be requested
  uv_file fd = -1;
  std::vector<uint8_t> state;          // PieceState per piece
  std::vector<uint8_t> had;            // 1 when on disk (what swarm_have shows)
  std::vector<uint8_t> requested;      // sources asked for each piece now
  std::vector<uint16_t> wanted;        // requests out whose want sets hold each piece
  std::vector<uint64_t> wanted_until;  // ... until when (loop ms, kWantHoldMs after the last)
  std::vector<uint16_t> avail;         // sources that have each piece
  PickerIndex pick;                    // the pieces to choose from, by the counts above
  uint32_t pieces = 0, nhad = 0, resumed = 0;
  uint64_t received = 0;
  std::vector<SwarmConn*> conns;
  std::vector<SwarmContribution> contrib;
  size_t next_source = 0;
  int next_conn_id = 1;
  uv_file dfd = -1;              // the part file opened O_DIRECT (-1: not possible here)
  std::vector<char*> free_bufs;  // piece buffers to reuse (no fresh pages per piece)
  int pending = 0;               // pieces being hashed, waiting to be written, or being written
  std::deque<struct PieceJob*> writes;  // verified pieces waiting for a writer
  size_t writing = 0;                   // write jobs in flight
  // Pieces received and not yet on disk, at most: a limit in bytes once the
  // piece size is known, so that small pieces still make long runs to write.
  size_t max_pending = 0;
  uint32_t cursor = 0;    // a random piece: where each source's cursor starts
  bool starting = false;  // no report from inside swarm_start
  bool ending = false;
  bool finished = false;
  uint64_t last_progress = 0;  // ms: the last piece that arrived
  uint64_t gate_waits = 0;     // times a connection waited for download tokens
  uv_timer_t late_timer;       // every kLateCheckMs once ready: late sources (swarm_check_late)
  bool late_timer_open = false;
  std::vector<uint32_t> late;  // while picking: pieces that late sources owe
  int status = 0;
  std::string err;
  std::mt19937 rng{std::random_device{}()};
};

struct PieceJob {
  uv_work_t work;
  Swarm* sw;
  int conn_id;
  ProtoAddr from;
  uint32_t index;
  char* data;
  uint32_t len;
  bool ok = false;  // the hash matched
  int written = 0;  // then: 0 (on disk) or a negative error
};

static void swarm_pump(Swarm* s);
static void swarm_connect_more(Swarm* s);
static void conn_drop(SwarmConn* c, const std::string& why);
static void conn_arm_timer(SwarmConn* c);
static void swarm_end(Swarm* s, int status, const std::string& err);

std::string swarm_part_name(const std::string& cid) {
  return ".tt-part-" + cid.substr(0, 16);
}

int swarm_check_space(const std::string& dir, const std::string& cid, uint64_t size,
                      std::string* err) {
  struct stat st;
  uint64_t allocated = 0;
  if (!cid.empty() && stat((dir + "/" + swarm_part_name(cid)).c_str(), &st) == 0 &&
      S_ISREG(st.st_mode))
    allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  return place_check_space(dir, size - std::min(allocated, size), err);
}

// Piece i's state, requests or availability changed: the picker's index follows.
static void piece_touch(Swarm* s, uint32_t i) {
  picker_index_update(&s->pick, i, s->state[i] == PIECE_MISSING, s->requested[i], s->avail[i]);
}

/* ---- finishing ------------------------------------------------------------ */

static void swarm_close_fds(Swarm* s) {
  if (s->fd >= 0) close(s->fd);
  if (s->dfd >= 0) close(s->dfd);
  s->fd = s->dfd = -1;
}

// Reports once nothing is in flight: no connection, job or write.
static void swarm_maybe_report(Swarm* s) {
  if (s->starting || !s->ending || s->finished || !s->conns.empty() || s->pending > 0 ||
      s->late_timer_open)
    return;
  s->finished = true;
  swarm_close_fds(s);
  // Counted now, when the last write has landed: every verified piece is kept.
  if (s->status == UV_ETIMEDOUT || s->status == UV_ECONNABORTED)
    s->err += "; " + std::to_string(s->nhad) + " of " + std::to_string(s->pieces) +
              " pieces are kept in " + swarm_part_name(s->opt.cid) + " for the next try";
  if (s->cb.on_done != nullptr) s->cb.on_done(s->cb.ctx, s, s->status, s->err);
  for (char* b : s->free_bufs)
    free(b);
  delete s;
}

static void swarm_end(Swarm* s, int status, const std::string& err) {
  if (s->ending) return;
  s->ending = true;
  s->status = status;
  s->err = err;
  std::vector<SwarmConn*> conns = s->conns;
  for (SwarmConn* c : conns)
    conn_drop(c, "");
  if (s->late_timer_open)
    uv_close(reinterpret_cast<uv_handle_t*>(&s->late_timer), [](uv_handle_t* h) {
      Swarm* sw = static_cast<Swarm*>(h->data);
      sw->late_timer_open = false;
      swarm_maybe_report(sw);
    });
  swarm_maybe_report(s);
}

static void swarm_on_placed(void* ctx, int status, const std::string& err) {
  Swarm* s = static_cast<Swarm*>(ctx);
  s->pending--;
  s->status = status;
  s->err = err;
  if (status == UV_EEXIST) s->err += ", and the download is kept as " + swarm_part_name(s->opt.cid);
  swarm_maybe_report(s);
}

// Every piece is verified and on disk: the part file becomes the file.
static void swarm_complete(Swarm* s) {
  swarm_close_fds(s);
  s->pending++;
  swarm_end(s, 0, "");
  int r = place_download(s->loop, PlaceFile{s->part_path, s->final_path, s->opt.name},
                         swarm_on_placed, s);
  if (r != 0)
    swarm_on_placed(s, r, std::string("cannot move the download into place: ") + uv_strerror(r));
}

/* ---- pieces: verify on the threadpool, then write --------------------------- */

static SwarmContribution* contribution(Swarm* s, const ProtoAddr& a) {
  for (SwarmContribution& k : s->contrib) {
    if (k.addr.ip == a.ip && k.addr.port == a.port) return &k;
  }
  s->contrib.push_back(SwarmContribution());
  s->contrib.back().addr = a;
  return &s->contrib.back();
}

static SwarmConn* conn_by_id(Swarm* s, int id) {
  for (SwarmConn* c : s->conns) {
    if (c->id == id) return c;
  }
  return nullptr;
}

// Piece buffers are all piece_size long, aligned for O_DIRECT writes, and come
// back to a small pool. nullptr when memory is short.
static char* buf_get(Swarm* s) {
  if (s->free_bufs.empty()) {
    // piece_size is a multiple of kDirectAlign
    return static_cast<char*>(aligned_alloc(kDirectAlign, s->m.piece_size));
  }
  char* b = s->free_bufs.back();
  s->free_bufs.pop_back();
  return b;
}

static void buf_put(Swarm* s, char* b) {
  if (b == nullptr) return;
  if (s->free_bufs.size() < kPiecePool)
    s->free_bufs.push_back(b);
  else
    free(b);
}

static void piece_job_free(PieceJob* j) {
  buf_put(j->sw, j->data);
  delete j;
}

// One write: verified pieces that follow each other in the file, written with
// one pwritev from their own buffers.
struct WriteJob {
  uv_work_t work;
  Swarm* sw;
  std::vector<PieceJob*> pieces;  // consecutive indexes
  int err = 0;                    // 0: all on disk; or a negative error
};

// Runs on the threadpool. Whole pieces go through the O_DIRECT descriptor (no
// copy into the page cache: filling fresh page-cache pages can cost more than
// the rest of a download); a short last piece, or anything the file
// system refuses that way (EINVAL), through the buffered one. Returns 0 or a
// negative error.
static int pieces_write(Swarm* s, std::vector<PieceJob*>& ps) {
  bool aligned = true;
  for (const PieceJob* j : ps)
    aligned = aligned && j->len % kDirectAlign == 0;
  int fd = s->dfd >= 0 && aligned ? s->dfd : s->fd;
  struct iovec iov[kMaxWritePieces];
  size_t n = std::min(ps.size(), kMaxWritePieces);
  uint64_t total = 0;
  for (size_t k = 0; k < n; k++) {
    iov[k].iov_base = ps[k]->data;
    iov[k].iov_len = ps[k]->len;
    total += ps[k]->len;
  }
  off_t off = static_cast<off_t>(ps[0]->index) * s->m.piece_size;
  struct iovec* v = iov;
  int vn = static_cast<int>(n);
  while (total > 0) {
    ssize_t w = pwritev(fd, v, vn, off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && fd != s->fd) {
      fd = s->fd;
      continue;
    }
    if (w < 0) return -errno;
    if (w == 0) return UV_EIO;
    total -= static_cast<uint64_t>(w);
    off += w;
    // A short write: skip what is done; what is left need not stay aligned,
    // so it goes through the buffered descriptor.
    size_t left = static_cast<size_t>(w);
    while (vn > 0 && left >= v->iov_len) {
      left -= v->iov_len;
      v++;
      vn--;
    }
    if (vn > 0) {
      v->iov_base = static_cast<char*>(v->iov_base) + left;
      v->iov_len -= left;
      fd = s->fd;
    }
  }
  return 0;
}

static void writer_next(Swarm* s);

// A piece could not be written: the download ends (verified pieces already
// written stay in the part file).
static void writer_failed(Swarm* s, int e) {
  if (s->ending) {
    swarm_maybe_report(s);
    return;
  }
  swarm_end(s, e, std::string("cannot write the download: ") + uv_strerror(e));
}

// A write job is back: its pieces are on disk (or the download fails).
static void on_pieces_written(uv_work_t* w, int) {
  WriteJob* wj = static_cast<WriteJob*>(w->data);
  Swarm* s = wj->sw;
  std::vector<PieceJob*> ps;
  ps.swap(wj->pieces);
  int err = wj->err;
  delete wj;
  s->writing--;
  s->pending -= static_cast<int>(ps.size());
  writer_next(s);
  if (err != 0) {
    for (PieceJob* j : ps) {
      s->state[j->index] = PIECE_MISSING;
      piece_touch(s, j->index);
      piece_job_free(j);
    }
    writer_failed(s, err);
    return;
  }
  // Counted even when the download is ending: the pieces are verified and on disk.
  for (PieceJob* j : ps) {
    contribution(s, j->from)->pieces++;
    uint32_t i = j->index;
    piece_job_free(j);
    s->state[i] = PIECE_HAD;
    piece_touch(s, i);
    s->had[i] = 1;
    s->nhad++;
    if (!s->ending && s->cb.on_piece != nullptr) s->cb.on_piece(s->cb.ctx, s, i);
  }
  if (s->ending) {
    swarm_maybe_report(s);
    return;
  }
  if (s->nhad == s->pieces) {
    swarm_complete(s);
    return;
  }
  swarm_pump(s);
}

// Verified pieces go to disk through at most kMaxWrites jobs at once (a write
// waits for the device, and hashing must not queue behind it in the
// threadpool); pieces waiting that follow each other go in one write.
static void writer_next(Swarm* s) {
  while (s->writing < kMaxWrites && !s->writes.empty()) {
    WriteJob* wj = new WriteJob;
    wj->sw = s;
    wj->work.data = wj;
    wj->pieces.push_back(s->writes.front());
    s->writes.pop_front();
    bool grew = true;
    while (grew && wj->pieces.size() < kMaxWritePieces) {
      grew = false;
      for (auto it = s->writes.begin(); it != s->writes.end(); ++it) {
        if ((*it)->index == wj->pieces.back()->index + 1) {
          wj->pieces.push_back(*it);
          s->writes.erase(it);
          grew = true;
          break;
        }
      }
    }
    int r = uv_queue_work(
        s->loop, &wj->work,
        [](uv_work_t* w) {
          WriteJob* job = static_cast<WriteJob*>(w->data);
          job->err = pieces_write(job->sw, job->pieces);
        },
        on_pieces_written);
    if (r != 0) {  // not expected: every waiting piece goes back, and the download ends
      for (PieceJob* q : s->writes)
        wj->pieces.push_back(q);
      s->writes.clear();
      for (PieceJob* q : wj->pieces) {
        s->pending--;
        s->state[q->index] = PIECE_MISSING;
        piece_touch(s, q->index);
        piece_job_free(q);
      }
      delete wj;
      writer_failed(s, r);
      return;
    }
    s->writing++;
  }
}

// A hash job is back: a matching piece goes to the writers, a bad one drops its source.
static void on_piece_hashed(uv_work_t* w, int) {
  PieceJob* j = static_cast<PieceJob*>(w->data);
  Swarm* s = j->sw;
  uint32_t i = j->index;
  if (s->ending || !j->ok) {
    s->pending--;
    s->state[i] = PIECE_MISSING;
    piece_touch(s, i);
    int conn_id = j->conn_id;
    piece_job_free(j);
    if (s->ending) {
      swarm_maybe_report(s);
      return;
    }
    SwarmConn* c = conn_by_id(s, conn_id);
    if (c != nullptr) conn_drop(c, "sent a piece that does not match its hash");
    swarm_pump(s);
    return;
  }
  s->writes.push_back(j);
  writer_next(s);
}

// Runs `work` on the threadpool, then `after` on the loop; the job counts as
// pending until then. Returns 0, or the error of uv_queue_work (nothing runs,
// nothing is pending).
static int swarm_queue(Swarm* s, uv_work_t* w, void* job, uv_work_cb work, uv_after_work_cb after) {
  w->data = job;
  s->pending++;
  int r = uv_queue_work(s->loop, w, work, after);
  if (r != 0) s->pending--;
  return r;
}

// Runs on the threadpool.
static void piece_hash(uv_work_t* w) {
  PieceJob* job = static_cast<PieceJob*>(w->data);
  job->ok = manifest_sha256(job->data, job->len) == job->sw->m.pieces[job->index];
  OPENSSL_thread_stop();  // pool threads are never joined: free OpenSSL's state for them
}

// A piece arrived whole: hash it off the loop.
static void piece_received(SwarmConn* c, uint32_t i, char* data, uint32_t len) {
  Swarm* s = c->sw;
  s->requested[i]--;
  piece_touch(s, i);
  s->last_progress = uv_now(s->loop);  // answers about what sources have are not progress
  if (s->state[i] != PIECE_MISSING) {  // an endgame duplicate, or one being checked
    buf_put(s, data);
    return;
  }
  s->state[i] = PIECE_VERIFYING;
  piece_touch(s, i);
  PieceJob* j = new PieceJob;
  j->sw = s;
  j->conn_id = c->id;
  j->from = c->src.addr;
  j->index = i;
  j->data = data;
  j->len = len;
  if (swarm_queue(s, &j->work, j, piece_hash, on_piece_hashed) != 0) {
    s->state[i] = PIECE_MISSING;
    piece_touch(s, i);
    piece_job_free(j);
  }
}

/* ---- choosing pieces ------------------------------------------------------ */

// Whether a source is late (limits.h kLateMinMs): it owes piece answers and has
// finished none for several times its own piece time. Time spent waiting for
// our own download tokens is not its lateness.
static bool conn_late(const SwarmConn* c, uint64_t now_ms) {
  if (!c->connected || c->dropped || c->gate_wait || (c->inflight == 0 && c->body == nullptr))
    return false;
  // A rate measured over manifest and have answers alone says nothing of its
  // piece time (and may be next to nothing): unknown, so the floor applies.
  double rate = c->sent_piece_bytes ? c->rate : 0;
  return picker_source_late(now_ms, c->due_ms, rate, c->sw->m.piece_size, c->rtt_ns / 1000000);
}

// s->late: the pieces that late sources owe and no source that is not late is
// fetching (picker_late_only).
static void swarm_late_pieces(Swarm* s, uint64_t now_ms) {
  s->late.clear();
  for (const SwarmConn* c : s->conns) {
    if (!conn_late(c, now_ms)) continue;
    for (const Expect& e : c->expect) {
      if (e.kind == EXPECT_PIECE) s->late.push_back(e.index);
    }
    if (c->body != nullptr) s->late.push_back(c->body_index);
  }
  picker_late_only(s->requested, &s->late);
}

// The picker (picker.h) over this download's counts (PIECE_MISSING is 0).
static int pick_piece(Swarm* s, SwarmConn* c, const std::vector<uint8_t>& mine,
                      std::vector<uint32_t>* want) {
  PickerView v;
  v.pieces = s->pieces;
  v.state = &s->state;
  v.requested = &s->requested;
  v.wanted = &s->wanted;
  if (c->own_wanted.size() != s->pieces) c->own_wanted.assign(s->pieces, 0);
  v.own_wanted = &c->own_wanted;
  v.wanted_until = &s->wanted_until;
  v.now_ms = uv_now(s->loop);
  v.avail = &s->avail;
  v.index = &s->pick;
  // The endgame: every missing piece is asked of someone already. Only then,
  // and only for a source with nothing else to do, is a piece asked twice: in
  // a swarm whose uplinks are the limit, a second copy costs someone's uplink.
  v.endgame = c->inflight == 0 && s->pick.nfree == 0;
  // Each source has its own cursor (from the download's random start), so that
  // each is asked for a run of pieces in file order (written together) even
  // when several are asked at once.
  int got = picker_pick(v, c->has, mine, &c->cursor, want);
  if (got >= 0 || c->inflight > 0 || c->body != nullptr) return got;
  // This source is idle and the picker has nothing for it: a piece a late
  // source owes (one that accepts requests and never answers holds them no
  // longer than that). In the endgame too: a piece two late sources owe is
  // past the endgame's one duplicate.
  swarm_late_pieces(s, v.now_ms);
  return picker_pick_late(v, c->has, mine, s->late, &c->cursor);
}

struct WriteReq {
  uv_write_t req;
  std::string data;
};

static void conn_send(SwarmConn* c, std::string data) {
  WriteReq* w = new WriteReq;
  w->data = std::move(data);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(&w->data[0], static_cast<unsigned>(w->data.size()));
  int r = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1,
                   [](uv_write_t* req, int) { delete static_cast<WriteReq*>(req->data); });
  if (r != 0) {
    delete w;
    conn_drop(c, "cannot send a request");
  }
}

// Requests to keep in flight at a source: what it sends at its rate during
// its round trip plus kPipelineSlackMs (the time our loop or its threadpool
// may take to ask again), and one more, so that its next answer is always
// queued behind the one being sent; at least kMinSourcePipeline.
static size_t conn_depth(const SwarmConn* c) {
  double secs = static_cast<double>(c->rtt_ns) / 1e9 + kPipelineSlackMs / 1e3;
  double pieces = std::ceil(c->rate * secs / static_cast<double>(c->sw->m.piece_size));
  size_t d = 1 + static_cast<size_t>(pieces);
  return std::max(kMinSourcePipeline, std::min(d, kMaxSourcePipeline));
}

// Measures what a source sends, over windows of kRateWindowMs.
static void conn_measure(SwarmConn* c, uint64_t bytes) {
  uint64_t now = uv_hrtime();
  if (c->win_ns == 0) c->win_ns = now;
  c->win_bytes += bytes;
  uint64_t dt = now - c->win_ns;
  if (dt < kRateWindowMs * 1000000ull) return;
  double sample = static_cast<double>(c->win_bytes) * 1e9 / static_cast<double>(dt);
  c->rate = c->rate == 0 ? sample : (c->rate + sample) / 2;
  c->win_ns = now;
  c->win_bytes = 0;
}

static void conn_rtt(SwarmConn* c, const Expect& e) {
  uint64_t t = uv_hrtime() - e.at_ns;
  if (c->rtt_ns == 0 || t < c->rtt_ns) c->rtt_ns = t;
}

// A request is answered or dropped: the pieces of its want set are free again.
static void expect_release(SwarmConn* c, const Expect& e) {
  for (uint32_t j : e.want) {
    c->sw->wanted[j]--;
    c->own_wanted[j]--;
  }
}

// Marks in c->mine the pieces this source owes us already: the picks skip
// them. conn_clear_owed undoes it, with the pieces asked for meanwhile, so
// that a fill costs the requests out, not the file's length.
static void conn_mark_owed(SwarmConn* c) {
  std::vector<uint8_t>& mine = c->mine;
  if (mine.size() != c->sw->pieces) mine.assign(c->sw->pieces, 0);
  for (const Expect& e : c->expect) {
    if (e.kind == EXPECT_PIECE) mine[e.index] = 1;
  }
  if (c->body != nullptr) mine[c->body_index] = 1;  // the piece being read now
}

static void conn_clear_owed(SwarmConn* c) {
  for (const Expect& e : c->expect)
    c->mine[e.index] = 0;
  if (c->body != nullptr) c->mine[c->body_index] = 0;
}

// Appends to out the request for piece i, offering the pieces of `want` in its
// place; the request is owed from now_ns on.
static void conn_ask_piece(SwarmConn* c, uint32_t i, std::vector<uint32_t>* want, uint64_t now_ns,
                           std::string* out) {
  Swarm* s = c->sw;
  c->mine[i] = 1;
  s->requested[i]++;
  piece_touch(s, i);
  c->inflight++;
  WireRequest r;
  r.action = WIRE_PIECE;
  r.file = s->opt.name;
  r.index = i;
  if (!want->empty()) {
    std::vector<uint8_t>& set = c->want_bits;
    set.assign(s->pieces, 0);
    set[i] = 1;
    for (uint32_t j : *want) {
      set[j] = 1;
      s->wanted[j]++;
      c->own_wanted[j]++;
      s->wanted_until[j] = uv_now(s->loop) + kWantHoldMs;
    }
    r.want = wire_bitfield_hex(set, s->pieces);
  }
  wire_encode_request(r, out);
  c->expect.push_back({EXPECT_PIECE, i, now_ns, std::move(*want)});
  want->clear();
}

// Asks the source for pieces until it has conn_depth requests out.
static void conn_fill(SwarmConn* c) {
  Swarm* s = c->sw;
  if (!s->ready || c->dropped || c->has.empty()) return;
  // Pieces still to be hashed or written bound what may be fetched: memory stays
  // bounded when the disk or the hashing is slower than the network.
  if (s->pending >= static_cast<int>(s->max_pending)) return;
  conn_mark_owed(c);
  std::string out;
  bool owed = c->inflight > 0 || c->body != nullptr;
  size_t depth = conn_depth(c);
  std::vector<uint32_t> want;
  uint64_t now = uv_hrtime();
  while (c->inflight < depth) {
    int i = pick_piece(s, c, c->mine, &want);
    if (i < 0) break;
    // Want sets go to complete sources only: a seeder serves many downloaders
    // at once and should give each a different piece; a partial source's want
    // set would hold back pieces that other sources could send meanwhile.
    if (c->nhas < s->pieces) want.clear();
    conn_ask_piece(c, static_cast<uint32_t>(i), &want, now, &out);
  }
  conn_clear_owed(c);
  bool asked = !out.empty();
  if (asked && !owed) c->due_ms = uv_now(s->loop);  // its first answer is due from now
  if (asked) conn_send(c, std::move(out));
  // The stall limit starts again when requests go out, not with every fill
  // (another source's piece must not keep a silent one alive).
  if (!c->dropped && (asked || (c->expect.empty() && c->body == nullptr) ||
                      !uv_is_active(reinterpret_cast<uv_handle_t*>(&c->timer))))
    conn_arm_timer(c);
}

// Asks what the source has, and to be told of every piece it gets from now on.
static void conn_ask_have(SwarmConn* c, std::string* out) {
  WireRequest r;
  r.action = WIRE_HAVE;
  r.file = c->sw->opt.name;
  r.watch = true;
  wire_encode_request(r, out);
  c->expect.push_back({EXPECT_HAVE, 0, uv_hrtime(), {}});
}

static void swarm_pump(Swarm* s) {
  if (s->ending) return;
  std::vector<SwarmConn*> conns = s->conns;
  for (SwarmConn* c : conns)
    conn_fill(c);
}

/* ---- connections ------------------------------------------------------------ */

static void conn_on_closed(uv_handle_t* h) {
  SwarmConn* c = static_cast<SwarmConn*>(h->data);
  if (--c->open_handles > 0) return;
  Swarm* s = c->sw;
  s->conns.erase(std::find(s->conns.begin(), s->conns.end(), c));
  buf_put(s, c->body);
  delete c;
  if (!s->ending) swarm_connect_more(s);  // ends the download when no source is left
  swarm_maybe_report(s);
}

static void conn_drop(SwarmConn* c, const std::string& why) {
  if (c->dropped) return;
  c->dropped = true;
  Swarm* s = c->sw;
  gate_forget(s->opt.download, c);
  for (const Expect& e : c->expect) {
    if (e.kind == EXPECT_PIECE) {
      s->requested[e.index]--;
      piece_touch(s, e.index);
    }
    expect_release(c, e);
  }
  c->expect.clear();
  if (c->body != nullptr) {  // a piece cut off mid-way
    s->requested[c->body_index]--;
    piece_touch(s, c->body_index);
  }
  for (uint32_t i = 0; i < c->has.size(); i++) {
    if (c->has[i]) {
      s->avail[i]--;
      piece_touch(s, i);
    }
  }
  if (!why.empty() && s->cb.on_drop != nullptr) s->cb.on_drop(s->cb.ctx, c->src, why);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), conn_on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), conn_on_closed);
  if (!s->ending) {
    swarm_connect_more(s);
    swarm_pump(s);
  }
}

// While requests are out, the timer is the stall limit; while none are (the
// source has nothing we need yet), it asks again what the source has: a source
// that pushes have events is asked rarely, one that does not (an older tt)
// every kHaveRefreshMs, so that a crowd of partial sources feeds itself.
static void conn_on_timer(uv_timer_t* t) {
  SwarmConn* c = static_cast<SwarmConn*>(t->data);
  Swarm* s = c->sw;
  if (!c->expect.empty() || c->body != nullptr) return conn_drop(c, "sent nothing for too long");
  if (uv_now(s->loop) - s->last_progress > s->opt.stall_ms) {
    swarm_end(s, UV_ETIMEDOUT, "no source has the missing pieces");
    return;
  }
  std::string out;
  conn_ask_have(c, &out);
  conn_arm_timer(c);
  conn_send(c, std::move(out));
}

static void conn_arm_timer(SwarmConn* c) {
  if (c->gate_wait) {  // waiting for our own tokens is not the source stalling
    uv_timer_stop(&c->timer);
    return;
  }
  uint64_t idle = c->watched ? kHaveRefreshWatchedMs : kHaveRefreshMs;
  bool owed = !c->expect.empty() || c->body != nullptr;
  if (!owed) rate_floor_reset(&c->floor);  // nothing asked: no rate to hold the source to
  uv_timer_start(&c->timer, conn_on_timer, owed ? c->sw->opt.stall_ms : idle, 0);
}

static void conn_apply_have(SwarmConn* c, const std::string& hex) {
  Swarm* s = c->sw;
  std::vector<uint8_t> has;
  if (wire_bitfield_parse(hex, s->pieces, &has) != 0) {
    conn_drop(c, "sent a malformed piece list");
    return;
  }
  for (uint32_t i = 0; i < s->pieces; i++) {
    bool before = i < c->has.size() && c->has[i];
    if (has[i] == before) continue;
    s->avail[i] = static_cast<uint16_t>(s->avail[i] + (has[i] ? 1 : -1));
    piece_touch(s, i);
  }
  c->has = has;
  c->nhas = static_cast<uint32_t>(std::count(has.begin(), has.end(), 1));
}

static void swarm_adopt_manifest(Swarm* s, const Manifest& m);

// A pushed have event: the source got piece i.
static void conn_on_event(SwarmConn* c, uint32_t i) {
  Swarm* s = c->sw;
  c->watched = true;
  if (!s->ready || c->has.empty()) {  // the manifest or the source's list is not in yet
    if (c->pending_events.size() >= kMaxPendingEvents)
      return conn_drop(c, "sent too many have events before its piece list");
    c->pending_events.push_back(i);
    return;
  }
  if (i >= s->pieces) return conn_drop(c, "sent a have event for a piece past the end");
  if (c->has[i]) return;
  c->has[i] = 1;
  s->avail[i]++;
  piece_touch(s, i);
  c->nhas++;
  conn_fill(c);
}

static void conn_apply_events(SwarmConn* c) {
  std::vector<uint32_t> events;
  events.swap(c->pending_events);
  for (uint32_t i : events) {
    if (c->dropped) return;
    conn_on_event(c, i);
  }
}

static void conn_on_manifest(SwarmConn* c, const WireAnswer& a) {
  Swarm* s = c->sw;
  std::string why;
  if (a.kind != WIRE_ANS_MANIFEST) return conn_drop(c, "has no manifest for the file");
  if (manifest_check(a.manifest, s->opt.cid, s->opt.size, &why) != 0) return conn_drop(c, why);
  if (!s->have_manifest) swarm_adopt_manifest(s, a.manifest);
}

static void conn_on_have(SwarmConn* c, const WireAnswer& a) {
  if (a.kind != WIRE_ANS_HAVE) return conn_drop(c, "has no piece list");
  if (!c->sw->ready) {
    c->pending_have = a.pieces;
    return;
  }
  conn_apply_have(c, a.pieces);
  if (!c->dropped) conn_apply_events(c);
  if (!c->dropped) conn_fill(c);
}

// The source does not have piece i after all (a partial source that lost it):
// ask elsewhere.
static void conn_on_piece_refused(SwarmConn* c, uint32_t i) {
  Swarm* s = c->sw;
  c->due_ms = uv_now(s->loop);
  s->requested[i]--;
  if (i < c->has.size() && c->has[i]) {
    c->has[i] = 0;
    c->nhas--;
    s->avail[i]--;
  }
  piece_touch(s, i);
  conn_fill(c);
}

// A piece request stays owed (conn_drop gives it back) and the source is dropped.
static void conn_drop_owing(SwarmConn* c, Expect e, const std::string& why) {
  e.want.clear();  // released already
  c->expect.push_front(std::move(e));
  c->inflight++;
  conn_drop(c, why);
}

// A piece header: the piece asked for, or another of its want set, whose
// `length` bytes follow.
static void conn_on_piece_header(SwarmConn* c, Expect e, const WireAnswer& a) {
  Swarm* s = c->sw;
  uint32_t i = e.index;
  uint32_t got = a.index;
  bool offered = got == i || std::find(e.want.begin(), e.want.end(), got) != e.want.end();
  if (a.kind != WIRE_ANS_PIECE || !offered || got >= s->pieces ||
      a.length != manifest_piece_length(s->m, got))
    return conn_drop_owing(c, std::move(e), "sent a piece header that does not match the request");
  char* body = buf_get(s);
  if (body == nullptr) return conn_drop_owing(c, std::move(e), "no memory for a piece");
  s->requested[i]--;
  s->requested[got]++;
  piece_touch(s, i);
  piece_touch(s, got);
  c->body = body;
  c->body_index = got;
  c->body_len = static_cast<uint32_t>(a.length);
  c->body_got = 0;
  conn_arm_timer(c);  // the piece's bytes are owed now
}

// One line: a pushed event, or an answer matched with the request it answers.
static void conn_on_line(SwarmConn* c, const std::string& line) {
  WireAnswer a;
  std::string why;
  if (wire_decode_answer(line.data(), line.size(), &a, &why) != 0)
    return conn_drop(c, why);  // the decoder says what: "sent an answer that ..."
  if (a.kind == WIRE_EVENT_HAVE) return conn_on_event(c, a.index);
  if (c->expect.empty()) return conn_drop(c, "sent an answer nobody asked for");
  Expect e = std::move(c->expect.front());
  c->expect.pop_front();
  conn_arm_timer(c);     // an answer (an event is not): the stall limit, or the idle refresh
  expect_release(c, e);  // answered: its want set is settled
  if (e.kind != EXPECT_PIECE) conn_rtt(c, e);
  if (e.kind == EXPECT_MANIFEST) return conn_on_manifest(c, a);
  if (e.kind == EXPECT_HAVE) return conn_on_have(c, a);
  c->inflight--;
  if (a.kind == WIRE_ANS_ERROR) return conn_on_piece_refused(c, e.index);
  conn_on_piece_header(c, std::move(e), a);
}

static void conn_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  SwarmConn* c = static_cast<SwarmConn*>(h->data);
  if (c->body != nullptr) {
    // Straight into the piece: a read never runs past its end.
    buf->base = c->body + c->body_got;
    buf->len = c->body_len - c->body_got;
  } else {
    buf->base = c->scratch;
    buf->len = sizeof c->scratch;
  }
  // Under a download limit a read takes no more than the tokens there are (and
  // a little when there are none), so connections reading at once overdraw
  // the bucket by little.
  RateGate* g = c->sw->opt.download;
  if (gate_limited(g)) {
    uint64_t room = std::max<uint64_t>(std::min<uint64_t>(gate_available(g), kRateChunk), 4096);
    if (buf->len > room) buf->len = static_cast<size_t>(room);
  }
}

// Piece bytes arrived: the source is not stalled, and the download moves (a
// slow or rate-limited one too, between whole pieces); a whole piece goes to
// be verified, and the source is asked for more.
static void conn_body_progress(SwarmConn* c) {
  if (!c->gate_wait) uv_timer_start(&c->timer, conn_on_timer, c->sw->opt.stall_ms, 0);
  c->sw->last_progress = uv_now(c->sw->loop);
  c->sent_piece_bytes = true;
  if (c->body_got < c->body_len) return;
  char* data = c->body;
  c->body = nullptr;
  c->sw->received += c->body_len;
  contribution(c->sw, c->src.addr)->bytes += c->body_len;
  c->useful_ms = c->due_ms = uv_now(c->sw->loop);  // its next answer is due from now
  piece_received(c, c->body_index, data, c->body_len);
  conn_fill(c);
}

// Bytes after a header line in the scratch buffer: piece bytes, or more lines.
static void conn_consume(SwarmConn* c, const char* p, size_t n) {
  while (n > 0 && !c->dropped) {
    if (c->body != nullptr) {
      size_t k = std::min<size_t>(n, c->body_len - c->body_got);
      memcpy(c->body + c->body_got, p, k);
      c->body_got += static_cast<uint32_t>(k);
      p += k;
      n -= k;
      conn_body_progress(c);
      continue;
    }
    const char* nl = static_cast<const char*>(memchr(p, '\n', n));
    if (nl == nullptr) {
      c->line.append(p, n);
      if (c->line.size() > kMaxAnswerLine) conn_drop(c, "sent an overlong answer line");
      return;
    }
    c->line.append(p, static_cast<size_t>(nl - p));
    n -= static_cast<size_t>(nl - p) + 1;
    p = nl + 1;
    std::string line;
    line.swap(c->line);
    conn_on_line(c, line);
  }
}

static void conn_on_read(uv_stream_t* st, ssize_t nread, const uv_buf_t* buf);

static void conn_on_gate(void* ctx) {
  SwarmConn* c = static_cast<SwarmConn*>(ctx);
  c->gate_wait = false;
  if (c->dropped) return;
  conn_arm_timer(c);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), conn_alloc, conn_on_read);
}

// The rate floor (RateFloor): a source that owes us answers and drips is
// dropped. A window in which our own download limit made a connection wait
// starts again: it measures us, not the source.
static bool conn_below_floor(SwarmConn* c, uint64_t bytes) {
  Swarm* s = c->sw;
  if (c->floor_waits != s->gate_waits) {
    rate_floor_reset(&c->floor);
    c->floor_waits = s->gate_waits;
  }
  std::string why;
  if (!rate_floor_below(&c->floor, bytes, uv_now(s->loop), &why)) return false;
  conn_drop(c, why);
  return true;
}

static void conn_on_read(uv_stream_t* st, ssize_t nread, const uv_buf_t* buf) {
  SwarmConn* c = static_cast<SwarmConn*>(st->data);
  if (nread == 0 || c->dropped) return;
  if (nread < 0) {
    conn_drop(c, nread == UV_EOF
                     ? (c->expect.empty() ? "" : "closed the connection early")
                     : std::string("connection failed: ") + uv_strerror(static_cast<int>(nread)));
    return;
  }
  Swarm* s = c->sw;
  conn_measure(c, static_cast<uint64_t>(nread));
  if (c->expect.empty() && c->body == nullptr)
    rate_floor_reset(&c->floor);  // pushed events only: nothing is owed
  else if (conn_below_floor(c, static_cast<uint64_t>(nread)))
    return;
  if (gate_limited(s->opt.download)) {
    // Limited: past the tokens, this connection reads nothing until its turn.
    gate_spend(s->opt.download, static_cast<uint64_t>(nread));
    if (gate_available(s->opt.download) == 0) {
      uv_read_stop(st);
      c->gate_wait = true;
      s->gate_waits++;
      uv_timer_stop(&c->timer);  // waiting for our own tokens is not the source stalling
      gate_wait(s->opt.download, kRateChunk, conn_on_gate, c);
    }
  }
  if (buf->base != c->scratch) {  // read straight into the piece
    c->body_got += static_cast<uint32_t>(nread);
    conn_body_progress(c);
    return;
  }
  conn_consume(c, buf->base, static_cast<size_t>(nread));
}

static void conn_on_connect(uv_connect_t* req, int status) {
  SwarmConn* c = static_cast<SwarmConn*>(req->data);
  if (c->dropped) return;
  if (status < 0) return conn_drop(c, std::string("cannot connect: ") + uv_strerror(status));
  c->connected = true;
  Swarm* s = c->sw;
  c->connected_ms = c->useful_ms = uv_now(s->loop);
  // Every source connected before the manifest is known is asked for it: one
  // that stalls must not hold up the rest (a manifest is small next to a file).
  std::string out;
  if (!s->have_manifest) {
    WireRequest r;
    r.action = WIRE_MANIFEST;
    r.file = s->opt.name;
    wire_encode_request(r, &out);
    c->expect.push_back({EXPECT_MANIFEST, 0, uv_hrtime(), {}});
  }
  conn_ask_have(c, &out);
  conn_send(c, std::move(out));
  if (!c->dropped &&
      uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), conn_alloc, conn_on_read) != 0)
    conn_drop(c, "cannot read from the source");
}

// Whether a source has had nothing we need, and nothing asked of it, for
// kUselessSourceMs since it connected: its slot may go to a source not tried yet.
static bool conn_useless(const SwarmConn* c, uint64_t now) {
  const Swarm* s = c->sw;
  if (!c->connected || c->dropped || !c->expect.empty() || c->body != nullptr || !s->ready ||
      c->has.empty() || now - c->connected_ms < kUselessSourceMs ||
      now - c->useful_ms < kUselessSourceMs)
    return false;
  for (uint32_t i = 0; i < s->pieces; i++) {
    if (c->has[i] && s->state[i] == PIECE_MISSING) return false;
  }
  return true;
}

// With every slot taken and sources not tried yet, the one useless source that
// connected first gives up its slot; it goes back to the end of the list, to be
// tried again when its turn comes (it may have pieces by then).
static void swarm_replace_useless(Swarm* s) {
  uint64_t now = uv_now(s->loop);
  SwarmConn* victim = nullptr;
  for (SwarmConn* c : s->conns) {
    if (conn_useless(c, now) && (victim == nullptr || c->connected_ms < victim->connected_ms))
      victim = c;
  }
  if (victim == nullptr) return;
  s->opt.sources.push_back(victim->src);
  conn_drop(victim, "");  // its close connects the next source
}

// Connects to src (skipped when its address is not an IPv4 one); the stall
// limit runs from now.
static void conn_open(Swarm* s, const ProtoSource& src) {
  struct sockaddr_in addr;
  if (uv_ip4_addr(src.addr.ip.c_str(), src.addr.port, &addr) != 0) return;
  if (s->cb.on_connect != nullptr) s->cb.on_connect(s->cb.ctx, src);
  SwarmConn* c = new SwarmConn;
  c->sw = s;
  c->id = s->next_conn_id++;
  c->cursor = s->cursor;
  c->src = src;
  c->floor.min_rate = s->opt.min_rate;
  c->floor.window_ms = s->opt.stall_ms;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->connect_req.data = c;
  c->open_handles = 2;
  s->conns.push_back(c);
  uv_timer_start(&c->timer, conn_on_timer, s->opt.stall_ms, 0);
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_tcp_connect(&c->connect_req, &c->tcp, reinterpret_cast<const struct sockaddr*>(&addr),
                     conn_on_connect) != 0)
    conn_drop(c, "cannot connect");
}

static void swarm_connect_more(Swarm* s) {
  auto live = [s]() {
    size_t n = 0;
    for (const SwarmConn* c : s->conns)
      n += !c->dropped;
    return n;
  };
  if (!s->ending && live() >= s->opt.max_conns && s->next_source < s->opt.sources.size())
    swarm_replace_useless(s);
  while (!s->ending && live() < s->opt.max_conns && s->next_source < s->opt.sources.size()) {
    conn_open(s, s->opt.sources[s->next_source++]);
  }
  if (!s->ending && live() == 0) {
    if (!s->have_manifest) {
      swarm_end(s, SWARM_NO_MANIFEST, "no source sent a manifest");
    } else {
      swarm_end(s, UV_ECONNABORTED, "no good source left");
    }
  }
}

/* ---- the part file and resuming ------------------------------------------- */

struct ResumeJob {
  uv_work_t work;
  Swarm* sw;
  std::vector<uint8_t> good;
};

// Every kLateCheckMs: an idle source that has a piece a late source owes is
// asked for it (pick_piece). Only idle ones are filled here: a fill that asks
// nothing would put off their have refresh.
static void swarm_check_late(uv_timer_t* t) {
  Swarm* s = static_cast<Swarm*>(t->data);
  if (s->ending || !s->ready || s->pending >= static_cast<int>(s->max_pending)) return;
  swarm_late_pieces(s, uv_now(s->loop));
  if (s->late.empty()) return;
  std::vector<SwarmConn*> conns = s->conns;
  for (SwarmConn* c : conns) {
    if (s->ending || c->dropped || c->inflight > 0 || c->body != nullptr || c->has.empty())
      continue;
    bool takes = false;
    for (uint32_t i : s->late)
      takes = takes || (c->has[i] && s->state[i] == PIECE_MISSING);
    if (takes) conn_fill(c);
  }
}

static void swarm_set_ready(Swarm* s) {
  s->ready = true;
  if (!s->late_timer_open) {
    uv_timer_init(s->loop, &s->late_timer);
    s->late_timer.data = s;
    s->late_timer_open = true;
    uv_timer_start(&s->late_timer, swarm_check_late, kLateCheckMs, kLateCheckMs);
  }
  // A copy: applying a source's list may drop it, and a drop connects another.
  std::vector<SwarmConn*> conns = s->conns;
  for (SwarmConn* c : conns) {
    if (c->dropped) continue;
    if (!c->pending_have.empty()) {
      std::string hex;
      hex.swap(c->pending_have);
      conn_apply_have(c, hex);
    }
    if (!c->dropped && !c->has.empty()) conn_apply_events(c);
  }
  if (s->cb.on_ready != nullptr) s->cb.on_ready(s->cb.ctx, s);
  if (s->nhad == s->pieces) {
    swarm_complete(s);
    return;
  }
  swarm_pump(s);
}

// Sizes the per-piece state for the manifest m; every piece is missing.
static void swarm_size_state(Swarm* s, const Manifest& m) {
  s->m = m;
  s->m.name = s->opt.name;
  s->have_manifest = true;
  s->pieces = manifest_piece_count(m);
  if (s->pieces > 0) s->cursor = std::uniform_int_distribution<uint32_t>(0, s->pieces - 1)(s->rng);
  for (SwarmConn* c : s->conns)  // later connections start there too (swarm_connect_more)
    c->cursor = s->cursor;
  s->max_pending = std::max<size_t>(kMaxPiecesPending, kPendingBytes / m.piece_size);
  s->state.assign(s->pieces, PIECE_MISSING);
  s->had.assign(s->pieces, 0);
  s->requested.assign(s->pieces, 0);
  s->wanted.assign(s->pieces, 0);
  s->wanted_until.assign(s->pieces, 0);
  s->avail.assign(s->pieces, 0);
  picker_index_reset(&s->pick, s->pieces);
  for (uint32_t i = 0; i < s->pieces; i++)
    piece_touch(s, i);
}

// Opens (or creates) the part file once the whole file fits. Returns 0, or an
// error after ending the download.
static int swarm_open_part(Swarm* s) {
  // The whole file must fit before the first piece is asked for (a part file
  // being resumed has some of it already): failing midway helps nobody.
  std::string why;
  int space = swarm_check_space(s->opt.dir, s->opt.cid, s->m.size, &why);
  if (space != 0) {
    swarm_end(s, space, why);
    return space;
  }
  s->fd = open(s->part_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (s->fd < 0) {
    int e = errno;
    swarm_end(s, -e, "cannot create " + s->part_path + ": " + strerror(e));
    return -e;
  }
  // Whole pieces are written around the page cache when the file system allows it.
  s->dfd = open(s->part_path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);
  return 0;
}

// Runs on the threadpool: which pieces of the part file hash right.
static void resume_hash(uv_work_t* w) {
  ResumeJob* job = static_cast<ResumeJob*>(w->data);
  Swarm* sw = job->sw;
  job->good.assign(sw->pieces, 0);
  std::vector<char> buf(sw->m.piece_size);
  for (uint32_t i = 0; i < sw->pieces; i++) {
    uint32_t len = manifest_piece_length(sw->m, i);
    ssize_t n = pread(sw->fd, buf.data(), len, static_cast<off_t>(i) * sw->m.piece_size);
    job->good[i] =
        n == static_cast<ssize_t>(len) && manifest_sha256(buf.data(), len) == sw->m.pieces[i];
  }
  OPENSSL_thread_stop();
}

static void resume_hashed(uv_work_t* w, int) {
  ResumeJob* job = static_cast<ResumeJob*>(w->data);
  Swarm* sw = job->sw;
  sw->pending--;
  for (uint32_t i = 0; i < sw->pieces; i++) {
    if (!job->good[i]) continue;
    sw->state[i] = PIECE_HAD;
    piece_touch(sw, i);
    sw->had[i] = 1;
    sw->nhad++;
  }
  sw->resumed = sw->nhad;
  delete job;
  if (sw->ending) {
    swarm_maybe_report(sw);
    return;
  }
  swarm_set_ready(sw);
}

// Pieces already in the part file count once they hash right: nothing is
// trusted from an interrupted run that was not verified again.
static void swarm_adopt_manifest(Swarm* s, const Manifest& m) {
  swarm_size_state(s, m);
  struct stat st;
  bool existed = stat(s->part_path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
  if (swarm_open_part(s) != 0) return;
  if (!existed) {
    swarm_set_ready(s);
    return;
  }
  ResumeJob* j = new ResumeJob;
  j->sw = s;
  if (swarm_queue(s, &j->work, j, resume_hash, resume_hashed) != 0) {
    delete j;
    swarm_set_ready(s);
  }
}

/* ---- public --------------------------------------------------------------- */

Swarm* swarm_start(uv_loop_t* loop, const SwarmOptions& opt, const SwarmCallbacks& cb) {
  Swarm* s = new Swarm;
  s->loop = loop;
  s->opt = opt;
  s->cb = cb;
  s->part_path = opt.dir + "/" + swarm_part_name(opt.cid);
  s->final_path = opt.dir + "/" + opt.name;
  // Sources in a random order, so that downloaders started together do not
  // all crowd the same few; one complete source first, when there is one.
  std::vector<ProtoSource>& src = s->opt.sources;
  std::shuffle(src.begin(), src.end(), s->rng);
  std::stable_partition(src.begin(), src.end(), [](const ProtoSource& x) { return x.complete; });
  if (!src.empty() && src[0].complete) std::shuffle(src.begin() + 1, src.end(), s->rng);
  s->last_progress = uv_now(loop);
  s->starting = true;
  swarm_connect_more(s);
  s->starting = false;
  if (s->ending && s->conns.empty() && s->pending == 0) {
    delete s;  // not one source could even be tried
    return nullptr;
  }
  return s;
}

void swarm_add_sources(Swarm* s, const std::vector<ProtoSource>& sources) {
  if (s->ending) return;
  std::vector<ProtoSource> fresh = sources;
  std::shuffle(fresh.begin(), fresh.end(), s->rng);
  for (const ProtoSource& src : fresh) {
    bool known = false;
    for (const ProtoSource& k : s->opt.sources)
      known = known || (k.addr.ip == src.addr.ip && k.addr.port == src.addr.port);
    if (!known) s->opt.sources.push_back(src);
  }
  swarm_connect_more(s);
}

void swarm_cancel(Swarm* s) {
  swarm_end(s, UV_ECANCELED, "cancelled");
}

const Manifest& swarm_manifest(const Swarm* s) {
  return s->m;
}
const std::vector<uint8_t>& swarm_have(const Swarm* s) {
  return s->had;
}
const std::string& swarm_part_path(const Swarm* s) {
  return s->part_path;
}
uint32_t swarm_pieces_had(const Swarm* s) {
  return s->nhad;
}
uint32_t swarm_pieces_resumed(const Swarm* s) {
  return s->resumed;
}
uint64_t swarm_bytes_received(const Swarm* s) {
  return s->received;
}

const std::vector<SwarmContribution>& swarm_contributions(const Swarm* s) {
  return s->contrib;
}

size_t swarm_active_sources(const Swarm* s) {
  size_t n = 0;
  for (const SwarmConn* c : s->conns)
    n += c->connected && !c->dropped;
  return n;
}

void swarm_status(const Swarm* s, SwarmStatus* out) {
  *out = SwarmStatus();
  out->have_manifest = s->have_manifest;
  out->bytes_received = s->received;
  if (s->have_manifest) {
    out->pieces = manifest_piece_count(s->m);
    out->pieces_had = s->nhad;
    out->size = s->m.size;
    for (uint32_t i = 0; i < s->had.size(); i++)
      if (s->had[i]) out->bytes_had += manifest_piece_length(s->m, i);
  }
  for (const SwarmConn* c : s->conns) {
    if (!c->connected || c->dropped) continue;
    out->sources.push_back(c->src.addr);
    if (c->sent_piece_bytes) out->rate += c->rate;
  }
}
