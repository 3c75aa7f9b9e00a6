// The tracker. One UDP entry point: decode and validate (proto.cc), look the
// action up in kActions, check its required fields, run its handler, send the
// answer from one reused buffer. State lives in the registry; see tracker.h.
#include "tracker.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "bep15.h"
#include "hex.h"
#include "manifest.h"
#include "out.h"
#include "proto.h"

/* ----------------------------------------------------------------------------
 * Tokens
 * ------------------------------------------------------------------------- */

// HMAC-SHA256 under the tracker's key (hmac.cc keeps the keyed context).
static void keyed_mac(const Tracker* t, const void* msg, size_t len, unsigned char out[kHmacLen]) {
  if (t->mac.ctx != nullptr && hmac_sha256(&t->mac, msg, len, out) == 0) return;
  // OpenSSL failed: random bytes, so no token or connection id is guessable
  // (the one made here matches nothing later).
  RAND_bytes(out, static_cast<int>(kHmacLen));
}

int tracker_init_key(Tracker* t) {
  if (RAND_bytes(t->key, sizeof t->key) != 1) {
    // No entropy source: fall back to the clock and pid, still unguessable from afar.
    uint64_t seed[2] = {uv_hrtime(), static_cast<uint64_t>(uv_os_getpid())};
    SHA256(reinterpret_cast<unsigned char*>(seed), sizeof seed, t->key);
  }
  return hmac_init(&t->mac, t->key, sizeof t->key);
}

// A keyed hash of who joined from where: it changes when the tracker restarts
// (the peer then finds itself unknown and joins again). Computed at each join
// and kept with the peer (RegPeer::token), so a request's check is a compare.
static void token_bytes(const Tracker* t, const std::string& id, const std::string& ip,
                        int tcp_port, unsigned char out[kTokenHexLen / 2]) {
  std::string msg = id + '\0' + ip + '\0' + std::to_string(tcp_port);
  unsigned char mac[kHmacLen];
  keyed_mac(t, msg.data(), msg.size(), mac);
  memcpy(out, mac, kTokenHexLen / 2);
}

std::string tracker_token(const Tracker* t, const std::string& id, const std::string& ip,
                          int tcp_port) {
  unsigned char b[kTokenHexLen / 2];
  token_bytes(t, id, ip, tcp_port, b);
  return manifest_hex(b, kTokenHexLen / 2);
}

uint64_t tracker_bt_connection_id(const Tracker* t, uint32_t ip_n, int port, int64_t now_ms) {
  // "bt", the address, the port and the minute: 15 bytes, one HMAC block.
  uint64_t window = static_cast<uint64_t>(now_ms / kBtConnectionWindowMs);
  unsigned char msg[16] = {'b', 't'};
  memcpy(msg + 2, &ip_n, 4);
  msg[6] = static_cast<unsigned char>(port >> 8);
  msg[7] = static_cast<unsigned char>(port);
  for (int i = 0; i < 8; i++)
    msg[8 + i] = static_cast<unsigned char>(window >> (56 - 8 * i));
  unsigned char mac[kHmacLen];
  keyed_mac(t, msg, sizeof msg, mac);
  uint64_t id = 0;
  for (int i = 0; i < 8; i++)
    id = id << 8 | mac[i];
  // The id leads announce and scrape datagrams: its first byte (on the wire,
  // the top one) must never be '{', which sends a datagram to the JSON path.
  return id | 1ull << 63;
}

BtLimits tracker_bt_limits(const TrackerOptions& opt) {
  BtLimits lim;
  lim.max_swarms = static_cast<size_t>(opt.bt_max_swarms);
  lim.max_peers = static_cast<size_t>(opt.bt_max_peers);
  lim.max_peers_per_ip = static_cast<size_t>(opt.bt_max_peers_per_ip);
  lim.interval_s = opt.bt_interval_s;
  lim.min_interval_s = opt.bt_interval_s / 2 > 0 ? opt.bt_interval_s / 2 : 1;
  return lim;
}

/* ----------------------------------------------------------------------------
 * Actions
 * ------------------------------------------------------------------------- */

// One request on its way through the table: decoded, with its sender.
struct Call {
  const ProtoRequest& req;
  const char* ip;
  uint32_t ip_n;  // ip in network byte order
  int port;
  uint32_t self;       // the requester's slot in the registry (kRegNone: unknown)
  bool authenticated;  // carried the holder's token
  ProtoReply& reply;   // the tracker's, reused
  std::string probe_id;
  int refusal = REF_OTHER;  // why, when the answer is an error (StatsRefusal)
};

enum ActionFlags : unsigned {
  ACT_OWNER = 1u << 0,  // acts for peer_id: only its holder may send it
};

struct TrackerAction {
  const char* name;
  size_t name_len;
  uint32_t required;  // ProtoField bits the handler relies on
  unsigned flags;
  int (*handler)(Tracker* t, Call* c);
};

// Console lines are the seed's; quiet only in unit tests.
#define SAY(t, ...)                         \
  do {                                      \
    if (!(t)->quiet) out_line(__VA_ARGS__); \
  } while (0)

static int reply_error(Call* c, const std::string& message) {
  c->reply.kind = ProtoReply::ERROR;
  c->reply.message = message;
  return TRACKER_ANSWER;
}

// An error answer counted under `reason` (StatsRefusal).
static int refuse(Call* c, int reason, const std::string& message) {
  c->refusal = reason;
  return reply_error(c, message);
}

static void remove_peer(Tracker* t, const std::string& id);

static int heartbeat_interval_s(const Tracker* t) {
  return t->opt.peer_ttl_s / 3 > 1 ? t->opt.peer_ttl_s / 3 : 1;
}

// A refusal for a registration past a cap (reg_join/reg_add_file said REG_FULL).
static int reply_full(Tracker* t, Call* c) {
  char ip[16];
  proto_ip_format(c->ip_n, ip);
  return refuse(c, REF_LIMIT,
                std::string("too many files registered from ") + ip + " (at most " +
                    std::to_string(t->reg.max_files_per_ip) + " per address, " +
                    std::to_string(kMaxFilesPerPeer) + " per peer id, " +
                    std::to_string(kMaxRegistrations) + " in all); nothing was changed");
}

// Whether `hex` (32 hex digits, checked by the decoder) is the peer's token.
static bool token_matches(const std::string& hex, const RegPeer& p);

// The id is held by a peer that may be alive: refused when a probe found it
// alive a moment ago, else the join waits for a probe.
static int join_held(Tracker* t, Call* c, const RegPeer* h) {
  const ProtoRequest& req = c->req;
  auto alive = t->probed_alive.find(req.peer_id);
  if (alive == t->probed_alive.end() || t->now - alive->second > kProbeFreshMs) {
    c->probe_id = req.peer_id;  // is the holder still there? the answer waits for a probe
    return TRACKER_PROBE;
  }
  char ip[16];
  proto_ip_format(h->ip, ip);
  return refuse(c, REF_ID_HELD,
                "peer id " + out_sanitize(req.peer_id, 40) + " is held by a live peer at " + ip +
                    ":" + std::to_string(h->tcp_port) + "; choose another id");
}

