// Tracker state as sets, in compact slots. See registry.h.
#include "registry.h"

#include <algorithm>
#include <cstring>

/* ----------------------------------------------------------------------------
 * Slots: each kind lives in a vector, reused through a free list, and is found
 * by its key through an unordered_map whose node owns the one copy of the key.
 * ------------------------------------------------------------------------- */

template <typename T>
static uint32_t slot_new(std::vector<T>* v, std::vector<uint32_t>* free_list) {
  if (!free_list->empty()) {
    uint32_t s = free_list->back();
    free_list->pop_back();
    return s;
  }
  v->emplace_back();
  return static_cast<uint32_t>(v->size() - 1);
}

static uint32_t find_slot(const std::unordered_map<std::string, uint32_t>& ids,
                          const std::string& key) {
  auto it = ids.find(key);
  return it == ids.end() ? kRegNone : it->second;
}

// The slot of content id `hex` with one more reference (0: none).
static uint32_t cid_ref(Registry* reg, const std::string& hex, int64_t size) {
  if (hex.empty()) return 0;
  auto it = reg->cid_ids.find(hex);
  if (it == reg->cid_ids.end()) {
    uint32_t s = slot_new(&reg->cids, &reg->free_cids);
    it = reg->cid_ids.emplace(hex, s).first;
    reg->cids[s].hex = &it->first;
    reg->cids[s].refs = 0;
    reg->cids[s].size = -1;
  }
  RegCid& c = reg->cids[it->second];
  c.refs++;
  if (c.size < 0) c.size = size;
  return it->second + 1;
}

// Whether announcing content `hex` with `size` contradicts its first announcement.
static bool size_contradicts(const Registry* reg, const std::string& hex, int64_t size) {
  if (hex.empty() || size < 0) return false;
  auto it = reg->cid_ids.find(hex);
  return it != reg->cid_ids.end() && reg->cids[it->second].size >= 0 &&
         reg->cids[it->second].size != size;
}

static void cid_unref(Registry* reg, uint32_t cid) {
  if (cid == 0) return;
  RegCid& c = reg->cids[cid - 1];
  if (--c.refs > 0) return;
  reg->cid_ids.erase(*c.hex);
  c.hex = nullptr;
  std::vector<uint32_t>().swap(c.files);
  reg->free_cids.push_back(cid - 1);
}

static const std::string& cid_hex(const Registry* reg, uint32_t cid) {
  static const std::string kNone;
  return cid == 0 ? kNone : *reg->cids[cid - 1].hex;
}

// The content `cid` of file slot `fs`, or null.
static RegContent* content_of(Registry* reg, uint32_t fs, uint32_t cid) {
  for (RegContent& c : reg->files[fs].contents)
    if (c.cid == cid) return &c;
  return nullptr;
}

// Where peer `ps` holds file `fs`: its content and its place there, or false.
static bool holder_of(Registry* reg, uint32_t fs, uint32_t ps, size_t* ci, size_t* hi) {
  std::vector<RegContent>& cs = reg->files[fs].contents;
  for (size_t i = 0; i < cs.size(); i++) {
    for (size_t j = 0; j < cs[i].holders.size(); j++) {
      if (cs[i].holders[j].peer != ps) continue;
      *ci = i;
      *hi = j;
      return true;
    }
  }
  return false;
}

// Whether an address may add content `cid` (hex) to file `fs`: it is there
// already, or the address introduced fewer than max_contents_per_ip of the
// name's contents. (A squatter cannot bury a name under contents of its own.)
// `leaving`: the content a holder moves away from (kRegNone: none), not
// counted when that holder is its last.
static bool content_room(const Registry* reg, uint32_t fs, uint32_t ip, const std::string& cid,
                         uint32_t leaving = kRegNone) {
  if (cid.empty()) return true;
  auto it = reg->cid_ids.find(cid);
  size_t mine = 0;
  for (const RegContent& c : reg->files[fs].contents) {
    if (it != reg->cid_ids.end() && c.cid == it->second + 1) return true;
    if (c.cid == leaving && c.holders.size() == 1) continue;
    if (c.cid != 0 && c.ip == ip) mine++;
  }
  return mine < reg->max_contents_per_ip;
}

