// The peer. Console lines queue up and run strictly one after another: a command
// that waits for the tracker or a download finishes (cmd_finished) before the
// next starts, so piped scripts behave like a person typing. See peer.h.
#include "peer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "out.h"

/* ----------------------------------------------------------------------------
 * Command plumbing
 * ------------------------------------------------------------------------- */

enum CmdResult { CMD_OK, CMD_FAILED, CMD_ASYNC };

static void peer_stop(Peer* p);
static void pump(Peer* p);

static const char kPrompt[] = "Enter command (share/get/request logs/exit): ";

// An asynchronous command has ended; the next one may run.
static void cmd_finished(Peer* p, bool ok) {
  p->busy = false;
  if (!ok) p->failures++;
  pump(p);
}

// The running command failed: one line on stderr that names it (see out_fail).
// Seed texts for the same failure stay on stdout beside it.
static void cmd_fail(Peer* p, const std::string& why) {
  out_fail(p->cmd, why);
}

// An asynchronous command failed, and why; the next one may run.
static void cmd_failed(Peer* p, const std::string& why) {
  cmd_fail(p, why);
  cmd_finished(p, false);
}

// Every request is extended ("v":1, seq, token once known): a seed tracker
// ignores the extra fields, an extended one uses them.
static ProtoRequest make_request(Peer* p, const char* action) {
  ProtoRequest r;
  r.action = action;
  r.peer_id = p->opt.id;
  r.fields = FLD_PEER_ID;
  r.extended = true;
  if (!p->token.empty()) {
    r.token = p->token;
    r.fields |= FLD_TOKEN;
  }
  return r;
}

static std::string python_set(const std::vector<std::string>& names) {
  // The seed logs its set of shared files as Python prints a set.
  std::string s = "{";
  for (size_t i = 0; i < names.size(); i++) {
    if (i > 0) s += ", ";
    s += "'" + names[i] + "'";
  }
  return s + "}";
}

// Whether NAME, as given to share or get, is a valid file name. Returns 0, or
// -1 after saying why not.
static int check_name_arg(Peer* p, const std::string& name) {
  std::string why;
  if (proto_check_name(name, &why) == 0) return 0;
  cmd_fail(p, "invalid file name \"" + out_sanitize(name) + "\": " + why);
  return -1;
}

// A console answer without the blanks and tabs around it.
static std::string trim_blanks(const std::string& line) {
  size_t b = line.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = line.find_last_not_of(" \t");
  return line.substr(b, e - b + 1);
}

// "share notes 2024.txt" is the name "notes" and the path "2024.txt": when that
// goes wrong, say how a name with blanks is given.
static void quote_hint(const char* cmd, const std::vector<std::string>& words) {
  std::string name;
  for (const std::string& w : words)
    name += (name.empty() ? "" : " ") + w;
  std::string why;
  if (name.find_first_of("\"\\") != std::string::npos || proto_check_name(name, &why) != 0) return;
  out_line("Names with blanks need quotes: %s \"%s\"", cmd, out_sanitize(name).c_str());
}

/* ----------------------------------------------------------------------------
 * share NAME [PATH]
 * ------------------------------------------------------------------------- */

struct ShareOp {
  Peer* p;
  std::string name, path;
  uv_fs_t req;
  Manifest manifest;
  uint64_t dev = 0, ino = 0;  // the file opened under path: only it is served
  bool follow = false;        // path is a symbolic link
  bool blank_hint = false;    // NAME PATH given: maybe one name with a blank, unquoted
  std::vector<std::string> words;
};

// Records which file a downloaded pf->path is now (created by this peer, never
// a symbolic link), so that nothing put in its place later is served.
static void peer_file_pin(PeerFile* pf) {
  struct stat st;
  bool ok = lstat(pf->path.c_str(), &st) == 0;
  pf->dev = ok ? static_cast<uint64_t>(st.st_dev) : 0;
  pf->ino = ok ? static_cast<uint64_t>(st.st_ino) : 0;
  pf->follow = false;
  pf->refusal_said = false;
}

static void share_on_answer(void* ctx, int status, const ProtoAnswer* ans, const std::string& err) {
  ShareOp* op = static_cast<ShareOp*>(ctx);
  if (status == UV_ECANCELED) {  // the peer is stopping
    delete op;
    return;
  }
  Peer* p = op->p;
  bool ok = false;
  if (status != 0) {
    cmd_fail(p, err);
  } else if (ans->has_status && !ans->ok) {
    cmd_fail(p, "tracker refused to share " + op->name + ": " + ans->message);
  } else {
    ok = true;
    PeerFile& f = p->files[op->name];
    f.path = op->path;
    f.manifest = op->manifest;
    f.manifest.name = op->name;
    f.hashed = true;
    f.have.clear();
    f.dev = op->dev;
    f.ino = op->ino;
    f.follow = op->follow;
    f.refusal_said = false;
    bool known = false;
    for (const std::string& s : p->shared)
      known = known || s == op->name;
    if (!known) p->shared.push_back(op->name);
    out_line("Peer %s shared a new files: %s", p->opt.id.c_str(), op->name.c_str());
    log_line(&p->log, "Peer %s updated shared files: %s", p->opt.id.c_str(),
             python_set(p->shared).c_str());
    // Names are labels: another content under the same name is not replaced,
    // and downloaders of the name will be asked which one they want.
    if (ans->others > 0)
      out_line(
          "Note: the tracker has %lld other content%s under the name %s; downloaders of "
          "the name choose by id (yours: %.12s)",
          static_cast<long long>(ans->others), ans->others == 1 ? "" : "s", op->name.c_str(),
          op->manifest.id.c_str());
  }
  delete op;
  cmd_finished(p, ok);
}

static void share_on_hashed(void* ctx, int status, const Manifest* m, const std::string& err) {
  ShareOp* op = static_cast<ShareOp*>(ctx);
  Peer* p = op->p;
  if (p->stopping) {
    delete op;
    return;
  }
  if (status != 0) {
    delete op;
    cmd_failed(p, err);
    return;
  }
  // What was hashed must be what was opened: a file swapped in meanwhile is not shared.
  struct stat st;
  if (stat(op->path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_dev) != op->dev ||
      static_cast<uint64_t>(st.st_ino) != op->ino) {
    std::string why = op->path + " changed while it was being hashed; share it again";
    delete op;
    cmd_failed(p, why);
    return;
  }
  op->manifest = *m;
  ProtoRequest r = make_request(p, "share_file");
  r.file = op->name;
  r.size = static_cast<int64_t>(m->size);
  r.id = m->id;
  r.fields |= FLD_FILE | FLD_SIZE | FLD_ID;
  int e = tc_request(&p->tc, r, kTrackerAnswerTimeoutMs, share_on_answer, op);
  if (e != 0) {
    delete op;
    cmd_failed(p, "cannot reach tracker " + p->tc.name + ": " + uv_strerror(e));
  }
}

static void share_on_open(uv_fs_t* req) {
  ShareOp* op = static_cast<ShareOp*>(req->data);
  Peer* p = op->p;
  int fd = static_cast<int>(req->result);
  uv_fs_req_cleanup(req);
  if (p->stopping) {
    if (fd >= 0) close(fd);
    delete op;
    return;
  }
  const char* path = op->path.c_str();
  std::string problem;
  if (fd == UV_ENOENT || fd == UV_ENOTDIR) {
    out_line("File %s does not exist", path);
    log_line(&p->log, "File %s does not exist", path);
    problem = std::string("File ") + path + " does not exist";  // the seed's words
    if (op->blank_hint) quote_hint("share", op->words);
  } else if (fd < 0) {
    problem = std::string("cannot read ") + path + ": " + uv_strerror(fd);
  } else {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      problem = std::string(path) + " is not a regular file";
    } else {
      op->dev = static_cast<uint64_t>(st.st_dev);
      op->ino = static_cast<uint64_t>(st.st_ino);
      op->follow = lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
    }
    close(fd);
  }
  if (fd < 0 || !problem.empty()) {
    delete op;
    cmd_failed(p, problem);
    return;
  }
  // Hashing runs on the threadpool: the loop keeps serving and answering meanwhile.
  int e = manifest_hash_start(p->loop, op->path, share_on_hashed, op);
  if (e != 0) {
    std::string why = std::string("cannot hash ") + path + ": " + uv_strerror(e);
    delete op;
    cmd_failed(p, why);
  }
}

static int cmd_share(Peer* p, const std::vector<std::string>& args) {
  if (check_name_arg(p, args[0]) != 0) return CMD_FAILED;
  ShareOp* op = new ShareOp;
  op->p = p;
  op->name = args[0];
  // PATH is taken relative to --dir, like NAME, whatever the current directory.
  if (args.size() < 2)
    op->path = p->opt.dir + "/" + args[0];
  else
    op->path = !args[1].empty() && args[1][0] == '/' ? args[1] : p->opt.dir + "/" + args[1];
  if (args.size() == 2) op->blank_hint = true;
  op->words = args;
  op->req.data = op;
  // Opening checks existence and read permission in one step, off the loop thread.
  // O_NONBLOCK: opening a FIFO must not block a thread (and with it the console).
  int r = uv_fs_open(p->loop, &op->req, op->path.c_str(), O_RDONLY | O_NONBLOCK, 0, share_on_open);
  if (r != 0) {
    cmd_fail(p, "cannot read " + op->path + ": " + uv_strerror(r));
    delete op;
    return CMD_FAILED;
  }
  return CMD_ASYNC;
}