static int act_join(Tracker* t, Call* c) {
  const ProtoRequest& req = c->req;
  const RegPeer* h = c->self == kRegNone ? nullptr : &t->reg.peers[c->self];
  if (h == nullptr && reg_peer_count(&t->reg) >= kMaxPeers)
    return refuse(c, REF_LIMIT, "the tracker is full; try again later");
  // The same IP and TCP port: the same process for a seed holder (it has
  // nothing else to show), but a tt holder's id moves only with its token, from
  // the very socket that joined, or after a probe finds it gone.
  if (h != nullptr && h->extended && h->ip == c->ip_n && h->tcp_port == req.tcp_port &&
      h->udp_port != c->port && !((req.fields & FLD_TOKEN) && token_matches(req.token, *h)) &&
      reg_is_alive(&t->reg, *h, t->now))
    return join_held(t, c, h);
  if ((h == nullptr || h->ip != c->ip_n) &&
      reg_ip_count(&t->reg, c->ip_n).ids >= static_cast<uint32_t>(t->opt.max_ids_per_ip)) {
    char ip[16];
    proto_ip_format(c->ip_n, ip);
    return refuse(c, REF_LIMIT,
                  std::string("too many peer ids from ") + ip + " (the limit is " +
                      std::to_string(t->opt.max_ids_per_ip) + "); try again later");
  }
  proto_source_blob(req.peer_id, c->ip_n, req.tcp_port, &t->blob);
  int r = reg_join(
      &t->reg,
      RegJoin{req.peer_id, c->ip_n, req.tcp_port, c->port, req.files, req.extended, t->blob},
      t->now);
  if (r == REG_FULL) return reply_full(t, c);
  if (r == REG_CONFLICT) return join_held(t, c, reg_find(&t->reg, req.peer_id));
  RegPeer* p = reg_find(&t->reg, req.peer_id);
  if (p != nullptr) token_bytes(t, req.peer_id, c->ip, req.tcp_port, p->token);
  t->probe_missed.erase(req.peer_id);
  SAY(t, "Peer %s joined on TCP port %d", req.peer_id.c_str(), req.tcp_port);
  log_line(&t->log, "Peer %s joined on TCP port %d", req.peer_id.c_str(), req.tcp_port);
  if (req.extended) {
    c->reply.interval = heartbeat_interval_s(t);
    c->reply.token = p != nullptr ? manifest_hex(p->token, kTokenHexLen / 2) : std::string();
  }
  return TRACKER_ANSWER;
}

// A refusal for one content too many under a name from one address (REG_CROWDED).
static int reply_crowded(Tracker* t, Call* c, const std::string& name) {
  return refuse(c, REF_LIMIT,
                "this address already introduced " + std::to_string(t->reg.max_contents_per_ip) +
                    " other contents under the name " + out_sanitize(name, 80) +
                    "; share this one under another name");
}

// A refusal for a size that contradicts the content id's (REG_MISMATCH): an id
// has one size, the one it was first announced with.
static int reply_mismatch(Call* c, const std::string& cid, int64_t size) {
  return refuse(c, REF_MISMATCH,
                "content id " + cid.substr(0, 16) + "... is not " + std::to_string(size) +
                    " bytes (its size was announced before); nothing was changed");
}

static int act_share_file(Tracker* t, Call* c) {
  const char* id = c->req.peer_id.c_str();
  const ProtoRequest& r = c->req;
  int rr = reg_add_file(&t->reg, r.peer_id, RegCopy{r.file, r.id, r.size, r.complete}, t->now);
  if (rr == REG_FULL) return reply_full(t, c);
  if (rr == REG_CROWDED) return reply_crowded(t, c, r.file);
  if (rr == REG_MISMATCH) return reply_mismatch(c, r.id, r.size);
  // The sharer learns when the name already carries other content: downloaders
  // of the name will be asked to choose.
  if (r.extended && !r.id.empty())
    c->reply.others = static_cast<int64_t>(reg_other_contents(&t->reg, r.file, r.id));
  SAY(t, "Peer %s updated files: %s", id, c->req.file.c_str());
  log_line(&t->log, "Peer %s shared file: %s, status: success", id, c->req.file.c_str());
  return TRACKER_ANSWER;
}

static int act_get_peers(Tracker* t, Call* c) {
  const ProtoRequest& req = c->req;
  size_t want = req.extended ? kDefaultNumwant : kSeedNumwant;
  if (req.fields & FLD_NUMWANT)
    want = static_cast<size_t>(req.numwant < kMaxNumwant ? req.numwant : kMaxNumwant);
  c->reply.kind = ProtoReply::PEERS;
  RegFileInfo& info = t->info;
  reg_sources(&t->reg, RegAsk{req.file_name, req.id, c->self, want}, t->now, &c->reply.sources,
              &info);
  c->reply.size = info.size;
  c->reply.cid = info.cid;
  if (req.extended) {
    c->reply.name = info.name;
    // Several contents fit: the asker chooses (first_seen in Unix seconds).
    int64_t wall = static_cast<int64_t>(time(nullptr));
    for (const RegContentInfo& k : info.contents)
      c->reply.contents.push_back(
          ProtoContent{k.cid, k.size, k.holders, wall - (t->now - k.first_seen) / 1000});
    c->reply.contents_total = static_cast<int64_t>(info.contents_total);
  }
  log_line(&t->log, "Peer %s wants peers' names with file: %s, status: %s", req.peer_id.c_str(),
           req.file_name.c_str(), c->reply.sources.empty() ? "fail" : "success");
  return TRACKER_ANSWER;
}

static int act_got_the_file(Tracker* t, Call* c) {
  const char* id = c->req.peer_id.c_str();
  const ProtoRequest& r = c->req;
  int rr = reg_add_file(&t->reg, r.peer_id, RegCopy{r.file_name, r.id, r.size, true}, t->now);
  if (rr == REG_FULL) return reply_full(t, c);
  if (rr == REG_CROWDED) return reply_crowded(t, c, c->req.file_name);
  if (rr == REG_MISMATCH) return reply_mismatch(c, c->req.id, c->req.size);
  SAY(t, "Peer %s downloaded the file file: %s", id, c->req.file_name.c_str());
  log_line(&t->log, "Peer %s downloaded the file file: %s, status: success", id,
           c->req.file_name.c_str());
  return TRACKER_ANSWER;
}

static int act_heartbeat(Tracker*, Call*) {
  return TRACKER_ANSWER;
}  // authorization touched it

static int act_leave(Tracker* t, Call* c) {
  remove_peer(t, c->req.peer_id);
  SAY(t, "Peer %s left the network.", c->req.peer_id.c_str());
  log_line(&t->log, "Peer %s left the network.", c->req.peer_id.c_str());
  return TRACKER_ANSWER;
}

// A page of the tracker's files: at most limit rows (kDefaultListRows when not
// given, kMaxListRows at most), and as many of them as fit in a proven owner's
// answer (kMaxAnswerBytes), the cursor then set after the last one sent. Only
// a peer that shows its token is answered with rows: a list answer is long for
// a short request, and a forged source address must not aim it at anyone.
static int act_list(Tracker* t, Call* c) {
  const ProtoRequest& req = c->req;
  if (!(c->authenticated && req.extended))
    return refuse(c, REF_NOT_OWNER,
                  "list answers a peer that shows its token (join with \"v\":1 first)");
  size_t limit = kDefaultListRows;
  if (req.fields & FLD_LIMIT)
    limit = static_cast<size_t>(req.limit < kMaxListRows ? req.limit : kMaxListRows);
  uint64_t cursor = req.cursor;
  std::vector<RegFileRow> rows;
  reg_list_files(&t->reg, &cursor, limit, &rows);
  ProtoReply& reply = c->reply;
  reply.kind = ProtoReply::LIST;
  reply.rows.resize(rows.size());
  for (size_t i = 0; i < rows.size(); i++) {
    ProtoListRow& r = reply.rows[i];
    r.name.swap(rows[i].name);
    r.cid.swap(rows[i].cid);
    r.size = rows[i].size;
    r.holders = rows[i].holders;
    r.complete = rows[i].complete;
  }
  reply.next = cursor;
  reply.total = static_cast<int64_t>(reg_file_count(&t->reg));
  size_t fit = proto_list_fit(reply, req, kMaxAnswerBytes);
  if (fit < rows.size()) {
    // The page ends after the rows that fit: the same walk, that many rows
    // (nothing changed meanwhile). A row too long for any answer cannot
    // happen (a name is at most 255 bytes), but would be passed over rather
    // than asked for forever.
    cursor = req.cursor;
    reg_list_files(&t->reg, &cursor, fit > 0 ? fit : 1, &rows);
    reply.rows.resize(fit);
    reply.next = cursor;
  }
  return TRACKER_ANSWER;
}

#define ACTION(name) name, sizeof name - 1
static const TrackerAction kActions[] = {
    {ACTION("join"), FLD_PEER_ID | FLD_TCP_PORT, 0, act_join},
    {ACTION("share_file"), FLD_PEER_ID | FLD_FILE, ACT_OWNER, act_share_file},
    {ACTION("get_peers"), FLD_PEER_ID | FLD_FILE_NAME, 0, act_get_peers},
    {ACTION("got_the_file"), FLD_PEER_ID | FLD_FILE_NAME, ACT_OWNER, act_got_the_file},
    {ACTION("heartbeat"), FLD_PEER_ID, ACT_OWNER, act_heartbeat},
    {ACTION("leave"), FLD_PEER_ID, ACT_OWNER, act_leave},
    {ACTION("list"), FLD_PEER_ID, 0, act_list},
};
#undef ACTION
static constexpr size_t kActionCount = sizeof kActions / sizeof kActions[0];
static_assert(kActionCount < kStatsMaxActions, "Stats: one slot per action and one for the rest");