// Adds holder `h` to content `cid` of file `fs` (which it did not hold).
static void content_add(Registry* reg, uint32_t fs, uint32_t cid, const RegHolder& h, int64_t now) {
  RegContent* c = content_of(reg, fs, cid);
  if (c == nullptr) {
    reg->files[fs].contents.emplace_back();
    c = &reg->files[fs].contents.back();
    c->cid = cid;
    c->ip = reg->peers[h.peer].ip;
    c->first_seen = now;
    if (cid != 0) reg->cids[cid - 1].files.push_back(fs);
  }
  if (h.complete) c->complete++;
  c->holders.push_back(h);
}

// Removes holder hi of content ci of file fs, and the content once it has none.
// Returns the content id slot it held (its reference is the caller's).
static uint32_t content_remove(Registry* reg, uint32_t fs, size_t ci, size_t hi) {
  std::vector<RegContent>& cs = reg->files[fs].contents;
  RegContent& c = cs[ci];
  uint32_t cid = c.cid;
  if (c.holders[hi].complete && c.complete > 0) c.complete--;
  c.holders.erase(c.holders.begin() + static_cast<ptrdiff_t>(hi));
  if (!c.holders.empty()) return cid;
  if (cid != 0) {
    std::vector<uint32_t>& fl = reg->cids[cid - 1].files;
    fl.erase(std::find(fl.begin(), fl.end(), fs));
  }
  cs.erase(cs.begin() + static_cast<ptrdiff_t>(ci));
  return cid;
}

static void ip_files_sub(Registry* reg, uint32_t ip, size_t n) {
  if (n == 0) return;
  auto it = reg->per_ip.find(ip);
  if (it == reg->per_ip.end()) return;
  it->second.files -= n < it->second.files ? n : it->second.files;
  if (it->second.files == 0 && it->second.ids == 0) reg->per_ip.erase(it);
  reg->registrations -= n < reg->registrations ? n : reg->registrations;
}

// Whether peer slot `ps` may hold `more` more names.
static bool room_for(const Registry* reg, uint32_t ps, size_t more) {
  if (more == 0) return true;
  const RegPeer& p = reg->peers[ps];
  size_t at_ip = reg_ip_count(reg, p.ip).files;
  return p.files.size() + more <= kMaxFilesPerPeer && at_ip + more <= reg->max_files_per_ip &&
         reg->registrations + more <= kMaxRegistrations;
}

// Drops every file of the peer in slot `ps`.
static void drop_files(Registry* reg, uint32_t ps) {
  RegPeer& peer = reg->peers[ps];
  for (uint32_t fs : peer.files) {
    size_t ci, hi;
    if (holder_of(reg, fs, ps, &ci, &hi)) cid_unref(reg, content_remove(reg, fs, ci, hi));
    RegFile& f = reg->files[fs];
    if (!f.contents.empty()) continue;
    reg->file_ids.erase(*f.name);
    f.name = nullptr;
    std::vector<RegContent>().swap(f.contents);
    reg->free_files.push_back(fs);
  }
  ip_files_sub(reg, peer.ip, peer.files.size());
  std::vector<uint32_t>().swap(peer.files);
}

/* ----------------------------------------------------------------------------
 * Changes
 * ------------------------------------------------------------------------- */

bool reg_is_alive(const Registry* reg, const RegPeer& p, int64_t now) {
  return now - p.last_seen <= reg->ttl_ms;
}

// A peer's files are kept sorted by slot: whether it holds one is a binary search.
static bool peer_holds(const RegPeer& p, uint32_t fs) {
  return std::binary_search(p.files.begin(), p.files.end(), fs);
}