/* ----------------------------------------------------------------------------
 * get NAME [N]
 * ------------------------------------------------------------------------- */

static void get_try_next(Peer* p);
static void get_start(Peer* p);
static void get_check_existing(Peer* p);
static void get_finished(Peer* p, const Manifest& m, uint64_t bytes, const std::string& from);
static void get_found_here(Peer* p, const Manifest& m);

/* ---- progress: a bar on a terminal (stderr), nothing when piped ---------- */

static double seconds_since(uint64_t start_ns) {
  return static_cast<double>(uv_hrtime() - start_ns) / 1e9;
}

// The bar shows the rate over the last few seconds (from p->progress_rate), so
// a download that stops shows "stalled", not the average since the start.
static void progress_draw(uv_timer_t* t) {
  Peer* p = static_cast<Peer*>(t->data);
  uint64_t now = uv_now(p->loop);
  ProgressLine line;
  line.name = p->get.name;
  uint64_t received = 0;
  if (p->get.swarm != nullptr) {
    Swarm* s = p->get.swarm;
    SwarmStatus st;
    swarm_status(s, &st);
    received = st.bytes_received;
    line.have = static_cast<double>(st.bytes_had);
    line.total = p->get.size > 0 ? static_cast<double>(p->get.size) : 0;
    line.sources = swarm_active_sources(s);
  } else if (p->get.fetch != nullptr) {
    // The seed form tells no size, so there is no percentage or ETA to show.
    received = p->get.fetch->received;
    line.have = static_cast<double>(received);
  } else {
    return;
  }
  rate_window_add(&p->progress_rate, now, received);
  line.rate = rate_window_rate(&p->progress_rate, now);
  line.stalled = rate_window_stalled(&p->progress_rate, now);
  out_status(progress_text(line));
}

static void progress_start(Peer* p) {
  if (!p->progress_tty || !p->progress_open) return;
  rate_window_reset(&p->progress_rate, uv_now(p->loop), 0);
  uv_timer_start(&p->progress, progress_draw, 250, 250);
}

static void progress_stop(Peer* p) {
  if (!p->progress_tty || !p->progress_open) return;
  uv_timer_stop(&p->progress);
  out_status_clear();
}

static void get_reset(Peer* p) {
  p->get = PeerGet();
}

// The get ended, well or after saying why not; the next command may run.
static void get_end(Peer* p, bool ok) {
  get_reset(p);
  cmd_finished(p, ok);
}

// The get failed, and why (a copy: it may live in p->get, which is reset).
static void get_failed(Peer* p, std::string why) {
  get_reset(p);
  cmd_failed(p, why);
}

// The get failed: the seed's "Error downloading file" line, then as get_failed.
static void get_error(Peer* p, const std::string& why) {
  out_line("Error downloading file %s: %s", p->get.name.c_str(), why.c_str());
  get_failed(p, why);
}

static void get_on_got_answer(void* ctx, int status, const ProtoAnswer* ans,
                              const std::string& err) {
  Peer* p = static_cast<Peer*>(ctx);
  if (status == UV_ECANCELED) return;
  // The file is here either way; a tracker that did not hear of it only lists us
  // later. Said on stderr, but the command did not fail.
  if (status != 0)
    cmd_fail(p, "warning: the tracker did not hear that the file is here: " + err);
  else if (ans->has_status && !ans->ok)
    cmd_fail(p, "warning: the tracker did not take the file: " + ans->message);
  get_end(p, true);
}

static void get_on_fetched(void* ctx, int status, const std::string& error, uint64_t bytes) {
  Peer* p = static_cast<Peer*>(ctx);
  progress_stop(p);
  std::string err = error;  // it lives in the fetch, which goes now
  Manifest manifest = p->get.fetch->manifest;
  delete p->get.fetch;
  p->get.fetch = nullptr;
  if (p->stopping) return;
  const ProtoAddr& src = p->get.sources[p->get.order[p->get.attempt]].addr;
  const char* name = p->get.name.c_str();
  if (status != 0) {
    out_line("Error downloading file %s: %s", name, err.c_str());
    log_line(&p->log, "Error downloading file %s from %s:%d", name, src.ip.c_str(), src.port);
    p->get.why = err;
    p->get.attempt++;
    get_try_next(p);
    return;
  }
  get_finished(p, manifest, bytes, src.ip + ":" + std::to_string(src.port));
}

// The file is in place and verified: serve it and say so.
static void get_adopt(Peer* p, const Manifest& m) {
  PeerFile& pf = p->files[p->get.name];
  pf.path = p->opt.dir + "/" + p->get.name;
  peer_file_pin(&pf);
  pf.have.clear();
  pf.manifest = m;
  pf.manifest.name = p->get.name;
  pf.hashed = true;
  out_line("Downloaded file %s successfully.", p->get.name.c_str());
}

// Logs where the file came from and tells the tracker that we hold it now;
// the command ends when the tracker answers.
static void get_tell_tracker(Peer* p, const Manifest& m, const std::string& from) {
  log_line(&p->log, "Downloaded file %s from %s", p->get.name.c_str(), from.c_str());
  ProtoRequest r = make_request(p, "got_the_file");
  r.file_name = p->get.name;
  r.size = static_cast<int64_t>(m.size);
  r.id = m.id;
  r.fields |= FLD_FILE_NAME | FLD_SIZE | FLD_ID;
  if (tc_request(&p->tc, r, kTrackerAnswerTimeoutMs, get_on_got_answer, p) != 0) get_end(p, true);
}

// A download ended well: bytes came from `from` (one address, or several).
static void get_finished(Peer* p, const Manifest& m, uint64_t bytes, const std::string& from) {
  const char* name = p->get.name.c_str();
  get_adopt(p, m);
  if (p->get.cid.empty()) {
    out_line("Warning: %s is unverified: the tracker announced no content id to check it against",
             name);
    // tt get promises a verified file: it says so and fails (the file stays).
    if (!p->opt.oneshot.empty()) {
      cmd_fail(p, "the file is in place but unverified: the tracker announced no content id");
      p->failures++;
    }
  }
  double secs = seconds_since(p->get.started_ns);
  out_line("Received %s (%llu bytes) in %.2f s (%s/s) from %s",
           progress_bytes(static_cast<double>(bytes)).c_str(),
           static_cast<unsigned long long>(bytes), secs,
           progress_bytes(secs > 0 ? static_cast<double>(bytes) / secs : 0).c_str(), from.c_str());
  get_tell_tracker(p, m, from);
}

// The same content was in --dir already: nothing was fetched.
static void get_found_here(Peer* p, const Manifest& m) {
  get_adopt(p, m);
  get_tell_tracker(p, m, "this directory");
}

// Starts the download from the next source in order; ends the command when none is left.
static void get_try_next(Peer* p) {
  PeerGet* g = &p->get;
  while (g->attempt < g->order.size()) {
    const ProtoAddr& src = g->sources[g->order[g->attempt]].addr;
    if (!g->sources[g->order[g->attempt]].complete) {  // the seed form needs a whole copy
      g->attempt++;
      continue;
    }
    out_line("Connecting to peer at %s:%d", src.ip.c_str(), src.port);
    FetchOptions o;
    o.ip = src.ip;
    o.port = src.port;
    o.name = g->name;
    o.dir = p->opt.dir;
    o.stall_ms = static_cast<uint64_t>(p->opt.timeout_s) * 1000;
    o.expect_id = g->cid;
    o.expect_size = g->size;
    o.max_unverified = p->opt.max_unverified_size;
    o.min_rate = p->opt.min_rate;
    o.download = &p->download;
    o.done = get_on_fetched;
    o.ctx = p;
    g->fetch = new Fetch;
    std::string err;
    int r = xfer_fetch_start(g->fetch, p->loop, o, &err);
    if (r == 0) {
      g->started_ns = uv_hrtime();
      progress_start(p);
      return;
    }
    delete g->fetch;
    g->fetch = nullptr;
    out_line("Error downloading file %s: %s", g->name.c_str(), err.c_str());
    g->why = err;
    log_line(&p->log, "Error downloading file %s from %s:%d", g->name.c_str(), src.ip.c_str(),
             src.port);
    if (r == UV_EEXIST || r == UV_ENOSPC) break;  // no other source can help
    g->attempt++;
  }
  get_failed(p, g->why.empty() ? "no source has a whole copy" : g->why);
}

/* ---- swarming: many sources, every piece verified -------------------------- */

static void announce_partial(Peer* p, Swarm* s);