static void log_refusal(Tracker* t, const char* ip, int port, const std::string& reason) {
  // A flood of bad datagrams must not flood the console and the disk: at most
  // kMaxRefusalLinesPerSec lines a second, and a count of the rest.
  int64_t second = t->now / 1000;
  if (second != t->refusal_second) {
    if (t->refusals_hidden > 0) {
      SAY(t, "(%d more refused requests not shown)", t->refusals_hidden);
      log_line(&t->log, "(%d more refused requests not shown)", t->refusals_hidden);
    }
    t->refusal_second = second;
    t->refusal_lines = 0;
    t->refusals_hidden = 0;
  }
  if (++t->refusal_lines > kMaxRefusalLinesPerSec) {
    t->refusals_hidden++;
    return;
  }
  SAY(t, "Error handling request from %s:%d: %s", ip, port, reason.c_str());
  log_line(&t->log, "Error handling request from %s:%d: %s", ip, port, reason.c_str());
}

static bool token_matches(const std::string& hex, const RegPeer& p) {
  if (hex.size() != kTokenHexLen) return false;
  const char* h = hex.data();
  unsigned char b[kTokenHexLen / 2];
  for (size_t i = 0; i < sizeof b; i++)  // (the decoder let only hex digits through)
    b[i] = static_cast<unsigned char>(hex_digit(h[2 * i]) << 4 | hex_digit(h[2 * i + 1]));
  return CRYPTO_memcmp(b, p.token, sizeof b) == 0;
}

// Whether the sender may act for req.peer_id (PROTOCOL §1, ownership): the id's
// holder must be known, the request must come from the address (ip and UDP
// port) its join came from, and a holder
// that joined with "v":1 must show the token its join answer gave it.
static int authorize(Tracker* t, Call* c, const TrackerAction* act, std::string* why) {
  const ProtoRequest& req = c->req;
  const RegPeer* h = c->self == kRegNone ? nullptr : &t->reg.peers[c->self];
  // Proven: the token of the holder, from the holder's address.
  if (h != nullptr && (req.fields & FLD_TOKEN) && h->ip == c->ip_n && h->udp_port == c->port)
    c->authenticated = token_matches(req.token, *h);
  if (!(act->flags & ACT_OWNER)) return 0;
  if (h == nullptr) {
    c->refusal = REF_NOT_FOUND;
    *why = "Peer not found";
    return -1;
  }
  if (h->ip != c->ip_n || h->udp_port != c->port) {
    c->refusal = REF_NOT_OWNER;
    *why = "peer id " + out_sanitize(req.peer_id, 40) + " belongs to another address";
    return -1;
  }
  if (h->extended && !c->authenticated) {
    c->refusal = REF_NOT_OWNER;
    *why = "missing or wrong token for peer " + out_sanitize(req.peer_id, 40) + " (join again)";
    return -1;
  }
  return 0;
}

// A datagram's sender: its IPv4 address as text (for log lines) and as a
// number (network byte order), and its UDP port.
struct Sender {
  const char* ip;
  uint32_t ip_n;
  int port;
};

static int handle(Tracker* t, const char* data, size_t len, const Sender& from,
                  std::string* probe_id);

/* ----------------------------------------------------------------------------
 * Probes, as rules: who may start one, who may wait for one
 * ------------------------------------------------------------------------- */

static uint64_t probe_target(const RegPeer& h) {
  return static_cast<uint64_t>(h.ip) << 16 | h.tcp_port;
}

// Books a probe of id's holder for `sender` (0: the sweep), within the limits:
// kMaxProbes in all, one per target address, kMaxProbesPerSender per IP.
static int probe_book(Tracker* t, const std::string& id, uint32_t sender, std::string* why) {
  const RegPeer* h = reg_find(&t->reg, id);
  if (h == nullptr) {
    *why = "Peer not found";
    return -1;
  }
  uint64_t target = probe_target(*h);
  if (t->waiting.size() >= static_cast<size_t>(kMaxProbes) || t->probe_targets.count(target) != 0) {
    *why = "checking whether the holder of peer id " + out_sanitize(id, 40) +
           " is alive; try again in a moment";
    return -1;
  }
  if (sender != 0 && t->probe_senders[sender] >= kMaxProbesPerSender) {
    *why = "too many liveness checks asked for from this address; try again in a moment";
    return -1;
  }
  ProbeWait& w = t->waiting[id];
  w.target = target;
  w.sender = sender;
  t->probe_targets[target]++;
  if (sender != 0) t->probe_senders[sender]++;
  return 0;
}

// Ends the bookkeeping of id's probe; its waiters go to *waiters (optional).
static void probe_unbook(Tracker* t, const std::string& id, std::vector<Waiter>* waiters) {
  auto it = t->waiting.find(id);
  if (it == t->waiting.end()) return;
  ProbeWait& w = it->second;
  for (const Waiter& x : w.waiters)
    t->waiting_bytes -= x.datagram.size();
  if (--t->probe_targets[w.target] == 0) t->probe_targets.erase(w.target);
  if (w.sender != 0 && --t->probe_senders[w.sender] == 0) t->probe_senders.erase(w.sender);
  if (waiters != nullptr) waiters->swap(w.waiters);
  t->waiting.erase(it);
}

bool tracker_probe_begin(Tracker* t, const std::string& id) {
  std::string why;
  return t->waiting.count(id) == 0 && probe_book(t, id, 0, &why) == 0;
}

// A join (the datagram data[0, len), from c's sender) that needs a probe of
// c.probe_id's holder: it waits for a probe that runs (once per sender address,
// a few per probe, kMaxWaitingBytes in all), or a new one is booked
// (TRACKER_PROBE). Else TRACKER_ANSWER with *why to answer at once.
static int probe_wait(Tracker* t, const Call& c, const char* data, size_t len, std::string* why) {
  const std::string& id = c.probe_id;
  uint32_t ip_n = c.ip_n;
  Waiter w;
  memset(&w.from, 0, sizeof w.from);
  w.from.sin_family = AF_INET;
  w.from.sin_addr.s_addr = ip_n;
  w.from.sin_port = htons(static_cast<uint16_t>(c.port));
  auto it = t->waiting.find(id);
  int r = TRACKER_WAIT;
  if (it != t->waiting.end()) {
    for (const Waiter& x : it->second.waiters) {
      // A retransmission: the join already waiting gets the answer.
      if (x.from.sin_addr.s_addr == ip_n && x.from.sin_port == w.from.sin_port) return TRACKER_WAIT;
    }
    if (it->second.waiters.size() >= kMaxProbeWaiters ||
        t->waiting_bytes + len > kMaxWaitingBytes) {
      *why = "checking whether the holder of peer id " + out_sanitize(id, 40) +
             " is alive; try again in a moment";
      return TRACKER_ANSWER;
    }
  } else {
    if (t->waiting_bytes + len > kMaxWaitingBytes) {
      *why = "checking whether the holders of other peer ids are alive; try again in a moment";
      return TRACKER_ANSWER;
    }
    if (probe_book(t, id, ip_n, why) != 0) return TRACKER_ANSWER;
    it = t->waiting.find(id);
    r = TRACKER_PROBE;
  }
  w.datagram.assign(data, len);
  t->waiting_bytes += len;
  it->second.waiters.push_back(std::move(w));
  return r;
}

int tracker_handle(Tracker* t, const std::string& datagram, const char* ip, int port,
                   std::string* probe_id) {
  uint32_t ip_n = 0;
  inet_pton(AF_INET, ip, &ip_n);
  return handle(t, datagram.data(), datagram.size(), Sender{ip, ip_n, port}, probe_id);
}

int tracker_handle_from(Tracker* t, const char* data, size_t len, const struct sockaddr_in* from,
                        std::string* probe_id) {
  char ip[INET_ADDRSTRLEN];
  proto_ip_format(from->sin_addr.s_addr, ip);
  return handle(t, data, len, Sender{ip, from->sin_addr.s_addr, ntohs(from->sin_port)}, probe_id);
}