static int add_file(Registry* reg, uint32_t ps, const RegCopy& copy, int64_t now) {
  const std::string& file = copy.file;
  const std::string& cid = copy.cid;
  bool complete = copy.complete;
  int64_t size = copy.size;
  if (size_contradicts(reg, cid, size)) return REG_MISMATCH;
  auto fit = reg->file_ids.find(file);
  RegPeer& peer = reg->peers[ps];
  if (fit == reg->file_ids.end() || !peer_holds(peer, fit->second)) {
    if (!room_for(reg, ps, 1)) return REG_FULL;
    if (fit != reg->file_ids.end() && !content_room(reg, fit->second, peer.ip, cid))
      return REG_CROWDED;
    if (fit == reg->file_ids.end()) {
      uint32_t fs = slot_new(&reg->files, &reg->free_files);
      fit = reg->file_ids.emplace(file, fs).first;
      reg->files[fs].name = &fit->first;
    }
    uint32_t fs = fit->second;
    peer.files.insert(std::lower_bound(peer.files.begin(), peer.files.end(), fs), fs);
    reg->per_ip[peer.ip].files++;
    reg->registrations++;
    RegHolder h{ps, complete ? 1u : 0u, size};
    content_add(reg, fs, cid_ref(reg, cid, size), h, now);
    return REG_OK;
  }
  uint32_t fs = fit->second;
  size_t ci, hi;
  if (!holder_of(reg, fs, ps, &ci, &hi)) return REG_UNCHANGED;
  RegContent& c = reg->files[fs].contents[ci];
  RegHolder& h = c.holders[hi];
  bool new_cid = !cid.empty() && cid != cid_hex(reg, c.cid);
  if (new_cid && !content_room(reg, fs, peer.ip, cid, c.cid)) return REG_CROWDED;
  bool changed = (complete && !h.complete) || (size >= 0 && size != h.size) || new_cid;
  if (complete && !h.complete) {
    h.complete = 1;
    c.complete++;
  }
  if (size >= 0) h.size = size;
  if (size >= 0 && c.cid != 0 && reg->cids[c.cid - 1].size < 0) reg->cids[c.cid - 1].size = size;
  if (new_cid) {
    RegHolder moved = h;
    cid_unref(reg, content_remove(reg, fs, ci, hi));
    content_add(reg, fs, cid_ref(reg, cid, size), moved, now);
  }
  return changed ? REG_OK : REG_UNCHANGED;
}

int reg_add_file(Registry* reg, const std::string& id, const RegCopy& copy, int64_t now) {
  uint32_t ps = find_slot(reg->peer_ids, id);
  if (ps == kRegNone) return REG_ENOPEER;
  return add_file(reg, ps, copy, now);
}

RegIpCount reg_ip_count(const Registry* reg, uint32_t ip) {
  auto it = reg->per_ip.find(ip);
  return it == reg->per_ip.end() ? RegIpCount() : it->second;
}

// One peer id more (+1) or less (-1) at `ip`.
static void ip_ids_add(Registry* reg, uint32_t ip, int delta) {
  RegIpCount& c = reg->per_ip[ip];
  c.ids = delta > 0 ? c.ids + 1 : (c.ids > 0 ? c.ids - 1 : 0);
  if (c.ids == 0 && c.files == 0) reg->per_ip.erase(ip);
}

// Whether a join of peer slot `ps` (kRegNone: a new peer) listing `files`
// stays within the caps. `fresh`: the holder starts anew (another address, or
// a restarted tt peer), its present names dropped first.
static bool join_fits(const Registry* reg, uint32_t ps, uint32_t ip, bool fresh,
                      const std::vector<std::string>& files) {
  bool same = ps != kRegNone && !fresh;
  std::vector<std::string> names(files);  // a name listed twice is one registration
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  size_t held = same ? reg->peers[ps].files.size() : 0, more = 0;
  for (const std::string& f : names) {
    auto it = reg->file_ids.find(f);
    if (same && it != reg->file_ids.end() && peer_holds(reg->peers[ps], it->second)) continue;
    more++;
  }
  size_t at_ip = reg_ip_count(reg, ip).files;
  if (ps != kRegNone && fresh && reg->peers[ps].ip == ip) at_ip -= reg->peers[ps].files.size();
  return held + more <= kMaxFilesPerPeer && at_ip + more <= reg->max_files_per_ip &&
         reg->registrations + more <= kMaxRegistrations;
}

// Keeps `blob` in the peer's record, or apart when it is too long for it.
static void keep_blob(RegPeer* p, const std::string& blob) {
  char* to = p->blob;
  if (blob.size() > kRegBlobInline) {
    p->long_blob.reset(new char[blob.size()]);
    to = p->long_blob.get();
  } else {
    p->long_blob.reset();
  }
  memcpy(to, blob.data(), blob.size());
  p->blob_len = static_cast<uint16_t>(blob.size());
}

// How a join stands to what the registry holds for its id.
enum JoinKind {
  JOIN_SAME,       // the peer as registered: it keeps what it holds
  JOIN_NEW,        // an id not registered
  JOIN_MOVED,      // another address or TCP port: it holds only what it lists now
  JOIN_RESTARTED,  // the same address from another UDP port: likewise
};