static void get_swarm_ready(void* ctx, Swarm* s) {
  Peer* p = static_cast<Peer*>(ctx);
  const Manifest& m = swarm_manifest(s);
  PeerFile& pf = p->files[p->get.name];
  pf.path = swarm_part_path(s);
  peer_file_pin(&pf);
  pf.manifest = m;
  pf.hashed = true;
  pf.have = swarm_have(s);
  uint32_t resumed = swarm_pieces_resumed(s);
  if (resumed > 0)
    out_line("Resuming %s: %u of %u pieces already here", p->get.name.c_str(), resumed,
             manifest_piece_count(m));
  // Tell the tracker at once that we are a partial source: downloaders that
  // connect now watch us and hear of every piece as soon as it is verified.
  if (swarm_pieces_had(s) < manifest_piece_count(m)) announce_partial(p, s);
}

static void get_swarm_connect(void*, const ProtoSource& src) {
  out_line("Connecting to peer at %s:%d", src.addr.ip.c_str(), src.addr.port);
}

static void get_swarm_drop(void* ctx, const ProtoSource& src, const std::string& why) {
  Peer* p = static_cast<Peer*>(ctx);
  out_line("Dropped peer at %s:%d: %s", src.addr.ip.c_str(), src.addr.port, why.c_str());
  log_line(&p->log, "Dropped peer at %s:%d while downloading %s: %s", src.addr.ip.c_str(),
           src.addr.port, p->get.name.c_str(), why.c_str());
}

static void on_partial_answer(void*, int, const ProtoAnswer*, const std::string&) {}

// A verified piece is on disk: serve it, and tell the downloaders watching us.
static void get_swarm_piece(void* ctx, Swarm*, uint32_t index) {
  Peer* p = static_cast<Peer*>(ctx);
  PeerFile& pf = p->files[p->get.name];
  if (index < pf.have.size()) pf.have[index] = 1;
  xfer_server_have(&p->srv, p->get.name, index);
}

// Once per download, the tracker hears that we serve what we have of it, so a
// crowd fetching one file feeds itself.
static void announce_partial(Peer* p, Swarm* s) {
  if (p->get.announced) return;
  p->get.announced = true;
  ProtoRequest r = make_request(p, "share_file");
  r.file = p->get.name;
  r.size = static_cast<int64_t>(swarm_manifest(s).size);
  r.id = swarm_manifest(s).id;
  r.complete = false;
  r.fields |= FLD_FILE | FLD_SIZE | FLD_ID | FLD_COMPLETE;
  tc_request(&p->tc, r, kTrackerAnswerTimeoutMs, on_partial_answer, p);
}

static void get_swarm_done(void* ctx, Swarm* s, int status, const std::string& err) {
  Peer* p = static_cast<Peer*>(ctx);
  PeerGet* g = &p->get;
  progress_stop(p);
  if (p->refresh_open) uv_timer_stop(&p->refresh);
  g->swarm = nullptr;
  if (status == UV_ECANCELED || p->stopping) return;
  const char* name = g->name.c_str();
  if (status == SWARM_NO_MANIFEST) {
    // Nobody spoke the extended form: the seed form from one whole copy, checked against the id.
    p->files.erase(g->name);
    g->attempt = 0;
    get_try_next(p);
    return;
  }
  if (status != 0) {
    out_line("Error downloading file %s: %s", name, err.c_str());
    log_line(&p->log, "Error downloading file %s from %zu sources", name, g->sources_used);
    // Verified pieces stay in the part file, served until this peer exits, and
    // are picked up by the next get of the same content.
    auto it = p->files.find(g->name);
    if (it != p->files.end() && swarm_pieces_had(s) == 0) p->files.erase(it);
    get_failed(p, err);
    return;
  }
  // The seed logs "from IP:PORT"; a swarm names every source that sent a good piece.
  std::string from;
  for (const SwarmContribution& k : swarm_contributions(s)) {
    if (k.pieces > 0)
      from += (from.empty() ? "" : ", ") + k.addr.ip + ":" + std::to_string(k.addr.port);
  }
  if (from.empty()) from = "the pieces already here";
  get_finished(p, swarm_manifest(s), swarm_bytes_received(s), from);
  // What each source sent, one line each (after "Received ..."), for scripts.
  for (const SwarmContribution& k : swarm_contributions(s))
    out_line("Source %s:%d sent %llu bytes (%u pieces)", k.addr.ip.c_str(), k.addr.port,
             static_cast<unsigned long long>(k.bytes), k.pieces);
}

// While a swarm runs, the tracker is asked again for sources now and then:
// peers that started downloading the same file meanwhile serve their pieces.
static void on_refresh_answer(void* ctx, int status, const ProtoAnswer* ans, const std::string&) {
  Peer* p = static_cast<Peer*>(ctx);
  if (status != 0 || p->get.swarm == nullptr || !ans->has_peers) return;
  if (!ans->cid.empty() && ans->cid != p->get.cid) return;  // another content of the name
  swarm_add_sources(p->get.swarm, ans->sources);
}

static void on_refresh_timer(uv_timer_t* t) {
  Peer* p = static_cast<Peer*>(t->data);
  if (p->get.swarm == nullptr || p->stopping || tc_busy(&p->tc)) return;
  ProtoRequest r = make_request(p, "get_peers");
  r.file_name = p->get.name;
  r.id = p->get.cid;  // the content being downloaded, whatever else the name carries
  r.fields |= FLD_FILE_NAME | FLD_ID;
  tc_request(&p->tc, r, kTrackerAnswerTimeoutMs, on_refresh_answer, p);
}

static void get_start(Peer* p) {
  PeerGet* g = &p->get;
  std::string space_err;  // a size known: it must fit before anything is fetched
  if (g->size > 0 &&
      swarm_check_space(p->opt.dir, g->cid, static_cast<uint64_t>(g->size), &space_err) != 0) {
    get_error(p, space_err);
    return;
  }
  if (g->cid.empty()) {  // no content id known: the seed form, one source after another
    get_try_next(p);
    return;
  }
  SwarmOptions o;
  o.name = g->name;
  o.dir = p->opt.dir;
  o.cid = g->cid;
  o.size = g->size;
  o.min_rate = p->opt.min_rate;
  // Complete sources first; partial ones join in as they have what is missing.
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i : g->order) {
      if (g->sources[i].complete == (pass == 0)) o.sources.push_back(g->sources[i]);
    }
  }
  o.max_conns = static_cast<size_t>(g->max_sources > 0 ? g->max_sources : p->opt.sources);
  o.download = &p->download;
  o.stall_ms = static_cast<uint64_t>(p->opt.timeout_s) * 1000;
  g->sources_used = o.sources.size() < o.max_conns ? o.sources.size() : o.max_conns;
  SwarmCallbacks cb;
  cb.ctx = p;
  cb.on_ready = get_swarm_ready;
  cb.on_piece = get_swarm_piece;
  cb.on_done = get_swarm_done;
  cb.on_connect = get_swarm_connect;
  cb.on_drop = get_swarm_drop;
  out_line("Downloading %s (%lld bytes, id %.12s...) from %zu of %zu sources", g->name.c_str(),
           static_cast<long long>(g->size), g->cid.c_str(), g->sources_used, o.sources.size());
  g->started_ns = uv_hrtime();
  g->swarm = swarm_start(p->loop, o, cb);
  if (g->swarm == nullptr) {
    get_try_next(p);
    return;
  }
  progress_start(p);
  if (p->refresh_open)
    uv_timer_start(&p->refresh, on_refresh_timer, kSourceRefreshFirstMs, kSourceRefreshMs);
}

// Parses a 1-based choice among n peers; 0 when the text is not one.
static size_t parse_choice(const std::string& s, size_t n) {
  char* end = nullptr;
  errno = 0;
  long v = strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno != 0 || v < 1 || static_cast<size_t>(v) > n) return 0;
  return static_cast<size_t>(v);
}

static void get_on_choice(Peer* p, const std::string& line) {
  size_t n = p->get.sources.size();
  std::string s = trim_blanks(line);
  size_t k = parse_choice(s, n);
  if (k == 0 && !s.empty()) {
    out_line("Please choose a peer from 1 to %zu (or press Enter for all of them).", n);
    out_prompt("Desired Peer: ");
    return;
  }
  p->awaiting_choice = false;
  p->get.order.clear();
  if (k > 0) p->get.order = {k - 1};
  for (size_t i = 0; k == 0 && i < n; i++)
    p->get.order.push_back(i);
  get_start(p);
}

// Whether `name` may be downloaded into --dir: absent, or a regular file (whose
// content is then compared). Returns 0, or -1 after saying why not.
static int get_check_target(Peer* p, const std::string& name, bool* exists) {
  struct stat st;
  std::string target = p->opt.dir + "/" + name;
  *exists = lstat(target.c_str(), &st) == 0;
  if (*exists && !S_ISREG(st.st_mode)) {
    std::string why = name + " in " + p->opt.dir + " is not a regular file; it was left alone";
    out_line("Error downloading file %s: %s", name.c_str(), why.c_str());
    cmd_fail(p, why);
    return -1;
  }
  return 0;
}

static void get_on_peers(void* ctx, int status, const ProtoAnswer* ans, const std::string& err);

