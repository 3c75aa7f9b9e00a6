// The tracker. One UDP entry point: decode and validate (proto.cc), look the
// action up in kActions, check its required fields, run its handler, send the
// answer from one reused buffer. State lives in the registry; see tracker.h.
#include "tracker.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

#include "proto.h"

/* ----------------------------------------------------------------------------
 * Actions
 * ------------------------------------------------------------------------- */

struct TrackerAction {
  const char* name;
  uint32_t required;  // ProtoField bits the handler relies on
  void (*handler)(Tracker* t, const ProtoRequest& req, const char* ip);
};

// Console lines are the seed's; quiet only in unit tests.
#define SAY(t, ...)                         \
  do {                                      \
    if (!(t)->quiet) out_line(__VA_ARGS__); \
  } while (0)

static void act_join(Tracker* t, const ProtoRequest& req, const char* ip) {
  reg_join(&t->reg, req.peer_id, ip, req.tcp_port, req.files);
  SAY(t, "Peer %s joined on TCP port %d", req.peer_id.c_str(), req.tcp_port);
  log_line(&t->log, "Peer %s joined on TCP port %d", req.peer_id.c_str(), req.tcp_port);
  proto_encode_ok(&t->answer);
}

static void act_share_file(Tracker* t, const ProtoRequest& req, const char*) {
  const char* id = req.peer_id.c_str();
  if (reg_add_file(&t->reg, req.peer_id, req.file) == REG_ENOPEER) {
    log_line(&t->log, "Peer %s shared file: %s, status: fail", id, req.file.c_str());
    proto_encode_error("Peer not found", &t->answer);
    return;
  }
  SAY(t, "Peer %s updated files: %s", id, req.file.c_str());
  log_line(&t->log, "Peer %s shared file: %s, status: success", id, req.file.c_str());
  proto_encode_ok(&t->answer);
}

static void act_get_peers(Tracker* t, const ProtoRequest& req, const char*) {
  std::vector<ProtoAddr> sources;
  reg_sources(&t->reg, req.file_name, req.peer_id, &sources);
  log_line(&t->log, "Peer %s wants peers' names with file: %s, status: %s", req.peer_id.c_str(),
           req.file_name.c_str(), sources.empty() ? "fail" : "success");
  proto_encode_peers(sources, kSeedAnswerMax, &t->answer);
}

static void act_got_the_file(Tracker* t, const ProtoRequest& req, const char*) {
  const char* id = req.peer_id.c_str();
  if (reg_add_file(&t->reg, req.peer_id, req.file_name) == REG_ENOPEER) {
    log_line(&t->log, "Peer %s downloaded the file file: %s, status: fail", id,
             req.file_name.c_str());
    proto_encode_error("Peer not found", &t->answer);
    return;
  }
  SAY(t, "Peer %s downloaded the file file: %s", id, req.file_name.c_str());
  log_line(&t->log, "Peer %s downloaded the file file: %s, status: success", id,
           req.file_name.c_str());
  proto_encode_ok(&t->answer);
}

static void act_leave(Tracker* t, const ProtoRequest& req, const char*) {
  if (reg_leave(&t->reg, req.peer_id) == REG_ENOPEER) {
    proto_encode_error("Peer not found", &t->answer);
    return;
  }
  SAY(t, "Peer %s left the network.", req.peer_id.c_str());
  log_line(&t->log, "Peer %s left the network.", req.peer_id.c_str());
  proto_encode_ok(&t->answer);
}

static const TrackerAction kActions[] = {
    {"join", FLD_PEER_ID | FLD_TCP_PORT, act_join},
    {"share_file", FLD_PEER_ID | FLD_FILE, act_share_file},
    {"get_peers", FLD_PEER_ID | FLD_FILE_NAME, act_get_peers},
    {"got_the_file", FLD_PEER_ID | FLD_FILE_NAME, act_got_the_file},
    {"leave", FLD_PEER_ID, act_leave},
};

static void refuse(Tracker* t, const char* ip, int port, const std::string& reason) {
  SAY(t, "Error handling request from %s:%d: %s", ip, port, reason.c_str());
  log_line(&t->log, "Error handling request from %s:%d: %s", ip, port, reason.c_str());
  proto_encode_error(reason, &t->answer);
}