// Places a joining peer: a new slot for a new id, its files dropped for one
// that starts anew. Returns its slot.
static uint32_t join_place(Registry* reg, uint32_t ps, const RegJoin& j, JoinKind kind) {
  switch (kind) {
    case JOIN_NEW: {
      ps = slot_new(&reg->peers, &reg->free_peers);
      RegPeer& p = reg->peers[ps];
      p.id = &reg->peer_ids.emplace(j.id, ps).first->first;
      p.ip = j.ip;
      p.tcp_port = static_cast<uint16_t>(j.tcp_port);
      ip_ids_add(reg, j.ip, +1);
      break;
    }
    case JOIN_RESTARTED:
      drop_files(reg, ps);
      break;
    case JOIN_MOVED:
      drop_files(reg, ps);
      ip_ids_add(reg, reg->peers[ps].ip, -1);
      ip_ids_add(reg, j.ip, +1);
      reg->peers[ps].ip = j.ip;
      reg->peers[ps].tcp_port = static_cast<uint16_t>(j.tcp_port);
      break;
    case JOIN_SAME:
      break;
  }
  return ps;
}

int reg_join(Registry* reg, const RegJoin& j, int64_t now) {
  uint32_t ps = find_slot(reg->peer_ids, j.id);
  bool moved =
      ps != kRegNone && (reg->peers[ps].ip != j.ip || reg->peers[ps].tcp_port != j.tcp_port);
  if (moved && reg_is_alive(reg, reg->peers[ps], now)) return REG_CONFLICT;
  // A tt peer speaks from one UDP port all its life: another port at its
  // address is a new process (a restart that showed the token), which holds
  // only what it lists now.
  bool restarted =
      ps != kRegNone && !moved && reg->peers[ps].extended && reg->peers[ps].udp_port != j.udp_port;
  if (!join_fits(reg, ps, j.ip, moved || restarted, j.files)) return REG_FULL;
  JoinKind kind = ps == kRegNone ? JOIN_NEW
                  : moved        ? JOIN_MOVED
                  : restarted    ? JOIN_RESTARTED
                                 : JOIN_SAME;
  bool changed = kind != JOIN_SAME;
  ps = join_place(reg, ps, j, kind);
  RegPeer& p = reg->peers[ps];
  if (changed) keep_blob(&p, j.blob);
  p.udp_port = static_cast<uint16_t>(j.udp_port);
  // Once a peer has shown it speaks the extended form (and holds a token), a
  // seed-form join for its id does not make it tokenless.
  p.extended = changed ? j.extended : (p.extended || j.extended);
  p.last_seen = now;
  static const std::string kNoCid;
  for (const std::string& f : j.files) {
    if (add_file(reg, ps, RegCopy{f, kNoCid, -1, true}, now) == REG_OK) changed = true;
  }
  return changed ? REG_OK : REG_UNCHANGED;
}

int reg_leave(Registry* reg, const std::string& id) {
  auto it = reg->peer_ids.find(id);
  if (it == reg->peer_ids.end()) return REG_ENOPEER;
  uint32_t ps = it->second;
  drop_files(reg, ps);
  ip_ids_add(reg, reg->peers[ps].ip, -1);
  reg->peers[ps] = RegPeer();
  reg->peer_ids.erase(it);
  reg->free_peers.push_back(ps);
  return REG_OK;
}

RegPeer* reg_find(Registry* reg, const std::string& id) {
  uint32_t ps = find_slot(reg->peer_ids, id);
  return ps == kRegNone ? nullptr : &reg->peers[ps];
}

const RegPeer* reg_find(const Registry* reg, const std::string& id) {
  uint32_t ps = find_slot(reg->peer_ids, id);
  return ps == kRegNone ? nullptr : &reg->peers[ps];
}

void reg_touch(Registry* reg, const std::string& id, int64_t now) {
  RegPeer* p = reg_find(reg, id);
  if (p != nullptr) p->last_seen = now;
}

void reg_touch_hint(Registry* reg, uint32_t hint, const std::string& id, int64_t now) {
  if (hint < reg->peers.size() && reg->peers[hint].id != nullptr && *reg->peers[hint].id == id) {
    reg->peers[hint].last_seen = now;
    return;
  }
  reg_touch(reg, id, now);
}