// Asks the tracker for the sources of the name, or of one content id (or id
// prefix). Returns 0, or -1 after saying why not.
static int get_ask(Peer* p, const std::string& id) {
  ProtoRequest r = make_request(p, "get_peers");
  r.file_name = p->get.name;
  r.fields |= FLD_FILE_NAME;
  if (!id.empty()) {
    r.id = id;
    r.fields |= FLD_ID;
  }
  int e = tc_request(&p->tc, r, kTrackerAnswerTimeoutMs, get_on_peers, p);
  if (e != 0) {
    cmd_fail(p, "cannot reach tracker " + p->tc.name + ": " + uv_strerror(e));
    return -1;
  }
  return 0;
}

// More than one content fits the name (or the id prefix): list them; on a
// terminal ask which, piped refuse (a script names the content by its id).
// Returns false when there is nothing to choose from after all.
static bool get_offer_contents(Peer* p, const ProtoAnswer* ans) {
  PeerGet* g = &p->get;
  g->contents = ans->contents;
  if (g->contents.empty()) return false;
  const char* what = g->by_id ? "content id prefix" : "name";
  out_line("The %s %s matches %lld contents:", what, g->name.c_str(),
           static_cast<long long>(ans->contents_total));
  for (size_t i = 0; i < g->contents.size(); i++) {
    const ProtoContent& c = g->contents[i];
    char when[32] = "unknown";
    time_t t = static_cast<time_t>(c.first_seen);
    struct tm tm;
    if (c.first_seen > 0 && localtime_r(&t, &tm) != nullptr)
      strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    out_line("%zu: id %.16s  %lld bytes  %lld holder%s  first seen %s", i + 1, c.cid.c_str(),
             static_cast<long long>(c.size), static_cast<long long>(c.holders),
             c.holders == 1 ? "" : "s", when);
  }
  if (ans->contents_total > static_cast<int64_t>(g->contents.size()))
    out_line("(%lld more not listed)", static_cast<long long>(ans->contents_total) -
                                           static_cast<long long>(g->contents.size()));
  // Under --quiet the list above was not shown: refuse as when piped.
  if (console_is_tty(&p->console) && !p->eof && !p->opt.quiet) {
    p->awaiting_content = true;
    out_prompt("Desired content: ");
    return true;
  }
  std::string why = std::string("the ") + what + " matches " + std::to_string(ans->contents_total) +
                    " contents; get one by its id (e.g. get " + g->contents[0].cid.substr(0, 16) +
                    ")";
  get_error(p, why);
  return true;
}

static void get_on_content(Peer* p, const std::string& line) {
  PeerGet* g = &p->get;
  std::string s = trim_blanks(line);
  size_t k = parse_choice(s, g->contents.size());
  if (k == 0) {
    out_line("Please choose a content from 1 to %zu.", g->contents.size());
    out_prompt("Desired content: ");
    return;
  }
  p->awaiting_content = false;
  std::string cid = g->contents[k - 1].cid;
  g->contents.clear();
  if (get_ask(p, cid) != 0) get_end(p, false);  // get_ask said why
}

// The sources are listed: take the peer the command named, ask which on a
// terminal, or take them all.
static void get_choose_sources(Peer* p) {
  PeerGet* g = &p->get;
  out_line("Available Peers: ");
  for (size_t i = 0; i < g->sources.size(); i++) {
    const ProtoSource& src = g->sources[i];
    out_line("%zu: ip: %s, port: %d%s", i + 1, src.addr.ip.c_str(), src.addr.port,
             src.complete ? "" : " (partial)");
  }
  size_t n = g->sources.size();
  if (!g->order.empty()) {  // the command named a peer: g->order holds its 1-based number
    size_t k = g->order[0];
    if (k > n) {
      get_failed(
          p, "there is no peer " + std::to_string(k) + "; choose from 1 to " + std::to_string(n));
      return;
    }
    g->order = {k - 1};
    get_start(p);
    return;
  }
  // Under --quiet the list above was not shown: take them all, as when piped.
  if (console_is_tty(&p->console) && !p->opt.quiet) {
    p->awaiting_choice = true;
    out_prompt("Desired Peer: ");
    return;
  }
  // Piped, no choice given: all of them (a swarm), or one after another.
  for (size_t i = 0; i < n; i++)
    g->order.push_back(i);
  get_start(p);
}

// An extended tracker lists sources (partial ones too); a seed tracker, peers.
static void get_take_sources(PeerGet* g, const ProtoAnswer* ans) {
  g->sources = ans->sources;
  if (g->sources.empty()) {
    for (const ProtoAddr& a : ans->peers)
      g->sources.push_back(ProtoSource{"", a, true});
  }
}

static void get_on_peers(void* ctx, int status, const ProtoAnswer* ans, const std::string& err) {
  Peer* p = static_cast<Peer*>(ctx);
  if (status == UV_ECANCELED) return;
  PeerGet* g = &p->get;
  if (status != 0 || (ans->has_status && !ans->ok) || !ans->has_peers) {
    std::string why =
        status != 0
            ? err
            : "tracker: " + (ans->message.empty() ? "no peer list in the answer" : ans->message);
    get_failed(p, why);
    return;
  }
  if (ans->contents_total > 1 && get_offer_contents(p, ans)) return;
  if (g->by_id && !ans->name.empty()) {
    // Found by content id: saved under the name the tracker knows it by.
    g->name = ans->name;
    if (get_check_target(p, g->name, &g->exists) != 0) {
      get_end(p, false);  // get_check_target said why
      return;
    }
  }
  g->by_id = false;  // (no content has that id: it was a name)
  get_take_sources(g, ans);
  if (g->sources.empty()) {
    out_line("No peers found with file %s", g->name.c_str());
    get_failed(p, "No peers found with file " + g->name);  // the seed's words
    return;
  }
  g->cid = ans->cid;
  g->size = ans->size;
  if (g->exists)
    get_check_existing(p);
  else
    get_choose_sources(p);
}

/* ---- a file of that name is already here ------------------------------------ */

static void get_on_existing_hashed(void* ctx, int status, const Manifest* m,
                                   const std::string& err) {
  Peer* p = static_cast<Peer*>(ctx);
  if (p->stopping) return;
  PeerGet* g = &p->get;
  const char* name = g->name.c_str();
  std::string why;
  if (status != 0) {
    why = err;
  } else if (m->id == g->cid) {
    // The same content: nothing to fetch. Serve it, as if just downloaded.
    out_line("File %s is already here with the same content (id %.12s...)", name, m->id.c_str());
    get_found_here(p, *m);
    return;
  } else {
    why = g->name + " in " + p->opt.dir + " has other content (id " + m->id.substr(0, 12) +
          "..., not " + g->cid.substr(0, 12) + "...); it was not overwritten";
  }
  get_error(p, why);
}

// NAME exists in --dir. It is never overwritten: with the same content the get
// is done already; with other content (or none known to compare) it fails.
static void get_check_existing(Peer* p) {
  PeerGet* g = &p->get;
  std::string why;
  if (g->cid.empty())
    why = g->name + " already exists in " + p->opt.dir + "; it was not overwritten";
  else if (manifest_hash_start(p->loop, p->opt.dir + "/" + g->name, get_on_existing_hashed, p) != 0)
    why = "cannot read the copy already here";
  if (why.empty()) return;
  get_error(p, why);
}

static int cmd_get(Peer* p, const std::vector<std::string>& args) {
  if (check_name_arg(p, args[0]) != 0) return CMD_FAILED;
  size_t choice = 0;
  int max_sources = 0;
  for (size_t i = 1; i < args.size(); i++) {
    if (args[i] == "--sources") {
      size_t k = i + 1 < args.size() ? parse_choice(args[i + 1], kMaxSources) : 0;
      if (k == 0) {
        cmd_fail(p, "--sources needs a number from 1 to " + std::to_string(kMaxSources));
        return CMD_FAILED;
      }
      max_sources = static_cast<int>(k);
      i++;
      continue;
    }
    choice = choice == 0 ? parse_choice(args[i], 1u << 30) : 0;
    if (choice == 0) {
      cmd_fail(p, "peer number must be a positive integer, not \"" + out_sanitize(args[i]) + "\"");
      // "get notes 2024.txt": the words up to a number or --sources were one name.
      size_t end = i + 1;
      while (end < args.size() && args[end] != "--sources" &&
             parse_choice(args[end], 1u << 30) == 0)
        end++;
      quote_hint("get",
                 std::vector<std::string>(args.begin(), args.begin() + static_cast<long>(end)));
      return CMD_FAILED;
    }
  }
  // `get ID`: 8 to 64 lowercase hex digits name a content id (or a prefix of
  // one) when the tracker knows such a content; else they are a name.
  bool by_id = args[0].size() >= kMinIdPrefix && args[0].size() <= kContentIdHexLen &&
               args[0].find_first_not_of("0123456789abcdef") == std::string::npos;
  bool exists = false;
  if (get_check_target(p, args[0], &exists) != 0) return CMD_FAILED;
  get_reset(p);
  p->get.name = args[0];
  p->get.exists = exists;
  p->get.by_id = by_id;
  p->get.started_ns = uv_hrtime();
  if (choice > 0) p->get.order = {choice};
  p->get.max_sources = max_sources;
  return get_ask(p, by_id ? args[0] : std::string()) == 0 ? CMD_ASYNC : CMD_FAILED;
}