/* ----------------------------------------------------------------------------
 * BitTorrent (BEP 15)
 * ------------------------------------------------------------------------- */

// An error answer, never longer than the request it answers: an error is all a
// sender without a valid connection id can get, so a forged source address
// gains nothing from it.
static int bt_error(Tracker* t, uint32_t tid, const char* message, size_t request_len) {
  t->stats.bt_requests[BT_REQ_ERROR]++;
  bep15_encode_error(tid, message, request_len, &t->answer);
  return TRACKER_ANSWER;
}

// A BEP 15 datagram (bep15_is_request said so). Announces and scrapes are
// counted, not logged (a busy swarm would flood the log); refusals by a cap
// are logged like the JSON side's, at most kMaxRefusalLinesPerSec a second.
static int bt_handle(Tracker* t, const uint8_t* d, size_t len, const Sender& from) {
  const char* ip = from.ip;
  uint32_t ip_n = from.ip_n;
  int port = from.port;
  Bep15Request& r = t->bt_req;
  const char* why = nullptr;
  if (bep15_decode_request(d, len, &r, &why) != 0) return bt_error(t, r.transaction_id, why, len);
  if (r.action == BEP15_CONNECT) {
    t->stats.bt_requests[BT_REQ_CONNECT]++;
    bep15_encode_connect(r.transaction_id, tracker_bt_connection_id(t, ip_n, port, t->now),
                         &t->answer);
    return TRACKER_ANSWER;
  }
  t->stats.bt_requests[r.action == BEP15_ANNOUNCE ? BT_REQ_ANNOUNCE : BT_REQ_SCRAPE]++;
  if (r.connection_id != tracker_bt_connection_id(t, ip_n, port, t->now) &&
      r.connection_id != tracker_bt_connection_id(t, ip_n, port, t->now - kBtConnectionWindowMs))
    return bt_error(t, r.transaction_id, "bad connection id", len);
  if (r.action == BEP15_SCRAPE) {
    BtCounts counts[kBep15MaxScrape];
    for (size_t i = 0; i < r.nhashes; i++)
      bt_scrape(t->bt, r.hashes[i], &counts[i]);
    bep15_encode_scrape(r.transaction_id, counts, r.nhashes, &t->answer);
    return TRACKER_ANSWER;
  }
  if (r.a.port == 0) return bt_error(t, r.transaction_id, "port 0", len);
  r.a.ip = ip_n;  // the sender's address, whatever the ip field says
  BtAnswer& ans = t->bt_answer;
  if (bt_announce(t->bt, r.a, t->now, &ans) != 0) {
    why = ans.why != nullptr ? ans.why : "refused";
    log_refusal(t, ip, port, std::string("BitTorrent announce: ") + why);
    return bt_error(t, r.transaction_id, why, len);
  }
  bep15_encode_announce(r.transaction_id, static_cast<uint32_t>(t->opt.bt_interval_s), ans.counts,
                        ans.peers, &t->answer);
  return TRACKER_ANSWER;
}

size_t tracker_bt_sweep(Tracker* t) {
  return bt_expire_step(t->bt, t->now, kBtExpireSlotsPerStep);
}

// Answers a datagram that is not a valid request.
static int answer_malformed(Tracker* t, const Sender& from, const std::string& err) {
  stats_request(&t->stats, kStatsMaxActions - 1, t->now);
  t->stats.refusals[REF_MALFORMED]++;
  log_refusal(t, from.ip, from.port, err);
  ProtoReply reply;
  reply.kind = ProtoReply::ERROR;
  reply.message = err;
  proto_encode_reply(reply, t->req, kSeedAnswerMax, &t->answer);
  return TRACKER_ANSWER;
}

// An OK reply with nothing in it; its sources are views into the registry,
// never kept from one request to the next.
static void reply_reset(ProtoReply* reply) {
  reply->kind = ProtoReply::OK;
  reply->sources.clear();
  reply->message.clear();
  reply->interval = 0;
  reply->token.clear();
  reply->size = -1;
  reply->cid.clear();
  reply->name.clear();
  reply->contents.clear();
  reply->contents_total = 0;
  reply->others = -1;
}

// The index of `name` in kActions, or kActionCount.
static size_t action_index(const std::string& name) {
  for (size_t i = 0; i < kActionCount; i++) {
    const TrackerAction& a = kActions[i];
    if (name.size() == a.name_len && memcmp(name.data(), a.name, a.name_len) == 0) return i;
  }
  return kActionCount;
}

// Checks the request against its action (known, required fields present, sent
// by the id's owner when it must be) and runs the handler. Returns what the
// handler returned; a refusal is set in c->reply.
static int run_action(Tracker* t, Call* c, const TrackerAction* act) {
  const ProtoRequest& req = c->req;
  std::string err;
  if (act == nullptr) {
    c->refusal = REF_UNKNOWN_ACTION;
    err = "unknown action '" + out_sanitize(req.action, 40) + "'";
  } else if (uint32_t missing = act->required & ~req.fields) {
    c->refusal = REF_MISSING_FIELD;
    uint32_t first = missing & (~missing + 1);
    err = std::string("missing field '") + proto_field_name(first) + "' for " + act->name;
  } else if (authorize(t, c, act, &err) == 0) {
    int r = act->handler(t, c);
    if (c->reply.kind == ProtoReply::ERROR) log_refusal(t, c->ip, c->port, c->reply.message);
    if (c->authenticated || (act->flags & ACT_OWNER))
      reg_touch_hint(&t->reg, c->self, req.peer_id, t->now);
    return r;
  } else if (err == "Peer not found") {
    // The seed's own refusal, logged in the seed's words where it had them.
    if (req.action == "share_file")
      log_line(&t->log, "Peer %s shared file: %s, status: fail", req.peer_id.c_str(),
               req.file.c_str());
    if (req.action == "got_the_file")
      log_line(&t->log, "Peer %s downloaded the file file: %s, status: fail", req.peer_id.c_str(),
               req.file_name.c_str());
    reply_error(c, err);
    return TRACKER_ANSWER;
  }
  log_refusal(t, c->ip, c->port, err);
  reply_error(c, err);
  return TRACKER_ANSWER;
}

// A join (counted under action `index`) that needs a probe of c->probe_id's
// holder: it waits for one (TRACKER_WAIT, or TRACKER_PROBE: start one), or is
// refused at once.
static int join_waits(Tracker* t, Call* c, size_t index, const char* data, size_t len) {
  std::string why;
  int r = probe_wait(t, *c, data, len, &why);
  if (r != TRACKER_ANSWER) {
    // Counted when it is handled again, once the probe has finished.
    stats_uncount(&t->stats, index);
    return r;
  }
  log_refusal(t, c->ip, c->port, why);
  refuse(c, REF_BUSY, why);
  return TRACKER_ANSWER;
}

// tracker_handle with the sender's address as text and as a number.
static int handle(Tracker* t, const char* data, size_t len, const Sender& from,
                  std::string* probe_id) {
  t->answer.clear();
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(data);
  if (bep15_is_request(bytes, len)) return bt_handle(t, bytes, len, from);
  ProtoRequest& req = t->req;  // reused: decoding allocates nothing once warm
  std::string err;
  int dr = proto_decode_request(data, len, &req, &err);
  if (dr == PROTO_ANSWER) {
    t->stats.dropped++;
    return TRACKER_ANSWER;  // an answer is never answered
  }
  if (dr != 0) return answer_malformed(t, from, err);
  reply_reset(&t->reply);
  uint32_t self = (req.fields & FLD_PEER_ID) ? reg_slot(&t->reg, req.peer_id) : kRegNone;
  Call c{req, from.ip, from.ip_n, from.port, self, false, t->reply, std::string()};
  size_t index = action_index(req.action);
  const TrackerAction* act = index < kActionCount ? &kActions[index] : nullptr;
  if (act == nullptr) index = kStatsMaxActions - 1;  // unknown actions are counted last
  stats_request(&t->stats, index, t->now);
  int r = run_action(t, &c, act);
  if (r == TRACKER_PROBE) {
    r = join_waits(t, &c, index, data, len);
    if (r == TRACKER_PROBE && probe_id != nullptr) *probe_id = c.probe_id;
    if (r != TRACKER_ANSWER) return r;
  }
  if (c.reply.kind == ProtoReply::ERROR) t->stats.refusals[c.refusal]++;
  // Only a proven owner gets a long answer; anyone else gets at most 1024 bytes,
  // so a forged source address cannot turn the tracker into an amplifier.
  proto_encode_reply(
      c.reply, req, c.authenticated && req.extended ? kMaxAnswerBytes : kSeedAnswerMax, &t->answer);
  return TRACKER_ANSWER;
}