/* ----------------------------------------------------------------------------
 * Queries
 * ------------------------------------------------------------------------- */

uint32_t reg_slot(const Registry* reg, const std::string& id) {
  return find_slot(reg->peer_ids, id);
}

// The size a content's holders announced: a complete holder's, else the first's.
static int64_t content_size(const Registry* reg, const RegContent& c) {
  if (c.cid != 0 && reg->cids[c.cid - 1].size >= 0) return reg->cids[c.cid - 1].size;
  size_t n = c.holders.size() < 64 ? c.holders.size() : 64;  // (all holders agree, or lie)
  for (size_t i = 0; i < n; i++)
    if (c.holders[i].complete) return c.holders[i].size;
  return c.holders.empty() ? -1 : c.holders[0].size;
}

// Whether a content has a complete holder among its first 64.
static bool content_complete(const RegContent& c) {
  size_t n = c.holders.size() < 64 ? c.holders.size() : 64;
  for (size_t i = 0; i < n; i++)
    if (c.holders[i].complete) return true;
  return false;
}

static void list_content(const Registry* reg, const RegContent& c, uint32_t holders,
                         RegFileInfo* info) {
  info->contents.push_back(
      RegContentInfo{cid_hex(reg, c.cid), content_size(reg, c), holders, c.first_seen});
}

// Most held first, then first announced first; at most kMaxContentsListed kept.
static void rank_contents(RegFileInfo* info) {
  info->contents_total = info->contents.size();
  size_t keep =
      info->contents.size() < kMaxContentsListed ? info->contents.size() : kMaxContentsListed;
  std::partial_sort(info->contents.begin(), info->contents.begin() + static_cast<ptrdiff_t>(keep),
                    info->contents.end(), [](const RegContentInfo& a, const RegContentInfo& b) {
                      if (a.holders != b.holders) return a.holders > b.holders;
                      if (a.first_seen != b.first_seen) return a.first_seen < b.first_seen;
                      return a.cid < b.cid;
                    });
  info->contents.resize(keep);
}

// The content slots (cid + 1) whose hex starts with `prefix`: up to `max` of them.
static std::vector<uint32_t> cids_with_prefix(const Registry* reg, const std::string& prefix,
                                              size_t max) {
  std::vector<uint32_t> found;
  auto it = reg->cid_ids.lower_bound(prefix);
  for (; it != reg->cid_ids.end() && found.size() < max; ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    found.push_back(it->second + 1);
  }
  return found;
}

// Picks up to ask.want live holders (never ask.exclude) from the chosen
// content's holder lists (reg->group_scratch, in order) into `out`. Few
// holders: all of them, in order. Many: random positions, so the work is
// bounded by `want` however many holders there are.
static void pick_sources(Registry* reg, const RegAsk& ask, int64_t now,
                         std::vector<ProtoSourceRef>* out) {
  const std::vector<const std::vector<RegHolder>*>& groups = reg->group_scratch;
  uint32_t exclude = ask.exclude;
  size_t want = ask.want;
  size_t total = 0;
  for (const std::vector<RegHolder>* g : groups)
    total += g->size();
  // Holders under several names (a content found by id) may be one peer twice.
  std::vector<uint32_t>& taken = reg->taken_scratch;
  taken.clear();
  bool several = groups.size() > 1;
  auto take = [&](const RegHolder& x) {
    reg->holders_read++;
    if (x.peer == exclude) return;
    if (several) {
      if (std::find(taken.begin(), taken.end(), x.peer) != taken.end()) return;
      taken.push_back(x.peer);
    }
    // Expiry is lazy here: a peer past its ttl is not listed even before the sweep.
    const RegPeer& p = reg->peers[x.peer];
    if (!reg_is_alive(reg, p, now)) return;
    const char* blob = p.long_blob ? p.long_blob.get() : p.blob;
    out->push_back(ProtoSourceRef{blob, p.blob_len, p.tcp_port, x.complete != 0});
  };
  if (total <= 2 * want + 16) {
    for (const std::vector<RegHolder>* g : groups)
      for (const RegHolder& x : *g)
        take(x);
    if (out->size() > want) {
      // More sources than wanted: a uniform random selection (partial Fisher-Yates).
      for (size_t i = 0; i < want; i++) {
        std::uniform_int_distribution<size_t> pick(i, out->size() - 1);
        std::swap((*out)[i], (*out)[pick(reg->rng)]);
      }
      out->resize(want);
    }
    return;
  }
  // Random positions without repeats; a few tries more than wanted make up for
  // dead and excluded holders.
  std::vector<size_t>& seen = reg->pick_scratch;
  seen.clear();
  std::uniform_int_distribution<size_t> pick(0, total - 1);
  for (size_t tries = 0; out->size() < want && tries < 4 * want + 16; tries++) {
    size_t k = pick(reg->rng);
    if (std::find(seen.begin(), seen.end(), k) != seen.end()) continue;
    seen.push_back(k);
    for (const std::vector<RegHolder>* g : groups) {
      if (k < g->size()) {
        take((*g)[k]);
        break;
      }
      k -= g->size();
    }
  }
}