/* ----------------------------------------------------------------------------
 * list [SUBSTRING], status
 * ------------------------------------------------------------------------- */

// A size without blanks, so that a line splits on blanks: "1.5MiB".
static std::string human_compact(double b) {
  std::string h = progress_bytes(b);
  h.erase(std::remove(h.begin(), h.end(), ' '), h.end());
  return h;
}

// `list` asks the tracker page by page and prints as it goes.
struct ListOp {
  Peer* p;
  std::string pattern;  // names containing it (empty: all)
  uint64_t cursor = 0;
  int pages = 0;
  size_t shown = 0;  // rows printed
  size_t more = 0;   // rows matched past kListShownMax
  size_t names = 0;  // distinct names printed (rows of one name come together)
  std::string last_name;
  int64_t total = -1;
  uint64_t started_ms = 0;  // the list's deadline counts from here (uv_now)
};

static int list_ask(ListOp* op);

// A line of an asked-for listing (list, status): printed even under --quiet,
// which silences only what the user did not ask to see.
static void listing_line(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void listing_line(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[512];
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap2);
  va_end(ap2);
  std::string line;
  if (n >= 0 && static_cast<size_t>(n) < sizeof small) {
    line = small;
  } else if (n >= 0) {
    line.resize(static_cast<size_t>(n) + 1);
    vsnprintf(&line[0], line.size(), fmt, ap);
    line.resize(static_cast<size_t>(n));
  }
  va_end(ap);
  bool quiet = out_quiet();
  out_set_quiet(false);
  out_line("%s", line.c_str());
  out_set_quiet(quiet);
}

int peer_list_budget_ms(uint64_t list_started_ms, uint64_t now_ms) {
  uint64_t elapsed = now_ms > list_started_ms ? now_ms - list_started_ms : 0;
  if (elapsed >= static_cast<uint64_t>(kListDeadlineMs)) return 0;
  uint64_t left = static_cast<uint64_t>(kListDeadlineMs) - elapsed;
  return left < static_cast<uint64_t>(kTrackerAnswerTimeoutMs) ? static_cast<int>(left)
                                                               : kTrackerAnswerTimeoutMs;
}

static std::string list_deadline_why() {
  return "the tracker's list did not end within " + std::to_string(kListDeadlineMs / 1000) +
         " s; stopped";
}

static void list_row_line(const ProtoListRow& r) {
  char holders[48];
  snprintf(holders, sizeof holders, "%lld/%lld", static_cast<long long>(r.complete),
           static_cast<long long>(r.holders > r.complete ? r.holders - r.complete : 0));
  std::string size = r.size >= 0 ? human_compact(static_cast<double>(r.size)) : "?";
  std::string bytes = r.size >= 0 ? std::to_string(r.size) : "?";
  listing_line("%-12.12s  %9s  %13s  %9s  %s", r.cid.empty() ? "-" : r.cid.c_str(), size.c_str(),
               bytes.c_str(), holders, out_sanitize(r.name, kMaxNameBytes).c_str());
}

static void list_end(ListOp* op, bool ok) {
  Peer* p = op->p;
  if (ok) {
    if (op->more > 0) {
      listing_line("... and %zu more (narrow it with: list SUBSTRING)", op->more);
    } else if (op->shown == 0) {
      if (op->pattern.empty())
        listing_line("No files on the tracker.");
      else
        listing_line("No files on the tracker match '%s'.", op->pattern.c_str());
    } else {
      listing_line("%zu file%s listed (%zu name%s).", op->shown, op->shown == 1 ? "" : "s",
                   op->names, op->names == 1 ? "" : "s");
    }
  }
  delete op;
  cmd_finished(p, ok);
}

// Why a page did not come: no answer in time, a refusal, or no list in it.
static std::string list_failure(const ListOp* op, int status, const ProtoAnswer* ans,
                                const std::string& err) {
  if (status != 0 && peer_list_budget_ms(op->started_ms, uv_now(op->p->loop)) == 0)
    return list_deadline_why();
  if (status != 0) return "cannot list the tracker's files: " + err;
  if (ans->has_status && !ans->ok) return "tracker refused to list its files: " + ans->message;
  return "tracker " + op->p->tc.name + " does not list its files (no file list in the answer)";
}

// Prints the rows that match, up to kListShownMax in all; counts the rest.
static void list_print_rows(ListOp* op, const std::vector<ProtoListRow>& rows) {
  for (const ProtoListRow& r : rows) {
    if (!op->pattern.empty() && r.name.find(op->pattern) == std::string::npos) continue;
    if (op->shown >= kListShownMax) {
      op->more++;
      continue;
    }
    // The header comes with the first row: a list with no rows says so alone.
    if (op->shown == 0)
      listing_line("ID            %9s  %13s  %9s  NAME", "SIZE", "BYTES", "HOLDERS");
    list_row_line(r);
    op->shown++;
    if (r.name != op->last_name) op->names++;
    op->last_name = r.name;
  }
}

static void list_on_answer(void* ctx, int status, const ProtoAnswer* ans, const std::string& err) {
  ListOp* op = static_cast<ListOp*>(ctx);
  if (status == UV_ECANCELED) {  // the peer is stopping
    delete op;
    return;
  }
  if (status != 0 || (ans->has_status && !ans->ok) || !ans->has_files) {
    cmd_fail(op->p, list_failure(op, status, ans, err));
    list_end(op, false);
    return;
  }
  if (op->pages == 1) op->total = ans->total;
  list_print_rows(op, ans->files);
  // The rows shown are printed: without a pattern, the tracker's count of
  // names says what is left, and no more pages are needed.
  if (op->shown >= kListShownMax && op->pattern.empty() && ans->next != 0) {
    int64_t left = op->total - static_cast<int64_t>(op->names);
    if (left > 0)
      listing_line("... and %lld more names (narrow it with: list SUBSTRING)",
                   static_cast<long long>(left));
    else
      listing_line("... and more (narrow it with: list SUBSTRING)");
    Peer* p = op->p;
    delete op;
    cmd_finished(p, true);
    return;
  }
  if (ans->next == 0) {
    list_end(op, true);
    return;
  }
  if (op->pages >= kListPagesMax) {
    cmd_fail(op->p, "the tracker's list did not end after " + std::to_string(kListPagesMax) +
                        " pages; stopped");
    list_end(op, false);
    return;
  }
  op->cursor = ans->next;
  if (list_ask(op) != 0) list_end(op, false);
}

// Asks for the page at op->cursor. Returns 0, or -1 after saying why not.
static int list_ask(ListOp* op) {
  Peer* p = op->p;
  ProtoRequest r = make_request(p, "list");
  if (op->cursor != 0) {
    r.cursor = op->cursor;
    r.fields |= FLD_CURSOR;
  }
  r.limit = kMaxListRows;
  r.fields |= FLD_LIMIT;
  int budget = peer_list_budget_ms(op->started_ms, uv_now(p->loop));
  if (budget == 0) {
    cmd_fail(p, list_deadline_why());
    return -1;
  }
  op->pages++;
  int e = tc_request(&p->tc, r, budget, list_on_answer, op);
  if (e != 0) {
    cmd_fail(p, "cannot reach tracker " + p->tc.name + ": " + uv_strerror(e));
    return -1;
  }
  return 0;
}

static int cmd_list(Peer* p, const std::vector<std::string>& args) {
  ListOp* op = new ListOp;
  op->p = p;
  op->started_ms = uv_now(p->loop);
  if (!args.empty()) op->pattern = args[0];
  if (list_ask(op) != 0) {
    delete op;
    return CMD_FAILED;
  }
  return CMD_ASYNC;
}

// One line per shared file, by name.
static void status_shares(Peer* p) {
  std::vector<std::string> names;
  for (const auto& kv : p->files)
    names.push_back(kv.first);
  std::sort(names.begin(), names.end());
  if (names.empty()) out_line("Sharing nothing.");
  for (const std::string& n : names) {
    const PeerFile& f = p->files[n];
    if (!f.hashed) {
      out_line("share  %-12s  %9s  %13s  %9s  %s", "-", "?", "?", "hashing", n.c_str());
      continue;
    }
    uint32_t count = manifest_piece_count(f.manifest);
    uint32_t had = count;
    if (!f.have.empty()) had = static_cast<uint32_t>(std::count(f.have.begin(), f.have.end(), 1));
    char pieces[48];
    snprintf(pieces, sizeof pieces, "%u/%u", had, count);
    out_line("share  %-12.12s  %9s  %13llu  %9s  %s", f.manifest.id.c_str(),
             human_compact(static_cast<double>(f.manifest.size)).c_str(),
             static_cast<unsigned long long>(f.manifest.size), pieces, n.c_str());
  }
}