static void remove_peer(Tracker* t, const std::string& id) {
  reg_leave(&t->reg, id);
  t->probed_alive.erase(id);
  t->probe_missed.erase(id);
}

bool tracker_sweep_step(Tracker* t, size_t max_slots, std::vector<std::string>* due) {
  int64_t interval_ms = static_cast<int64_t>(heartbeat_interval_s(t)) * 1000;
  std::vector<std::string> gone;
  size_t end = t->reg.peers.size();
  size_t i = t->sweep_cursor < end ? t->sweep_cursor : end;
  for (size_t n = 0; i < end && n < max_slots; i++, n++) {
    const RegPeer& p = t->reg.peers[i];
    if (p.id == nullptr) continue;
    if (!reg_is_alive(&t->reg, p, t->now)) {
      gone.push_back(*p.id);
    } else if (due != nullptr && !p.extended && t->now - p.last_seen >= interval_ms) {
      // A seed peer (no heartbeats) is checked once per interval; after a probe
      // timed out, the next comes kProbeRetryMs later at the soonest.
      auto m = t->probe_missed.find(*p.id);
      if (m == t->probe_missed.end() || t->now - m->second >= kProbeRetryMs) due->push_back(*p.id);
    }
  }
  t->sweep_cursor = i < end ? i : 0;
  for (const std::string& id : gone) {
    remove_peer(t, id);
    SAY(t, "Peer %s timed out and was removed.", id.c_str());
    log_line(&t->log, "Peer %s timed out and was removed.", id.c_str());
  }
  return i >= end;
}

void tracker_expire(Tracker* t) {
  t->sweep_cursor = 0;
  while (!tracker_sweep_step(t, kSweepSlotsPerStep, nullptr)) {
  }
}

void tracker_probe_result(Tracker* t, const std::string& id, ProbeVerdict verdict,
                          std::vector<Waiter>* waiters) {
  probe_unbook(t, id, waiters);
  const RegPeer* h = reg_find(&t->reg, id);
  if (h == nullptr) return;
  if (verdict == PROBE_ALIVE) {
    // A seed peer lives on its probes; a tt peer proves itself with heartbeats
    // (a probe that finds a port open does not keep a dead tt peer's id alive).
    if (!h->extended) reg_touch(&t->reg, id, t->now);
    t->probed_alive[id] = t->now;
    t->probe_missed.erase(id);
    return;
  }
  if (verdict == PROBE_TIMEOUT) {
    // One slow probe is not a death (a busy listener or a busy loop); the
    // second timeout in a row, kProbeRetryMs or more later, is.
    auto m = t->probe_missed.find(id);
    if (m == t->probe_missed.end() || t->now - m->second > t->reg.ttl_ms) {
      t->probe_missed[id] = t->now;
      return;
    }
    if (t->now - m->second < kProbeRetryMs) return;
  }
  SAY(t, "Peer %s does not answer on TCP port %d and was removed.", id.c_str(), h->tcp_port);
  log_line(&t->log, "Peer %s does not answer on TCP port %d and was removed.", id.c_str(),
           h->tcp_port);
  remove_peer(t, id);
}

/* ----------------------------------------------------------------------------
 * Liveness probes: a TCP connect to the peer's port, closed at once
 * ------------------------------------------------------------------------- */

struct Probe {
  Tracker* t;
  std::string id;
  uv_tcp_t tcp;
  uv_connect_t req;
  uv_timer_t timer;
  int open_handles = 0;
  bool finished = false;
};

static void send_answer(Tracker* t, const struct sockaddr_in* to);
static void flush_output(Tracker* t);
static void probe_start(Tracker* t, const std::string& id);

// Handles one datagram and does what the result says: answer, start a probe, or wait.
static void dispatch(Tracker* t, const char* data, size_t len, const struct sockaddr_in* from) {
  std::string probe_id;
  int r = tracker_handle_from(t, data, len, from, &probe_id);
  if (r == TRACKER_PROBE)
    probe_start(t, probe_id);
  else if (r == TRACKER_ANSWER)
    send_answer(t, from);
}

static void probe_on_closed(uv_handle_t* h) {
  Probe* p = static_cast<Probe*>(h->data);
  if (--p->open_handles == 0) delete p;
}

static void probe_finish(Probe* p, ProbeVerdict verdict) {
  if (p->finished) return;
  p->finished = true;
  Tracker* t = p->t;
  if (verdict == PROBE_ALIVE)
    t->stats.probes_ok++;
  else
    t->stats.probes_failed++;
  t->probes.erase(p->id);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->tcp), probe_on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->timer), probe_on_closed);
  if (t->stopping) return;
  t->now = static_cast<int64_t>(uv_now(t->loop));
  std::vector<Waiter> waiters;
  tracker_probe_result(t, p->id, verdict, &waiters);
  // The joins that waited are handled again, now that the holder is known.
  for (const Waiter& w : waiters)
    dispatch(t, w.datagram.data(), w.datagram.size(), &w.from);
  flush_output(t);  // their log and console lines before their answers, as in a batch
  udpserve_flush(&t->udp);
}

static void probe_on_connect(uv_connect_t* req, int status) {
  Probe* p = static_cast<Probe*>(req->data);
  if (status == UV_ECANCELED) return;  // closed: probe_finish ran
  probe_finish(p, status == 0              ? PROBE_ALIVE
                  : status == UV_ETIMEDOUT ? PROBE_TIMEOUT
                                           : PROBE_REFUSED);
}

static void probe_on_timeout(uv_timer_t* timer) {
  probe_finish(static_cast<Probe*>(timer->data), PROBE_TIMEOUT);
}