void tracker_handle(Tracker* t, const char* data, size_t len, const char* ip, int port) {
  t->answer.clear();
  ProtoRequest req;
  std::string err;
  if (proto_decode_request(data, len, &req, &err) != 0) {
    refuse(t, ip, port, err);
    return;
  }
  const TrackerAction* act = nullptr;
  for (const TrackerAction& a : kActions) {
    if (req.action == a.name) act = &a;
  }
  if (act == nullptr) {
    refuse(t, ip, port, "unknown action '" + out_sanitize(req.action, 40) + "'");
    return;
  }
  uint32_t missing = act->required & ~req.fields;
  if (missing != 0) {
    uint32_t first = missing & (~missing + 1);
    refuse(t, ip, port,
           std::string("missing field '") + proto_field_name(first) + "' for " + act->name);
    return;
  }
  act->handler(t, req, ip);
}

/* ----------------------------------------------------------------------------
 * UDP
 * ------------------------------------------------------------------------- */

struct AnswerReq {
  uv_udp_send_t req;
  std::string data;
};

static void send_answer(Tracker* t, const struct sockaddr* to) {
  if (t->answer.empty()) return;
  uv_buf_t b = uv_buf_init(&t->answer[0], static_cast<unsigned>(t->answer.size()));
  int r = uv_udp_try_send(&t->udp, &b, 1, to);
  if (r >= 0) return;
  if (r != UV_EAGAIN) return;  // the sender's problem (unreachable, ...): nothing to keep
  // The socket buffer is full: queue a copy.
  AnswerReq* a = new AnswerReq;
  a->data = t->answer;
  a->req.data = a;
  b = uv_buf_init(&a->data[0], static_cast<unsigned>(a->data.size()));
  if (uv_udp_send(&a->req, &t->udp, &b, 1, to,
                  [](uv_udp_send_t* rq, int) { delete static_cast<AnswerReq*>(rq->data); }) != 0)
    delete a;
}

static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Tracker* t = static_cast<Tracker*>(h->data);
  buf->base = t->rbuf;
  buf->len = sizeof t->rbuf;
}

static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const struct sockaddr* addr,
                    unsigned flags) {
  Tracker* t = static_cast<Tracker*>(h->data);
  if (addr == nullptr || nread < 0) return;  // nothing more to read, or a transient error
  if (addr->sa_family != AF_INET) return;
  char ip[INET_ADDRSTRLEN];
  const struct sockaddr_in* sin = reinterpret_cast<const struct sockaddr_in*>(addr);
  uv_ip4_name(sin, ip, sizeof ip);
  int port = ntohs(sin->sin_port);
  if (flags & UV_UDP_PARTIAL) {
    t->answer.clear();
    refuse(t, ip, port, "datagram too large");
  } else {
    tracker_handle(t, buf->base, static_cast<size_t>(nread), ip, port);
  }
  send_answer(t, addr);
}

/* ----------------------------------------------------------------------------
 * Console
 * ------------------------------------------------------------------------- */

static void tracker_stop(Tracker* t);

static bool line_is_shared(const std::string& line, void*) {
  return line.find("shared") != std::string::npos;
}

static bool line_is_about(const std::string& line, void* ctx) {
  const std::string* name = static_cast<const std::string*>(ctx);
  return line.find("file: " + *name + ", status: ") != std::string::npos;
}

static void print_log_error(Tracker* t, int r) {
  out_line("Error: cannot read %s: %s", t->log.path.c_str(), uv_strerror(r));
}

static void cmd_logs_request(void* owner, const std::vector<std::string>&) {
  Tracker* t = static_cast<Tracker*>(owner);
  out_line("Logs from tracker.log:");
  int r = log_print_matching(t->log.path, nullptr, nullptr, stdout);
  if (r < 0) print_log_error(t, r);
}

static void cmd_all_logs(void* owner, const std::vector<std::string>&) {
  Tracker* t = static_cast<Tracker*>(owner);
  int r = log_print_matching(t->log.path, line_is_shared, nullptr, stdout);
  if (r < 0) print_log_error(t, r);
}

static void cmd_file_logs(void* owner, const std::vector<std::string>& args) {
  Tracker* t = static_cast<Tracker*>(owner);
  // The seed takes the rest of the line as the name, so "file_logs my notes.txt" works.
  std::string name = args[0];
  for (size_t i = 1; i < args.size(); i++)
    name += " " + args[i];
  int r = log_print_matching(t->log.path, line_is_about, &name, stdout);
  if (r < 0) print_log_error(t, r);
  if (r == 0) out_line("File name does not exist.");
}