// The download's line.
static void status_download(Peer* p) {
  const PeerGet& g = p->get;
  SwarmStatus st;
  if (g.swarm != nullptr) swarm_status(g.swarm, &st);
  if (g.swarm != nullptr && !st.have_manifest) {
    // No piece count to show until a source has sent the manifest.
    out_line("download  waiting for the manifest  %s", g.name.c_str());
  } else if (g.swarm != nullptr) {
    std::string srcs;
    for (const ProtoAddr& a : st.sources)
      srcs += (srcs.empty() ? "" : ",") + a.ip + ":" + std::to_string(a.port);
    out_line("download  %u/%u pieces  %llu/%llu bytes  %s/s  %zu sources  %s  %s", st.pieces_had,
             st.pieces, static_cast<unsigned long long>(st.bytes_had),
             static_cast<unsigned long long>(st.size), human_compact(st.rate).c_str(),
             st.sources.size(), srcs.empty() ? "-" : srcs.c_str(), g.name.c_str());
  } else if (g.fetch != nullptr) {
    // The seed form: one source, no size or pieces told.
    double secs = seconds_since(g.started_ns);
    double got = static_cast<double>(g.fetch->received);
    const ProtoSource* src = g.attempt < g.order.size() ? &g.sources[g.order[g.attempt]] : nullptr;
    std::string from = src != nullptr ? src->addr.ip + ":" + std::to_string(src->addr.port) : "-";
    out_line("download  ?/? pieces  %llu/? bytes  %s/s  1 sources  %s  %s",
             static_cast<unsigned long long>(g.fetch->received),
             human_compact(secs > 0 ? got / secs : 0).c_str(), from.c_str(), g.name.c_str());
  } else if (!g.name.empty()) {  // before or after the transfer
    out_line("download  waiting for %s  %s",
             p->awaiting_choice || p->awaiting_content ? "a choice" : "the tracker",
             g.name.c_str());
  } else {
    out_line("No download running.");
  }
}

// One line per upload, by address.
static void status_uploads(Peer* p) {
  std::vector<ServeUpload> ups;
  serve_status(&p->srv, &ups);
  std::sort(ups.begin(), ups.end(),
            [](const ServeUpload& a, const ServeUpload& b) { return a.addr < b.addr; });
  if (ups.empty()) out_line("No uploads.");
  for (const ServeUpload& u : ups) {
    double secs = static_cast<double>(u.elapsed_ms) / 1000;
    out_line("upload  %s  %llu bytes  %s/s  %s", u.addr.c_str(),
             static_cast<unsigned long long>(u.bytes),
             human_compact(secs > 0 ? static_cast<double>(u.bytes) / secs : 0).c_str(),
             u.name.c_str());
  }
}

// One line per shared file, the download, one line per upload; each line
// starts with a word saying what it is, and ends with the name (which may hold blanks).
static void status_print(Peer* p) {
  out_line("Peer %s: TCP port %d, tracker %s", p->opt.id.c_str(), p->srv.port, p->tc.name.c_str());
  status_shares(p);
  status_download(p);
  status_uploads(p);
}

static int cmd_status(Peer* p, const std::vector<std::string>&) {
  out_set_quiet(false);  // asked for, so printed even under --quiet
  status_print(p);
  out_set_quiet(p->opt.quiet);
  return CMD_OK;
}

/* ----------------------------------------------------------------------------
 * request logs, exit, help
 * ------------------------------------------------------------------------- */

static bool line_is_download(const std::string& line, void*) {
  return line.find(" - Downloaded file ") != std::string::npos ||
         line.find(" - Error downloading file ") != std::string::npos;
}

static int cmd_request_logs(Peer* p, const std::vector<std::string>&) {
  int r = log_print_matching(p->log.path, line_is_download, nullptr, stdout);
  if (r < 0) {
    cmd_fail(p, "cannot read " + p->log.path + ": " + uv_strerror(r));
    return CMD_FAILED;
  }
  if (r == 0) out_line("No downloads logged yet.");
  return CMD_OK;
}

static int cmd_exit(Peer* p, const std::vector<std::string>&) {
  peer_stop(p);
  return CMD_OK;
}

static int cmd_help(Peer* p, const std::vector<std::string>&);

// The table's handler for a peer command: F with the Peer that console_dispatch passes.
template <int (*F)(Peer*, const std::vector<std::string>&)>
static int peer_cmd(void* ctx, const std::vector<std::string>& args) {
  return F(static_cast<Peer*>(ctx), args);
}

// ConsoleCmd::flags of the peer's commands.
enum PeerCmdFlags : unsigned {
  PEER_CMD_AT_ONCE = 1u << 0,  // runs even while another command (a download) runs: reads only
  PEER_CMD_NAME = 1u << 1,     // takes a file name: too many words hint at quotes
};

static const ConsoleCmd kCommandRows[] = {
    {"share", "NAME [PATH]", "share a file (PATH, relative to --dir, defaults to NAME there)", 1, 2,
     peer_cmd<cmd_share>, PEER_CMD_NAME},
    {"get", "NAME [N] [--sources K]",
     "download a file (from peer N of the list, or from up to K at once)", 1, 4, peer_cmd<cmd_get>,
     PEER_CMD_NAME},
    {"list", "[SUBSTRING]", "list the files the tracker knows (names containing SUBSTRING)", 0, 1,
     peer_cmd<cmd_list>},
    {"status", "", "print what this peer shares, downloads and uploads", 0, 0, peer_cmd<cmd_status>,
     PEER_CMD_AT_ONCE},
    {"request logs", "", "print this peer's download log lines", 0, 0, peer_cmd<cmd_request_logs>},
    {"help", "", "print this list", 0, 0, peer_cmd<cmd_help>},
    {"exit", "", "leave the network and quit", 0, 0, peer_cmd<cmd_exit>},
    {"quit", "", "the same as exit", 0, 0, peer_cmd<cmd_exit>},
};
static const ConsoleTable kCommands = {kCommandRows, sizeof kCommandRows / sizeof kCommandRows[0]};

static int cmd_help(Peer* p, const std::vector<std::string>&) {
  out_set_quiet(false);  // asked for, so printed even under --quiet
  console_print_help(kCommands);
  out_set_quiet(p->opt.quiet);
  return CMD_OK;
}

ConsoleTable peer_console_commands() {
  return kCommands;
}

static int run_line(Peer* p, const std::string& line) {
  ConsoleParsed parsed;
  int r = console_dispatch(kCommands, p, line, &parsed);
  if (r == CONSOLE_OK) return parsed.result;
  if (r == CONSOLE_EMPTY) return CMD_OK;
  if (r == CONSOLE_UNKNOWN) {
    cmd_fail(p, "unknown command (help lists them)");
    return CMD_FAILED;
  }
  // "share my notes 2024.txt": more words than the command takes.
  if (parsed.cmd != nullptr && (parsed.cmd->flags & PEER_CMD_NAME) &&
      static_cast<int>(parsed.args.size()) > parsed.cmd->max_args)
    quote_hint(parsed.cmd->name, parsed.args);
  return CMD_FAILED;
}

/* ----------------------------------------------------------------------------
 * Console input
 * ------------------------------------------------------------------------- */

// A line naming a command that runs at once (status) while another runs: it
// does, rather than wait its turn. Returns whether it ran.
static bool run_at_once(Peer* p, const std::string& line) {
  ConsoleParsed parsed;
  if (console_parse(kCommands, line, &parsed) != CONSOLE_OK) return false;
  if (!(parsed.cmd->flags & PEER_CMD_AT_ONCE)) return false;
  if (parsed.cmd->handler(p, parsed.args) == CMD_FAILED) p->failures++;
  return true;
}

static void pump(Peer* p) {
  while (!p->busy && !p->stopping && !p->pending.empty()) {
    std::string line = std::move(p->pending.front());
    p->pending.pop_front();
    p->cmd = line;
    int r = run_line(p, line);
    if (r == CMD_ASYNC) p->busy = true;
    if (r == CMD_FAILED) p->failures++;
  }
  if (p->busy || p->stopping) return;
  if (p->eof) {
    peer_stop(p);
  } else if (console_is_tty(&p->console)) {
    out_prompt(kPrompt);
  }
}

static void on_console_line(void* ctx, const std::string& line, bool too_long) {
  Peer* p = static_cast<Peer*>(ctx);
  if (p->stopping) return;
  if (too_long) {
    out_fail("", "console line too long");
    p->failures++;
    return;
  }
  if (p->awaiting_choice) {
    get_on_choice(p, line);
    return;
  }
  if (p->awaiting_content) {
    get_on_content(p, line);
    return;
  }
  if (p->busy && p->pending.empty() && run_at_once(p, line)) return;
  p->pending.push_back(line);
  pump(p);
}

static void on_console_eof(void* ctx) {
  Peer* p = static_cast<Peer*>(ctx);
  p->eof = true;
  if (p->awaiting_content) {  // nobody left to choose: a content is never guessed
    p->awaiting_content = false;
    out_line("Error downloading file %s: no content was chosen", p->get.name.c_str());
    get_reset(p);
    cmd_failed(p, "no content was chosen");
    return;
  }
  if (p->awaiting_choice) {  // nobody left to answer: take the first peer
    p->awaiting_choice = false;
    p->get.order.clear();
    for (size_t i = 0; i < p->get.sources.size(); i++)
      p->get.order.push_back(i);
    get_start(p);
    return;
  }
  pump(p);
}