// The content a get_peers answers for.
struct Choice {
  uint32_t cid = 0;                     // slot in Registry::cids + 1; 0: none with an id
  const RegContent* content = nullptr;  // its holders under the name answered with
};

// How a content id prefix matched.
enum CidMatch { CID_NONE, CID_ONE, CID_SEVERAL };

// The contents `found` (cid + 1 each, 64 at most), listed for the asker to choose.
static void list_candidates(Registry* reg, const std::vector<uint32_t>& found, RegFileInfo* info) {
  for (uint32_t cid : found) {
    const RegCid& c = reg->cids[cid - 1];
    const RegContent* first = content_of(reg, c.files[0], cid);
    list_content(reg, *first, c.refs, info);
  }
  rank_contents(info);
  if (found.size() == 64) info->contents_total = 64;  // "64 or more"
}

// The holders of content ch->cid under every name it has (at most
// kMaxContentNamesRead of them, and `file` if it is one), into reg->group_scratch;
// the name answered with is `file` if it is one of them, else the one most of
// them use.
static void choose_names(Registry* reg, const std::string& file, Choice* ch, RegFileInfo* info) {
  std::vector<const std::vector<RegHolder>*>& groups = reg->group_scratch;
  uint32_t named = find_slot(reg->file_ids, file), best_fs = kRegNone;
  if (named != kRegNone && content_of(reg, named, ch->cid) == nullptr) named = kRegNone;
  const std::vector<uint32_t>& names = reg->cids[ch->cid - 1].files;
  size_t n = names.size() < kMaxContentNamesRead ? names.size() : kMaxContentNamesRead;
  for (size_t i = 0; i < n; i++) {
    const RegContent* rc = content_of(reg, names[i], ch->cid);
    groups.push_back(&rc->holders);
    if (ch->content == nullptr || rc->holders.size() > ch->content->holders.size()) {
      ch->content = rc;
      best_fs = names[i];
    }
  }
  if (named != kRegNone) {  // the name asked for wins (read even past the bound)
    auto end = names.begin() + static_cast<ptrdiff_t>(n);
    if (std::find(names.begin(), end, named) == end)
      groups.push_back(&content_of(reg, named, ch->cid)->holders);
    ch->content = content_of(reg, named, ch->cid);
    best_fs = named;
  }
  info->name = *reg->files[best_fs].name;
}

// By a content id or prefix (ask.cid, long enough): one content, several (listed
// in info, nobody chosen) or none.
static CidMatch choose_by_cid(Registry* reg, const RegAsk& ask, RegFileInfo* info, Choice* ch) {
  std::vector<uint32_t> found = cids_with_prefix(reg, ask.cid, 64);
  if (found.size() > 1) {
    list_candidates(reg, found, info);
    return CID_SEVERAL;
  }
  if (found.empty()) return CID_NONE;
  ch->cid = found[0];
  choose_names(reg, ask.file, ch, info);
  return CID_ONE;
}

// By name: the first announced content with a complete holder (the others
// listed in info when there are several), and the holders that announced no
// id; their holders into reg->group_scratch.
static void choose_by_name(Registry* reg, const std::string& file, RegFileInfo* info, Choice* ch) {
  uint32_t fs = find_slot(reg->file_ids, file);
  if (fs == kRegNone) return;
  const std::vector<RegContent>& cs = reg->files[fs].contents;
  const RegContent* unknown = nullptr;  // holders that announced no id
  size_t known = 0;
  for (const RegContent& c : cs) {
    if (c.cid == 0) {
      unknown = &c;
      continue;
    }
    known++;
    if (ch->content == nullptr || (!content_complete(*ch->content) && content_complete(c)))
      ch->content = &c;
  }
  if (known > 1) {
    for (const RegContent& c : cs)
      if (c.cid != 0) list_content(reg, c, static_cast<uint32_t>(c.holders.size()), info);
    rank_contents(info);
  }
  if (ch->content != nullptr) {
    ch->cid = ch->content->cid;
    reg->group_scratch.push_back(&ch->content->holders);
  }
  if (unknown != nullptr) reg->group_scratch.push_back(&unknown->holders);
}