static void cmd_help(void* owner, const std::vector<std::string>&);

static void cmd_exit(void* owner, const std::vector<std::string>&) {
  tracker_stop(static_cast<Tracker*>(owner));
}

static const ConsoleCmd kCommands[] = {
    {"logs request", "", "print every log line", 0, 0, cmd_logs_request},
    {"all-logs", "", "print the log lines about sharing", 0, 0, cmd_all_logs},
    {"file_logs", "NAME", "print the log lines about file NAME", 1, 64, cmd_file_logs},
    {"help", "", "print this list", 0, 0, cmd_help},
    {"exit", "", "stop the tracker", 0, 0, cmd_exit},
};

static void cmd_help(void*, const std::vector<std::string>&) {
  console_print_help(kCommands, sizeof kCommands / sizeof kCommands[0]);
}

static void on_console_line(void* ctx, const std::string& line, bool too_long) {
  Tracker* t = static_cast<Tracker*>(ctx);
  if (t->stopping) return;
  if (too_long) {
    out_line("Error: console line too long");
    return;
  }
  ConsoleParsed p;
  int r = console_parse(kCommands, sizeof kCommands / sizeof kCommands[0], line, &p);
  if (r == CONSOLE_EMPTY) return;
  if (r == CONSOLE_UNKNOWN) {
    out_line("Please enter a valid command!");
    return;
  }
  if (r == CONSOLE_BADARGS) {
    out_line("Error: %s", p.error.c_str());
    return;
  }
  p.cmd->handler(t, p.args);
}

// End of stdin does not stop a tracker: `tt tracker </dev/null &` is a service.
static void on_console_eof(void*) {}

/* ----------------------------------------------------------------------------
 * Lifetime
 * ------------------------------------------------------------------------- */

static void tracker_stop(Tracker* t) {
  if (t->stopping) return;
  t->stopping = true;
  if (t->udp_open) uv_close(reinterpret_cast<uv_handle_t*>(&t->udp), nullptr);
  app_signals_close(&t->signals);
  console_close(&t->console, nullptr);
}

static void on_signal(void* ctx, int) {
  tracker_stop(static_cast<Tracker*>(ctx));
}

static int tracker_start(Tracker* t) {
  struct sockaddr_in addr;
  int r = uv_ip4_addr(t->opt.host.c_str(), t->opt.port, &addr);
  if (r != 0) {
    fprintf(stderr, "tt tracker: bad --host %s: %s\n", t->opt.host.c_str(), uv_strerror(r));
    return r;
  }
  if ((r = uv_udp_init(t->loop, &t->udp)) != 0) return r;
  t->udp_open = true;
  t->udp.data = t;
  r = uv_udp_bind(&t->udp, reinterpret_cast<const struct sockaddr*>(&addr), 0);
  if (r != 0) {
    fprintf(stderr, "tt tracker: cannot bind UDP %s:%d: %s\n", t->opt.host.c_str(), t->opt.port,
            uv_strerror(r));
    return r;
  }
  struct sockaddr_in bound;
  int len = sizeof bound;
  uv_udp_getsockname(&t->udp, reinterpret_cast<struct sockaddr*>(&bound), &len);
  int port = ntohs(bound.sin_port);
  if ((r = log_open(&t->log, t->opt.log_path)) != 0) {
    fprintf(stderr, "tt tracker: cannot open log %s: %s\n", t->opt.log_path.c_str(),
            uv_strerror(r));
    return r;
  }
  if ((r = uv_udp_recv_start(&t->udp, on_alloc, on_recv)) != 0) return r;
  if ((r = app_signals_start(&t->signals, t->loop, on_signal, t)) != 0) return r;
  out_line("Tracker started at %s:%d", t->opt.host.c_str(), port);
  log_line(&t->log, "Tracker started at %s:%d", t->opt.host.c_str(), port);
  out_line("Tracker running at %s:%d", t->opt.host.c_str(), port);
  return console_open(&t->console, t->loop, t, on_console_line, on_console_eof);
}

int tracker_main(const TrackerOptions& opt) {
  app_init_process();
  uv_loop_t loop;
  uv_loop_init(&loop);
  Tracker* t = new Tracker;
  t->loop = &loop;
  t->opt = opt;
  int r = tracker_start(t);
  if (r != 0) tracker_stop(t);
  app_run(&loop);
  log_close(&t->log);
  delete t;
  return r == 0 ? 0 : 1;
}