// Starts the probe of id's holder booked by probe_wait or tracker_probe_begin:
// a connect to the address the holder's own join came from (its source IP and
// the tcp_port it named), nothing else.
static void probe_start(Tracker* t, const std::string& id) {
  const RegPeer* h = reg_find(&t->reg, id);
  if (h == nullptr || t->probes.count(id) != 0) {
    tracker_probe_result(t, id, PROBE_REFUSED);  // (no holder: nothing to remove)
    return;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = h->ip;
  addr.sin_port = htons(h->tcp_port);
  Probe* p = new Probe;
  p->t = t;
  p->id = id;
  uv_tcp_init(t->loop, &p->tcp);
  uv_timer_init(t->loop, &p->timer);
  p->tcp.data = p;
  p->timer.data = p;
  p->req.data = p;
  p->open_handles = 2;
  t->probes[id] = p;
  t->stats.probes_started++;
  // The timeout runs from now, not from the start of a long loop pass.
  uv_update_time(t->loop);
  uv_timer_start(&p->timer, probe_on_timeout, kProbeTimeoutMs, 0);
  int r = uv_tcp_connect(&p->req, &p->tcp, reinterpret_cast<const struct sockaddr*>(&addr),
                         probe_on_connect);
  if (r != 0) probe_finish(p, r == UV_ECONNREFUSED ? PROBE_REFUSED : PROBE_TIMEOUT);
}

// The sweep, a step at a time: forget the silent, and check that seed peers
// (which never send heartbeats) still listen, so they stay listed while alive
// and vanish when dead. A step reads at most kSweepSlotsPerStep slots, so a
// full table never holds the loop long; the next step follows at once until
// the table is done, then the next pass after a third of an interval. A seed
// peer waits for a free probe rather than being skipped: with kMaxProbes at
// once and one pass per period, skipped peers could stay unprobed until their
// ttl ran out.
int tracker_sweep(Tracker* t, std::vector<std::string>* start) {
  int period = heartbeat_interval_s(t) * 1000 / 3;
  if (t->waiting.size() >= static_cast<size_t>(kMaxProbes)) return 10;  // waits where it is
  size_t cursor = t->sweep_cursor;
  std::vector<std::string> due;
  bool done = tracker_sweep_step(t, kSweepSlotsPerStep, &due);
  size_t i = 0;
  for (; i < due.size(); i++) {
    if (t->waiting.size() >= static_cast<size_t>(kMaxProbes)) break;
    if (tracker_probe_begin(t, due[i])) start->push_back(due[i]);
  }
  if (i < due.size()) {
    // Out of probes: this step is read again once some finish (expiry is
    // idempotent, and the ids booked now are not booked twice).
    t->sweep_cursor = cursor;
    return 10;
  }
  return done ? period : 1;
}

static void on_sweep(uv_timer_t* timer) {
  Tracker* t = static_cast<Tracker*>(timer->data);
  t->now = static_cast<int64_t>(uv_now(t->loop));
  std::vector<std::string> start;
  int next = tracker_sweep(t, &start);
  for (const std::string& id : start)
    probe_start(t, id);
  uv_timer_start(&t->sweep, on_sweep, static_cast<uint64_t>(next), 0);
}

static void on_bt_sweep(uv_timer_t* timer) {
  Tracker* t = static_cast<Tracker*>(timer->data);
  t->now = static_cast<int64_t>(uv_now(t->loop));
  tracker_bt_sweep(t);
}

/* ----------------------------------------------------------------------------
 * UDP
 * ------------------------------------------------------------------------- */

static void send_answer(Tracker* t, const struct sockaddr_in* to) {
  t->stats.bytes_out += t->answer.size();
  udpserve_answer(&t->udp, to, t->answer.data(), t->answer.size());
}

// Buffered console and log lines go out once per loop pass, and before the
// answers of each batch of datagrams (udpserve.h).
static void flush_output(Tracker* t) {
  log_flush(&t->log);
  out_flush();
}

static void on_batch_end(void* ctx) {
  flush_output(static_cast<Tracker*>(ctx));
}

static void on_prepare(uv_prepare_t* h) {
  flush_output(static_cast<Tracker*>(h->data));
}

static void on_datagram(void* ctx, const char* data, size_t len, const struct sockaddr_in* sin,
                        bool oversize) {
  Tracker* t = static_cast<Tracker*>(ctx);
  t->stats.bytes_in += len;
  if (oversize || len > kMaxRequestBytes) {
    t->stats.dropped++;
    char ip[INET_ADDRSTRLEN];
    proto_ip_format(sin->sin_addr.s_addr, ip);
    log_line(&t->log, "Dropped a datagram of %zu bytes or more from %s:%d (the limit is %zu)", len,
             ip, ntohs(sin->sin_port), kMaxRequestBytes);
    return;
  }
  t->now = static_cast<int64_t>(uv_now(t->loop));
  dispatch(t, data, len, sin);
}

/* ----------------------------------------------------------------------------
 * Views: peers, files and counters as text, for the console and HTTP
 * ------------------------------------------------------------------------- */

// The loop's clock when there is a loop (unit tests set t->now themselves).
static void views_now(Tracker* t) {
  if (t->loop != nullptr) t->now = static_cast<int64_t>(uv_now(t->loop));
}

typedef std::vector<std::vector<std::string>> Rows;

static const char* const kPeerColumns[] = {"id", "address", "tcp_port", "files", "last_heard_s"};
static const char* const kFileColumns[] = {"name",    "content",  "size",
                                           "holders", "complete", "partial"};

// Up to kListingRows peers, in slot order; *more: how many are not shown.
static void peer_rows(Tracker* t, Rows* rows, size_t* more) {
  views_now(t);
  for (const RegPeer& p : t->reg.peers) {
    if (p.id == nullptr) continue;
    if (rows->size() >= kListingRows) break;
    char ip[16];
    proto_ip_format(p.ip, ip);
    int64_t ago = (t->now - p.last_seen) / 1000;
    rows->push_back({out_sanitize(*p.id, 256), ip, std::to_string(p.tcp_port),
                     std::to_string(p.files.size()), std::to_string(ago < 0 ? 0 : ago)});
  }
  *more = reg_peer_count(&t->reg) - rows->size();
}

// Up to kListingRows (name, content) rows; *more: whether there are others.
static void file_rows(Tracker* t, Rows* rows, bool* more) {
  std::vector<RegFileRow> list;
  uint64_t cursor = 0;
  reg_list_files(&t->reg, &cursor, kListingRows, &list);
  for (const RegFileRow& f : list) {
    rows->push_back({out_sanitize(f.name, 1024), f.cid.empty() ? "-" : f.cid.substr(0, 12),
                     f.size < 0 ? "?" : std::to_string(f.size), std::to_string(f.holders),
                     std::to_string(f.complete), std::to_string(f.holders - f.complete)});
  }
  *more = cursor != 0;
}

// Rows as aligned columns, one line each, after a header line.
static void rows_text(const char* const* columns, size_t n, const Rows& rows, std::string* out) {
  std::vector<size_t> width(n);
  for (size_t i = 0; i < n; i++)
    width[i] = strlen(columns[i]);
  for (const auto& r : rows)
    for (size_t i = 0; i < n; i++)
      width[i] = std::max(width[i], std::min<size_t>(r[i].size(), 40));
  auto line = [&](auto cell) {
    std::string l;
    for (size_t i = 0; i < n; i++) {
      std::string c = cell(i);
      l += c;
      if (i + 1 < n) l += std::string(c.size() < width[i] ? width[i] - c.size() + 2 : 2, ' ');
    }
    *out += l + "\n";
  };
  line([&](size_t i) { return std::string(columns[i]); });
  for (const auto& r : rows)
    line([&](size_t i) { return r[i]; });
}

void tracker_peers_text(Tracker* t, std::string* out) {
  Rows rows;
  size_t more = 0;
  peer_rows(t, &rows, &more);
  rows_text(kPeerColumns, 5, rows, out);
  if (more > 0) *out += "... and " + std::to_string(more) + " more\n";
}

void tracker_files_text(Tracker* t, std::string* out) {
  Rows rows;
  bool more = false;
  file_rows(t, &rows, &more);
  rows_text(kFileColumns, 6, rows, out);
  if (more) *out += "... and more (" + std::to_string(reg_file_count(&t->reg)) + " names in all)\n";
}

static uint64_t resident_bytes() {
  size_t rss = 0;
  return uv_resident_set_memory(&rss) == 0 ? rss : 0;
}

void tracker_stats_text(Tracker* t, std::string* out) {
  views_now(t);
  const Stats& s = t->stats;
  text_appendf(out, "uptime: %" PRId64 " s\n", (t->now - s.started_ms) / 1000);
  text_appendf(out, "peers: %zu, files: %zu, registrations: %zu\n", reg_peer_count(&t->reg),
               reg_file_count(&t->reg), t->reg.registrations);
  for (size_t a = 0; a <= kActionCount; a++) {
    size_t slot = a < kActionCount ? a : kStatsMaxActions - 1;
    uint64_t minute = stats_rate_sum(&s.rate, slot, t->now);
    text_appendf(out,
                 "requests %s: %.2f/s over the last minute (%" PRIu64 "), %" PRIu64 " in all\n",
                 a < kActionCount ? kActions[a].name : "other",
                 static_cast<double>(minute) / kStatsRateSeconds, minute, s.requests[slot]);
  }
  *out += "refusals:";
  for (size_t r = 0; r < REF_COUNT; r++)
    text_appendf(out, " %s %" PRIu64 "%s", kStatsRefusalNames[r], s.refusals[r],
                 r + 1 < REF_COUNT ? "," : "\n");
  text_appendf(out,
               "probes: %zu in flight, %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " started\n",
               t->probes.size(), s.probes_ok, s.probes_failed, s.probes_started);
  text_appendf(out, "datagrams: %" PRIu64 " bytes in, %" PRIu64 " bytes out, %" PRIu64 " dropped\n",
               s.bytes_in, s.bytes_out, s.dropped);
  text_appendf(out,
               "bittorrent: %zu swarms, %zu peers; requests: connect %" PRIu64 ", announce %" PRIu64
               ", scrape %" PRIu64 ", error %" PRIu64 "\n",
               bt_swarm_count(t->bt), bt_peer_count(t->bt), s.bt_requests[BT_REQ_CONNECT],
               s.bt_requests[BT_REQ_ANNOUNCE], s.bt_requests[BT_REQ_SCRAPE],
               s.bt_requests[BT_REQ_ERROR]);
  text_appendf(
      out, "bittorrent over http: announce %" PRIu64 ", scrape %" PRIu64 ", failure %" PRIu64 "\n",
      t->bt_http.announces, t->bt_http.scrapes, t->bt_http.failures);
  const Registry& g = t->reg;
  text_appendf(out,
               "memory: %.1f MiB resident; registry slots: %zu peers (%zu free), %zu names "
               "(%zu free), %zu content ids (%zu free)\n",
               static_cast<double>(resident_bytes()) / (1 << 20), g.peers.size(),
               g.free_peers.size(), g.files.size(), g.free_files.size(), g.cids.size(),
               g.free_cids.size());
}

void tracker_metrics_text(Tracker* t, std::string* out) {
  views_now(t);
  const char* names[kStatsMaxActions];
  for (size_t a = 0; a < kActionCount; a++)
    names[a] = kActions[a].name;
  StatsGauges g;
  g.peers = reg_peer_count(&t->reg);
  g.files = reg_file_count(&t->reg);
  g.registrations = t->reg.registrations;
  g.probes_in_flight = t->probes.size();
  g.resident_bytes = resident_bytes();
  g.uptime_s = static_cast<double>(t->now - t->stats.started_ms) / 1000;
  g.bt_swarms = bt_swarm_count(t->bt);
  g.bt_peers = bt_peer_count(t->bt);
  stats_metrics_text(&t->stats, StatsActionNames{names, kActionCount}, g, t->now, out);
}

static void rows_html(const char* id, const char* const* columns, size_t n, const Rows& rows,
                      std::string* out) {
  *out += std::string("<table id=\"") + id + "\">\n<tr>";
  for (size_t i = 0; i < n; i++)
    *out += std::string("<th>") + columns[i] + "</th>";
  *out += "</tr>\n";
  for (const auto& r : rows) {
    *out += "<tr>";
    for (size_t i = 0; i < n; i++)
      *out += "<td>" + http_html_escape(r[i]) + "</td>";
    *out += "</tr>\n";
  }
  *out += "</table>\n";
}

void tracker_status_html(Tracker* t, std::string* out) {
  views_now(t);
  Rows files, peers;
  bool more_files = false;
  size_t more_peers = 0;
  file_rows(t, &files, &more_files);
  peer_rows(t, &peers, &more_peers);
  *out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
      "<title>tt tracker</title></head>\n<body>\n<h1>tt tracker</h1>\n";
  text_appendf(out,
               "<p id=\"summary\">Up %" PRId64
               " s. %zu peers, %zu files, %zu registrations. "
               "<a href=\"/metrics\">Metrics</a>.</p>\n",
               (t->now - t->stats.started_ms) / 1000, reg_peer_count(&t->reg),
               reg_file_count(&t->reg), t->reg.registrations);
  *out += "<h2>Files</h2>\n";
  rows_html("files", kFileColumns, 6, files, out);
  if (more_files)
    text_appendf(out, "<p>... and more (%zu names in all)</p>\n", reg_file_count(&t->reg));
  *out += "<h2>Peers</h2>\n";
  rows_html("peers", kPeerColumns, 5, peers, out);
  if (more_peers > 0) text_appendf(out, "<p>... and %zu more</p>\n", more_peers);
  *out += "</body>\n</html>\n";
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

// A console command that prints from the log. The file may be large (up to
// --log-max-size twice, with <log>.1): it is read and printed on a libuv
// worker thread, so datagrams keep being answered meanwhile; console lines
// typed in the meantime wait for it.
struct LogPrint {
  uv_work_t work;
  Tracker* t;
  bool (*match)(const std::string& line, void* ctx);
  std::string name;     // file_logs: the file name
  std::string cmd;      // the console command, for its failure line
  const char* if_none;  // printed when no line matched (null: nothing)
  int result = 0;       // lines printed, or -errno
};

static void on_console_line(void* ctx, const std::string& line, bool too_long);

static void log_print_work(uv_work_t* w) {
  LogPrint* job = static_cast<LogPrint*>(w->data);
  job->result = log_print_rotated(job->t->log.path, job->match, &job->name, stdout);
}

static void log_print_done(uv_work_t* w, int) {
  LogPrint* job = static_cast<LogPrint*>(w->data);
  Tracker* t = job->t;
  if (job->result < 0)
    out_fail(job->cmd, "cannot read " + t->log.path + ": " + uv_strerror(job->result));
  if (job->result == 0 && job->if_none != nullptr) out_line("%s", job->if_none);
  out_flush();
  t->printing = nullptr;
  delete job;
  // The lines typed meanwhile, in order, until one starts another print.
  while (!t->stopping && t->printing == nullptr && !t->console_queue.empty()) {
    std::string line = t->console_queue.front();
    t->console_queue.erase(t->console_queue.begin());
    on_console_line(t, line, false);
  }
}

// Prints the log lines that match (all when match is null) off the loop, and
// if_none (when not null) if none did.
static void log_print_start(Tracker* t, const char* cmd, bool (*match)(const std::string&, void*),
                            const std::string& name, const char* if_none) {
  log_flush(&t->log);
  out_flush();
  LogPrint* job = new LogPrint;
  job->work.data = job;
  job->t = t;
  job->match = match;
  job->name = name;
  job->cmd = name.empty() ? cmd : std::string(cmd) + " " + name;
  job->if_none = if_none;
  t->printing = job;
  if (uv_queue_work(t->loop, &job->work, log_print_work, log_print_done) != 0) {
    log_print_work(&job->work);  // no thread pool: read it here
    log_print_done(&job->work, 0);
  }
}

static int cmd_logs_request(void* owner, const std::vector<std::string>&) {
  Tracker* t = static_cast<Tracker*>(owner);
  out_line("Logs from tracker.log:");
  log_print_start(t, "logs request", nullptr, std::string(), nullptr);
  return 0;
}

static int cmd_all_logs(void* owner, const std::vector<std::string>&) {
  log_print_start(static_cast<Tracker*>(owner), "all-logs", line_is_shared, std::string(), nullptr);
  return 0;
}

static int cmd_file_logs(void* owner, const std::vector<std::string>& args) {
  Tracker* t = static_cast<Tracker*>(owner);
  // The seed takes the rest of the line as the name, so "file_logs my notes.txt" works.
  std::string name = args[0];
  for (size_t i = 1; i < args.size(); i++)
    name += " " + args[i];
  log_print_start(t, "file_logs", line_is_about, name, "File name does not exist.");
  return 0;
}

// Prints text line by line on the console.
static void print_text(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out_line("%.*s", static_cast<int>(nl - start), text.data() + start);
    start = nl + 1;
  }
}

static int cmd_peers(void* owner, const std::vector<std::string>&) {
  std::string text;
  tracker_peers_text(static_cast<Tracker*>(owner), &text);
  print_text(text);
  return 0;
}

static int cmd_files(void* owner, const std::vector<std::string>&) {
  std::string text;
  tracker_files_text(static_cast<Tracker*>(owner), &text);
  print_text(text);
  return 0;
}

static int cmd_stats(void* owner, const std::vector<std::string>&) {
  std::string text;
  tracker_stats_text(static_cast<Tracker*>(owner), &text);
  print_text(text);
  return 0;
}

static int cmd_help(void* owner, const std::vector<std::string>&);

static int cmd_exit(void* owner, const std::vector<std::string>&) {
  tracker_stop(static_cast<Tracker*>(owner));
  return 0;
}

static const ConsoleCmd kCommandRows[] = {
    {"logs request", "", "print every log line", 0, 0, cmd_logs_request},
    {"all-logs", "", "print the log lines about sharing", 0, 0, cmd_all_logs},
    {"file_logs", "NAME", "print the log lines about file NAME", 1, 64, cmd_file_logs},
    {"peers", "", "list the peers (at most 100)", 0, 0, cmd_peers},
    {"files", "", "list the files, one line per content (at most 100)", 0, 0, cmd_files},
    {"stats", "", "print uptime, counts, requests/s, refusals, probes, memory", 0, 0, cmd_stats},
    {"help", "", "print this list", 0, 0, cmd_help},
    {"exit", "", "stop the tracker", 0, 0, cmd_exit},
    {"quit", "", "the same as exit", 0, 0, cmd_exit},
};

static const ConsoleTable kCommands = {kCommandRows, sizeof kCommandRows / sizeof kCommandRows[0]};

static int cmd_help(void*, const std::vector<std::string>&) {
  console_print_help(kCommands);
  return 0;
}

ConsoleTable tracker_console_commands() {
  return kCommands;
}

static void on_console_line(void* ctx, const std::string& line, bool too_long) {
  Tracker* t = static_cast<Tracker*>(ctx);
  if (t->stopping) return;
  if (t->printing != nullptr) {
    // After the print that runs; a flood of typed lines is bounded by the console's own line limit.
    if (!too_long && t->console_queue.size() < 256) t->console_queue.push_back(line);
    return;
  }
  if (too_long) {
    out_fail("", "console line too long");
    return;
  }
  ConsoleParsed p;
  console_dispatch(kCommands, t, line, &p);
}

// End of stdin does not stop a tracker: `tt tracker </dev/null &` is a service.
static void on_console_eof(void*) {}

/* ----------------------------------------------------------------------------
 * HTTP status server (--http)
 * ------------------------------------------------------------------------- */

static void http_metrics(void* ctx, const HttpRequest&, HttpAnswer* a) {
  a->content_type = "text/plain; version=0.0.4; charset=utf-8";
  Tracker* t = static_cast<Tracker*>(ctx);
  tracker_metrics_text(t, &a->body);
  a->body +=
      "# HELP tt_bt_http_requests_total BitTorrent HTTP tracker requests, by answer.\n"
      "# TYPE tt_bt_http_requests_total counter\n";
  text_appendf(&a->body, "tt_bt_http_requests_total{answer=\"announce\"} %" PRIu64 "\n",
               t->bt_http.announces);
  text_appendf(&a->body, "tt_bt_http_requests_total{answer=\"scrape\"} %" PRIu64 "\n",
               t->bt_http.scrapes);
  text_appendf(&a->body, "tt_bt_http_requests_total{answer=\"failure\"} %" PRIu64 "\n",
               t->bt_http.failures);
}

static void http_status(void* ctx, const HttpRequest&, HttpAnswer* a) {
  a->content_type = "text/html; charset=utf-8";
  tracker_status_html(static_cast<Tracker*>(ctx), &a->body);
}

// BitTorrent HTTP tracker: the sender's address is the connection's.
static void http_bt_announce(void* ctx, const HttpRequest& req, HttpAnswer* a) {
  Tracker* t = static_cast<Tracker*>(ctx);
  t->now = static_cast<int64_t>(uv_now(t->loop));
  a->content_type = "text/plain";
  bt_http_announce(t->bt, tracker_bt_limits(t->opt), BtHttpCall{req.query, req.addr, t->now},
                   &a->body, &t->bt_http);
}

static void http_bt_scrape(void* ctx, const HttpRequest& req, HttpAnswer* a) {
  Tracker* t = static_cast<Tracker*>(ctx);
  a->content_type = "text/plain";
  bt_http_scrape(t->bt, req.query, &a->body, &t->bt_http);
}

static const HttpRoute kRoutes[] = {
    {"GET", "/", http_status},
    {"GET", "/metrics", http_metrics},
    {"GET", "/announce", http_bt_announce},
    {"GET", "/scrape", http_bt_scrape},
};

// Starts the status server when --http asked for one (main.cc checked the
// address). Says nothing on success: tracker_start prints where it listens.
static int tracker_http_start(Tracker* t) {
  if (t->opt.http_port < 0) return 0;
  struct sockaddr_in addr;
  int r = uv_ip4_addr(t->opt.http_ip.c_str(), t->opt.http_port, &addr);
  if (r == 0)
    r = http_start(&t->http, t->loop, &addr,
                   HttpRoutes{kRoutes, sizeof kRoutes / sizeof kRoutes[0]}, t);
  if (r != 0) {
    fprintf(stderr, "tt tracker: cannot listen for HTTP on %s:%d: %s\n",
            out_sanitize(t->opt.http_ip).c_str(), t->opt.http_port, uv_strerror(r));
    return r;
  }
  return 0;
}

/* ----------------------------------------------------------------------------
 * Lifetime
 * ------------------------------------------------------------------------- */

static void tracker_stop(Tracker* t) {
  if (t->stopping) return;
  t->stopping = true;
  udpserve_close(&t->udp);
  http_close(&t->http);
  if (t->prepare_open) uv_close(reinterpret_cast<uv_handle_t*>(&t->prepare), nullptr);
  if (t->sweep_open) uv_close(reinterpret_cast<uv_handle_t*>(&t->sweep), nullptr);
  if (t->bt_sweep_open) uv_close(reinterpret_cast<uv_handle_t*>(&t->bt_sweep), nullptr);
  std::unordered_map<std::string, Probe*> probes = t->probes;
  for (auto& kv : probes)
    probe_finish(kv.second, PROBE_REFUSED);
  app_signals_close(&t->signals);
  console_close(&t->console, nullptr);
}

static void on_signal(void* ctx, int) {
  tracker_stop(static_cast<Tracker*>(ctx));
}

static int tracker_start(Tracker* t) {
  if (tracker_init_key(t) != 0) {
    fprintf(stderr, "tt tracker: OpenSSL cannot make an HMAC-SHA256 context for the tokens\n");
    return UV_EINVAL;
  }
  struct sockaddr_in addr;
  int r = uv_ip4_addr(t->opt.host.c_str(), t->opt.port, &addr);
  if (r != 0) {
    fprintf(stderr, "tt tracker: bad --host %s: %s\n", t->opt.host.c_str(), uv_strerror(r));
    return r;
  }
  t->udp.ctx = t;
  t->udp.on_datagram = on_datagram;
  t->udp.on_batch_end = on_batch_end;
  r = udpserve_start(&t->udp, t->loop, &addr);
  if (r != 0) {
    fprintf(stderr, "tt tracker: cannot bind UDP %s:%d: %s\n", t->opt.host.c_str(), t->opt.port,
            uv_strerror(r));
    return r;
  }
  int port = udpserve_port(&t->udp);
  t->log.max_bytes = static_cast<int64_t>(t->opt.log_max_mib) << 20;
  if ((r = log_open(&t->log, t->opt.log_path)) != 0) {
    fprintf(stderr, "tt tracker: cannot open log %s: %s\n", t->opt.log_path.c_str(),
            uv_strerror(r));
    return r;
  }
  // Lines are written once per loop pass and per batch of datagrams, not one by one.
  t->log.deferred = true;
  out_defer(true);
  uv_prepare_init(t->loop, &t->prepare);
  t->prepare.data = t;
  t->prepare_open = true;
  uv_prepare_start(&t->prepare, on_prepare);
  t->reg.ttl_ms = static_cast<int64_t>(t->opt.peer_ttl_s) * 1000;
  t->reg.max_files_per_ip = static_cast<size_t>(t->opt.max_files_per_ip);
  t->reg.max_contents_per_ip = static_cast<size_t>(t->opt.max_contents_per_ip);
  uv_timer_init(t->loop, &t->sweep);
  t->sweep.data = t;
  t->sweep_open = true;
  // Sweeping a few times per interval keeps expiry within about ttl + interval/3.
  uint64_t period = static_cast<uint64_t>(heartbeat_interval_s(t)) * 1000 / 3;
  uv_timer_start(&t->sweep, on_sweep, period, 0);  // each step sets the next
  bt_store_free(t->bt);
  t->bt = bt_store_new(tracker_bt_limits(t->opt));
  uv_timer_init(t->loop, &t->bt_sweep);
  t->bt_sweep.data = t;
  t->bt_sweep_open = true;
  uv_timer_start(&t->bt_sweep, on_bt_sweep, kBtSweepMs, kBtSweepMs);
  if ((r = app_signals_start(&t->signals, t->loop, on_signal, t)) != 0) return r;
  // Everything that can fail is done before the tracker says it is running.
  if ((r = tracker_http_start(t)) != 0) return r;
  out_line("Tracker started at %s:%d", t->opt.host.c_str(), port);
  log_line(&t->log, "Tracker started at %s:%d", t->opt.host.c_str(), port);
  out_line("Tracker running at %s:%d", t->opt.host.c_str(), port);
  t->stats.started_ms = static_cast<int64_t>(uv_now(t->loop));
  if (t->opt.http_port >= 0)
    out_line("HTTP status at http://%s:%d/", t->opt.http_ip.c_str(), http_port(&t->http));
  flush_output(t);
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