static void info_clear(RegFileInfo* info) {
  info->size = -1;
  info->cid.clear();
  info->name.clear();
  info->contents.clear();
  info->contents_total = 0;
}

void reg_sources(Registry* reg, const RegAsk& ask, int64_t now, std::vector<ProtoSourceRef>* out,
                 RegFileInfo* info) {
  out->clear();
  RegFileInfo scratch;
  if (info == nullptr) info = &scratch;
  info_clear(info);
  reg->group_scratch.clear();
  Choice ch;
  CidMatch m = ask.cid.size() >= kMinIdPrefix ? choose_by_cid(reg, ask, info, &ch) : CID_NONE;
  if (m == CID_SEVERAL) return;  // the candidates, and no sources
  if (m == CID_NONE) choose_by_name(reg, ask.file, info, &ch);
  if (ch.content != nullptr && ch.cid != 0) {
    info->size = content_size(reg, *ch.content);
    info->cid = cid_hex(reg, ch.cid);
  }
  pick_sources(reg, ask, now, out);
}

size_t reg_other_contents(const Registry* reg, const std::string& file, const std::string& cid) {
  uint32_t fs = find_slot(reg->file_ids, file);
  if (fs == kRegNone) return 0;
  size_t n = 0;
  for (const RegContent& c : reg->files[fs].contents)
    if (c.cid != 0 && cid_hex(reg, c.cid) != cid) n++;
  return n;
}

size_t reg_peer_count(const Registry* reg) {
  return reg->peer_ids.size();
}

size_t reg_file_count(const Registry* reg) {
  return reg->file_ids.size();
}

bool reg_has_file(const Registry* reg, const std::string& file) {
  return reg->file_ids.count(file) != 0;
}

std::vector<std::string> reg_peer_files(const Registry* reg, const std::string& id) {
  std::vector<std::string> names;
  const RegPeer* p = reg_find(reg, id);
  if (p == nullptr) return names;
  for (uint32_t fs : p->files)
    names.push_back(*reg->files[fs].name);
  std::sort(names.begin(), names.end());
  return names;
}

/* ----------------------------------------------------------------------------
 * Listings
 * ------------------------------------------------------------------------- */

// A listing position: file slot << kListIndexBits | content index. Slots and
// contents per name stay below 2^22 and 2^24 (both are bounded by
// kMaxRegistrations), so a position is an exact JSON number.
static constexpr unsigned kListIndexBits = 24;
static_assert(kMaxRegistrations < (1u << kListIndexBits), "a content index fits its bits");
// Free slots (or slots whose contents are used up) one call passes over at most.
static constexpr size_t kListSkipMax = 4096;

void reg_list_files(const Registry* r, uint64_t* cursor, size_t limit,
                    std::vector<RegFileRow>* out) {
  out->clear();
  uint64_t fs = *cursor >> kListIndexBits;
  uint64_t ci = *cursor & ((uint64_t{1} << kListIndexBits) - 1);
  size_t skipped = 0;
  while (fs < r->files.size()) {
    r->list_slots_read++;
    const RegFile& f = r->files[fs];
    if (f.name == nullptr || ci >= f.contents.size()) {
      fs++;
      ci = 0;
      if (++skipped >= kListSkipMax) break;  // the next call goes on from here
      continue;
    }
    if (out->size() >= limit) break;  // (a row is there: the cursor says where)
    const RegContent& c = f.contents[ci];
    RegFileRow row;
    row.name = *f.name;
    row.cid = cid_hex(r, c.cid);
    row.size = content_size(r, c);
    row.holders = static_cast<uint32_t>(c.holders.size());
    row.complete = c.complete;
    row.first_seen = c.first_seen;
    out->push_back(std::move(row));
    ci++;
  }
  *cursor = fs < r->files.size() ? fs << kListIndexBits | ci : 0;
}