/* ----------------------------------------------------------------------------
 * Serving
 * ------------------------------------------------------------------------- */

static int lookup_served(void* ctx, const std::string& name, XferFile* out) {
  Peer* p = static_cast<Peer*>(ctx);
  auto it = p->files.find(name);
  if (it == p->files.end()) return -1;
  out->path = it->second.path;
  out->manifest = it->second.hashed ? &it->second.manifest : nullptr;
  out->have = it->second.have.empty() ? nullptr : &it->second.have;
  out->dev = it->second.dev;
  out->ino = it->second.ino;
  out->follow = it->second.follow;
  return 0;
}

// A request named a file whose path now holds something else: said once per share.
static void on_refused_served(void* ctx, const std::string& name, const std::string& why) {
  Peer* p = static_cast<Peer*>(ctx);
  auto it = p->files.find(name);
  if (it == p->files.end() || it->second.refusal_said) return;
  it->second.refusal_said = true;
  out_line(
      "Refused to serve %s: %s, not the file that was shared; share it again to serve what is "
      "there now",
      name.c_str(), why.c_str());
  log_line(&p->log, "Refused to serve %s: %s, not the file that was shared", name.c_str(),
           why.c_str());
}

/* ----------------------------------------------------------------------------
 * Heartbeats and healing: an extended tracker that no longer knows this peer
 * (it restarted, or expired us) is joined again with every file we serve.
 * ------------------------------------------------------------------------- */

static void tracker_answering(Peer* p) {
  if (!p->tracker_lost) return;
  p->tracker_lost = false;
  out_line("Tracker %s is answering again.", p->tc.name.c_str());
  log_line(&p->log, "Tracker %s is answering again.", p->tc.name.c_str());
}

static void tracker_silent(Peer* p, const std::string& err) {
  if (p->tracker_lost) return;  // said once; said again when it answers
  p->tracker_lost = true;
  out_fail("", err + " (will keep trying)");
  log_line(&p->log, "%s", err.c_str());
}

static void on_heartbeat_timer(uv_timer_t* t);

// The token of this peer id's last join, kept beside the log (.peer_ID.token,
// mode 0600): a peer restarted on the same --port shows it in its first join,
// so the tracker gives it its id back at once (without it, the id moves only
// once the old registration is found dead, and a live listener on that port
// looks alive). Small and rare: written and read on the loop thread.
static std::string token_path(const Peer* p) {
  std::string path = p->opt.log_path;
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".log") == 0)
    path.resize(path.size() - 4);
  return path + ".token";
}

static void token_save(Peer* p) {
  // A tt get's id is new each run: its token would never be used again.
  if (p->token.size() != kTokenHexLen || !p->opt.oneshot.empty()) return;
  std::string path = token_path(p);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;  // a convenience: without it a restart waits for the old id to expire
  std::string line = p->token + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    close(fd);
    unlink(path.c_str());
    return;
  }
  close(fd);
}

static void token_load(Peer* p) {
  if (!p->opt.oneshot.empty()) return;
  int fd = open(token_path(p).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  char buf[kTokenHexLen + 2];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n != static_cast<ssize_t>(kTokenHexLen + 1) || buf[kTokenHexLen] != '\n') return;
  std::string t(buf, kTokenHexLen);
  if (t.find_first_not_of("0123456789abcdef") == std::string::npos) p->token = t;
}

// Takes the token and heartbeat period from a join answer.
static void adopt_join_answer(Peer* p, const ProtoAnswer* ans) {
  p->token = ans->token;
  token_save(p);
  p->interval_s = ans->interval;
  if (p->interval_s > 0 && p->heartbeat_open) {
    uint64_t ms = static_cast<uint64_t>(p->interval_s) * 1000;
    uv_timer_start(&p->heartbeat, on_heartbeat_timer, ms, ms);
  }
}

static void on_reshare_answer(void*, int status, const ProtoAnswer* ans, const std::string& err) {
  if (status == UV_ECANCELED) return;
  if (status != 0)
    out_fail("", err);
  else if (ans->has_status && !ans->ok)
    out_fail("", "tracker: " + ans->message);
}

// The common start of answers to background requests (heartbeats, rejoins):
// true when there is an answer to look at.
static bool background_answered(Peer* p, int status, const std::string& err) {
  if (status == UV_ECANCELED) return false;
  p->heartbeat_busy = false;
  if (status != 0) {
    tracker_silent(p, err);
    return false;
  }
  tracker_answering(p);
  return true;
}

static void on_rejoin_answer(void* ctx, int status, const ProtoAnswer* ans,
                             const std::string& err) {
  Peer* p = static_cast<Peer*>(ctx);
  if (!background_answered(p, status, err)) return;
  if (ans->has_status && !ans->ok) {
    out_fail("", "tracker refused to let peer " + p->opt.id + " join again: " + ans->message);
    return;
  }
  adopt_join_answer(p, ans);
  // The join named the complete files; share_file tells the rest: those that did
  // not fit, partial copies (complete:false), and every size and content id.
  for (const auto& kv : p->files) {
    const PeerFile& f = kv.second;
    bool listed = std::find(p->reshare.begin(), p->reshare.end(), kv.first) == p->reshare.end() &&
                  f.have.empty();
    if (listed && !f.hashed) continue;
    ProtoRequest r = make_request(p, "share_file");
    r.file = kv.first;
    r.fields |= FLD_FILE;
    if (f.hashed) {
      r.size = static_cast<int64_t>(f.manifest.size);
      r.id = f.manifest.id;
      r.complete = f.have.empty();
      r.fields |= FLD_SIZE | FLD_ID | FLD_COMPLETE;
    }
    tc_request(&p->tc, r, kTrackerAnswerTimeoutMs, on_reshare_answer, p);
  }
  p->reshare.clear();
  size_t served = p->files.size();
  out_line("Peer %s joined the tracker %s again and re-shared %zu files", p->opt.id.c_str(),
           p->tc.name.c_str(), served);
  log_line(&p->log, "Peer %s joined the tracker %s again and re-shared %zu files",
           p->opt.id.c_str(), p->tc.name.c_str(), served);
}

// A join that lists every complete file we serve (as many as fit in a datagram);
// the answer's handler sends the rest.
static void rejoin(Peer* p) {
  ProtoRequest join = make_request(p, "join");
  join.fields &= ~FLD_TOKEN;
  join.fields |= FLD_FILES | FLD_TCP_PORT;
  join.tcp_port = p->srv.port;
  p->reshare.clear();
  size_t bytes = 256;
  for (const auto& kv : p->files) {
    if (!kv.second.have.empty()) continue;  // partial: announced as such after the join
    bytes += kv.first.size() * 2 + 4;       // room for escapes
    (bytes < kMaxRequestBytes / 2 ? join.files : p->reshare).push_back(kv.first);
  }
  p->heartbeat_busy = true;
  if (tc_request(&p->tc, join, kTrackerAnswerTimeoutMs, on_rejoin_answer, p) != 0)
    p->heartbeat_busy = false;
}

static void on_heartbeat_answer(void* ctx, int status, const ProtoAnswer* ans,
                                const std::string& err) {
  Peer* p = static_cast<Peer*>(ctx);
  if (!background_answered(p, status, err)) return;
  if (ans->has_status && !ans->ok) {
    // "Peer not found" (a restarted tracker) or a stale token: join again.
    out_line("Tracker %s answered: %s; joining again", p->tc.name.c_str(), ans->message.c_str());
    rejoin(p);
  }
}

static void on_heartbeat_timer(uv_timer_t* t) {
  Peer* p = static_cast<Peer*>(t->data);
  if (p->stopping || p->heartbeat_busy) return;
  ProtoRequest r = make_request(p, "heartbeat");
  int budget = p->interval_s * 1000 < kTrackerAnswerTimeoutMs ? p->interval_s * 1000
                                                              : kTrackerAnswerTimeoutMs;
  if (tc_request(&p->tc, r, budget, on_heartbeat_answer, p) == 0) p->heartbeat_busy = true;
}

/* ----------------------------------------------------------------------------
 * Lifetime
 * ------------------------------------------------------------------------- */

// Closes every handle the peer owns; the loop ends when the last one is gone
// (a cancelled fetch included).
static void close_all(Peer* p) {
  tc_close(&p->tc, nullptr, nullptr);
  if (p->progress_open) uv_close(reinterpret_cast<uv_handle_t*>(&p->progress), nullptr);
  p->progress_open = false;
  if (p->heartbeat_open) uv_close(reinterpret_cast<uv_handle_t*>(&p->heartbeat), nullptr);
  p->heartbeat_open = false;
  if (p->refresh_open) uv_close(reinterpret_cast<uv_handle_t*>(&p->refresh), nullptr);
  p->refresh_open = false;
  xfer_server_close(&p->srv, nullptr);
  gate_close(&p->upload);
  gate_close(&p->download);
  console_close(&p->console, nullptr);
  app_signals_close(&p->signals);
}

static void on_leave_answer(void* ctx, int status, const ProtoAnswer*, const std::string&) {
  if (status != UV_ECANCELED) close_all(static_cast<Peer*>(ctx));
}

static void peer_stop(Peer* p) {
  if (p->stopping) return;
  // A tt get stopped (a signal) before its download ended has failed.
  if (p->busy && !p->opt.oneshot.empty()) {
    progress_stop(p);  // the line starts at the left edge, not after the bar
    cmd_fail(p, "interrupted; verified pieces are kept: the same tt get resumes");
    p->failures++;
  }
  p->stopping = true;
  p->awaiting_choice = false;
  p->awaiting_content = false;
  if (p->get.fetch != nullptr) xfer_fetch_cancel(p->get.fetch);  // its callback frees it
  if (p->get.swarm != nullptr) swarm_cancel(p->get.swarm);       // verified pieces stay
  tc_cancel_all(&p->tc);
  if (!p->joined) {
    close_all(p);
    return;
  }
  out_line("Peer %s is leaving the network.", p->opt.id.c_str());
  ProtoRequest r = make_request(p, "leave");
  if (tc_request(&p->tc, r, kLeaveTimeoutMs, on_leave_answer, p) != 0) close_all(p);
}

// A word as the console reads it: in double quotes, with \ before " and \,
// when it holds a blank or either of those.
std::string peer_console_quote(const std::string& w) {
  if (!w.empty() && w.find_first_of(" \t\"\\") == std::string::npos) return w;
  std::string q = "\"";
  for (char ch : w) {
    if (ch == '"' || ch == '\\') q += '\\';
    q += ch;
  }
  return q + "\"";
}

// A word as a POSIX shell reads it: bare when it is plain, else in single
// quotes (a ' inside as '\'').
std::string peer_shell_quote(const std::string& w) {
  if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789._-+/:,@%=") == std::string::npos)
    return w;
  std::string q = "'";
  for (char ch : w)
    q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

// The command that resumes the interrupted download: the console's `get NAME`,
// or for tt get the same tt get (with its --dir and --tracker when not the default).
static std::string resume_command(const Peer* p) {
  const std::string& name = p->get.name;
  if (p->opt.oneshot.empty()) return "get " + peer_console_quote(name);
  std::string cmd = "tt get " + peer_shell_quote(p->opt.oneshot);  // as typed: a name or an id
  if (p->opt.dir != ".") cmd += " --dir " + peer_shell_quote(p->opt.dir);
  if (p->opt.tracker != PeerOptions().tracker)
    cmd += " --tracker " + peer_shell_quote(p->opt.tracker);
  return cmd;
}

// Stopped by a signal (Ctrl-C) in the middle of a download: say what is kept
// and how to go on.
static void say_interrupted(Peer* p) {
  if (p->stopping) return;
  const PeerGet* g = &p->get;
  std::string again = resume_command(p);
  if (g->swarm != nullptr) {
    uint32_t had = swarm_pieces_had(g->swarm);
    uint32_t count = manifest_piece_count(swarm_manifest(g->swarm));
    if (had > 0 && count > 0) {
      out_line("Interrupted: %u of %u pieces of %s are kept in %s; run '%s' again to resume.", had,
               count, g->name.c_str(), swarm_part_path(g->swarm).c_str(), again.c_str());
      return;
    }
  } else if (g->fetch == nullptr) {
    return;
  }
  out_line("Interrupted: nothing of %s is kept; run '%s' again to download it.", g->name.c_str(),
           again.c_str());
}

static void on_signal(void* ctx, int) {
  Peer* p = static_cast<Peer*>(ctx);
  say_interrupted(p);
  peer_stop(p);
}

static void on_join_answer(void* ctx, int status, const ProtoAnswer* ans, const std::string& err) {
  Peer* p = static_cast<Peer*>(ctx);
  if (status == UV_ECANCELED) return;
  p->tc.refused_is_final = false;  // later, a refusal is a tracker restarting: waited for
  if (status != 0 || (ans->has_status && !ans->ok)) {
    std::string why =
        status != 0 ? err : "tracker refused to let peer " + p->opt.id + " join: " + ans->message;
    out_fail(p->cmd, why);
    p->exit_code = 1;
    peer_stop(p);
    return;
  }
  p->joined = true;
  adopt_join_answer(p, ans);
  out_line("Peer %s joined the network on TCP port %d", p->opt.id.c_str(), p->srv.port);
  log_line(&p->log, "Peer %s joined the network on TCP port %d", p->opt.id.c_str(), p->srv.port);
  if (!p->opt.oneshot.empty()) {
    // tt get: the one command runs as if it were piped in alone, then the peer leaves.
    p->eof = true;
    int c = cmd_get(p, {p->opt.oneshot});
    if (c == CMD_ASYNC) p->busy = true;
    if (c == CMD_FAILED) p->failures++;
    pump(p);
    return;
  }
  int r = console_open(&p->console, p->loop, p, on_console_line, on_console_eof);
  if (r != 0) {
    out_fail("", std::string("cannot read commands from stdin: ") + uv_strerror(r));
    p->exit_code = 1;
    peer_stop(p);
    return;
  }
  if (console_is_tty(&p->console)) out_prompt(kPrompt);
}

static int peer_start(Peer* p) {
  int r = tc_open(&p->tc, p->loop, p->opt.tracker);
  if (r != 0) {
    fprintf(stderr, "tt peer: cannot use tracker address %s: %s\n", p->opt.tracker.c_str(),
            uv_strerror(r));
    return r;
  }
  gate_init(&p->upload, p->loop, p->opt.max_upload_rate);
  gate_init(&p->download, p->loop, p->opt.max_download_rate);
  p->srv.upload = &p->upload;
  p->srv.max_per_ip = static_cast<size_t>(p->opt.max_conns_per_ip);
  p->srv.on_refused = on_refused_served;
  p->srv.lookup = lookup_served;
  p->srv.ctx = p;
  r = xfer_server_start(&p->srv, p->loop, p->opt.host, p->opt.port);
  if (r != 0) {
    fprintf(stderr, "tt peer: cannot listen on TCP %s:%d: %s\n", p->opt.host.c_str(), p->opt.port,
            uv_strerror(r));
    return r;
  }
  if (!p->opt.log_path.empty() && (r = log_open(&p->log, p->opt.log_path)) != 0) {
    fprintf(stderr, "tt peer: cannot open log %s: %s\n", p->opt.log_path.c_str(), uv_strerror(r));
    return r;
  }
  if ((r = app_signals_start(&p->signals, p->loop, on_signal, p)) != 0) return r;
  uv_timer_init(p->loop, &p->progress);
  p->progress.data = p;
  p->progress_open = true;
  p->progress_tty = uv_guess_handle(2) == UV_TTY && !p->opt.quiet;
  uv_timer_init(p->loop, &p->heartbeat);
  p->heartbeat.data = p;
  p->heartbeat_open = true;
  uv_timer_init(p->loop, &p->refresh);
  p->refresh.data = p;
  p->refresh_open = true;
  token_load(p);  // the last run's, if any: it proves the id is ours
  // Nothing listening where the tracker should be is said at once, not after the wait.
  p->tc.refused_is_final = true;
  ProtoRequest join = make_request(p, "join");
  join.fields |= FLD_FILES | FLD_TCP_PORT;
  join.tcp_port = p->srv.port;
  return tc_request(&p->tc, join, kTrackerAnswerTimeoutMs, on_join_answer, p);
}

int peer_check_id(const std::string& id, std::string* why) {
  // The id names the log file (.peer_ID.log), so it follows the rules for names.
  if (id.size() > kMaxPeerIdBytes) {
    *why = "peer id is longer than 64 bytes";
    return -1;
  }
  if (proto_check_name(id, why) != 0) {
    if (why->compare(0, 9, "file name") == 0) why->replace(0, 9, "peer id");
    return -1;
  }
  return 0;
}

std::string peer_oneshot_id() {
  unsigned char b[4] = {0, 0, 0, 0};
  if (uv_random(nullptr, nullptr, b, sizeof b, 0, nullptr) != 0) {
    uint64_t t = uv_hrtime() ^ (static_cast<uint64_t>(getpid()) << 32);  // still unlikely to clash
    memcpy(b, &t, sizeof b);
  }
  char id[16];
  snprintf(id, sizeof id, "get-%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
  return id;
}

int peer_main(const PeerOptions& opt) {
  app_init_process();
  uv_loop_t loop;
  uv_loop_init(&loop);
  Peer* p = new Peer;
  p->loop = &loop;
  p->opt = opt;
  // tt get keeps no log unless asked: its id is new each run.
  if (p->opt.log_path.empty() && opt.oneshot.empty()) p->opt.log_path = ".peer_" + opt.id + ".log";
  if (!opt.oneshot.empty()) p->cmd = "get " + opt.oneshot;
  out_set_quiet(opt.quiet);
  int r = peer_start(p);
  if (r != 0) {
    p->exit_code = 1;
    p->stopping = true;
    close_all(p);
  }
  app_run(&loop);
  log_close(&p->log);
  int code = p->exit_code;
  if (code == 0 && p->failures > 0 && !console_is_tty(&p->console)) code = 1;
  delete p;
  return code;
}
