// The tracker's state: peer id -> {address, files, liveness} and file -> peers,
// kept as sets so that repeating a request changes nothing. Pure data: no libuv
// and no I/O (time is passed in), so the tracker's rules are tested directly
// (tests/unit/test_registry.cc).
//
// Compact on purpose (at most 150 bytes per registration at 1M of them): every
// peer id, file name and content id is stored once, in the key of its index
// map, and everything else refers to it by slot number. A registration (one
// peer holding one file) costs one 16-byte RegHolder in its content's list and
// one 4-byte slot number in the peer's sorted list; get_peers reads holders of
// one content at random positions (at most a few times numwant of them) and
// each holder's peer slot directly, with no lookup per source.
//
// Names are labels, content ids are identities: a name keeps every content id
// shared under it (RegFile::contents), each with its own holders, and a content
// id knows the names it is held under (RegCid::files).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "limits.h"
#include "proto_source.h"

constexpr uint32_t kRegNone = UINT32_MAX;

// The bytes a peer is listed with (RegJoin::blob) are kept in its record up
// to this many: every id of up to 28 bytes, and most longer ones.
constexpr size_t kRegBlobInline = 116;

// A peer. What listing it as a source reads comes first, in the record's first
// 128 bytes (two cache lines, the record starting on a 64-byte boundary): its
// liveness, its port and its blob. A get_peers reads each of its sources there
// and nowhere else.
struct alignas(64) RegPeer {
  int64_t last_seen = 0;  // ms: last sign of life (a request, a heartbeat, a probe)
  uint16_t tcp_port = 0;
  uint16_t blob_len = 0;            // its blob: blob_len bytes,
  char blob[kRegBlobInline] = {};   // here, or in long_blob when longer
  const std::string* id = nullptr;  // the key in Registry::peer_ids; null: a free slot
  uint32_t ip = 0;                  // IPv4, network byte order
  uint16_t udp_port = 0;         // the source port of its join: requests for the id come from here
  bool extended = false;         // joined with "v":1: proves ownership with a token, heartbeats
  unsigned char token[16] = {};  // the token its join answer gave (set by the tracker)
  std::vector<uint32_t> files;   // file slots, sorted (no duplicates)
  std::unique_ptr<char[]> long_blob;
};
static_assert(sizeof(RegPeer) == 192, "RegPeer: two lines to list it, one more for the rest");

// One peer's copy of a file: 16 bytes.
struct RegHolder {
  uint32_t peer;      // slot in Registry::peers
  uint32_t complete;  // 0: a downloader serving the pieces it has verified
  int64_t size;       // as announced; -1 when not (seed peers)
};

// One content under a name: the holders that announced that content id.
// Names are labels, content ids are identities: a name may carry several.
struct RegContent {
  uint32_t cid = 0;                // slot in Registry::cids + 1; 0: holders that announced no id
  uint32_t ip = 0;                 // the address that first announced it under this name
  int64_t first_seen = 0;          // ms: when it was first announced under this name
  uint32_t complete = 0;           // holders with a complete copy (kept as they change)
  std::vector<RegHolder> holders;  // registration order
};

struct RegFile {
  const std::string* name = nullptr;  // the key in Registry::file_ids; null: a free slot
  std::vector<RegContent> contents;   // in the order they were first announced
};

struct RegCid {
  const std::string* hex = nullptr;  // the key in Registry::cid_ids
  uint32_t refs = 0;                 // holders that announced it, under any name
  std::vector<uint32_t> files;       // the names (file slots) it is held under
  int64_t size = -1;                 // the size its first announcement gave (an id has one size)
};

// One content a name (or a content id prefix) could mean, for the asker to choose.
struct RegContentInfo {
  std::string cid;
  int64_t size = -1;
  uint32_t holders = 0;
  int64_t first_seen = 0;  // ms, the registry's clock
};

// What get_peers tells about a file besides its sources.
struct RegFileInfo {
  int64_t size = -1;
  std::string cid;
  std::string name;  // found by content id: the name most of its holders use
  // More than one content fits the request: the candidates, most held first (at
  // most kMaxContentsListed), and how many there are.
  std::vector<RegContentInfo> contents;
  size_t contents_total = 0;
};

// One content under one name, for listings (the tracker's `files` console
// command, its `list` action, its HTTP status page).
struct RegFileRow {
  std::string name;
  std::string cid;         // hex content id; "" when its holders announced none (seed peers)
  int64_t size = -1;       // -1: unknown
  uint32_t holders = 0;    // peers holding it
  uint32_t complete = 0;   // of them, complete copies
  int64_t first_seen = 0;  // ms, the registry's clock
};

// What one IP holds: peer ids and registrations (id x file), for the
// tracker's per-address caps.
struct RegIpCount {
  uint32_t ids = 0;
  uint64_t files = 0;
};

struct Registry {
  std::vector<RegPeer> peers;  // slots; the free ones are listed in free_peers
  std::vector<uint32_t> free_peers;
  std::unordered_map<std::string, uint32_t> peer_ids;  // id -> slot
  std::vector<RegFile> files;
  std::vector<uint32_t> free_files;
  std::unordered_map<std::string, uint32_t> file_ids;  // name -> slot
  std::vector<RegCid> cids;
  std::vector<uint32_t> free_cids;
  std::map<std::string, uint32_t> cid_ids;  // content id (hex) -> slot; ordered for prefixes
  int64_t ttl_ms = 90 * 1000;               // a peer unseen this long is gone
  std::mt19937_64 rng{0x7474};              // for random selections of sources
  // Registrations (a peer holding a name): in all, and per IPv4 address.
  size_t registrations = 0;
  size_t max_files_per_ip = kDefaultMaxFilesPerIp;
  size_t max_contents_per_ip = kDefaultMaxContentsPerIp;  // new contents per name and address
  std::unordered_map<uint32_t, RegIpCount> per_ip;        // IPv4 (network order) -> what it holds
  std::vector<size_t> pick_scratch;                       // reg_sources', reused
  std::vector<const std::vector<RegHolder>*> group_scratch;
  std::vector<uint32_t> taken_scratch;
  uint64_t holders_read = 0;             // holders get_peers answers have looked at (for tests)
  mutable uint64_t list_slots_read = 0;  // file slots reg_list_files has looked at (for tests)
};

enum RegStatus {
  REG_OK = 0,
  REG_UNCHANGED = 1,  // the request repeated what the registry already holds
  REG_ENOPEER = -1,   // no such peer
  REG_CONFLICT = -2,  // the id is held from another address by a peer not known to be dead
  REG_FULL = -4,      // a cap on registrations (per peer, per address, in all) is reached
  REG_CROWDED = -5,   // the address has introduced max_contents_per_ip contents under the name
  REG_MISMATCH = -6,  // a size other than the one the content id was announced with
};

// A join: who, from where, holding what.
struct RegJoin {
  const std::string& id;
  uint32_t ip;  // IPv4, network byte order
  int tcp_port;
  int udp_port;  // the source port of the join
  const std::vector<std::string>& files;
  bool extended;  // joined with "v":1
  // The bytes the peer is listed with (proto_source_blob of id, ip and
  // tcp_port): kept as they are, at most UINT16_MAX of them.
  const std::string& blob;
};

// Registers (or refreshes) a peer and every file it lists. The same address
// (ip and tcp_port) is the same process: files are added, and the UDP port it
// now speaks from is recorded. Another address for a
// known id is REG_CONFLICT while the holder may be alive; a holder unseen for
// ttl_ms is replaced, its files forgotten. REG_FULL, changing nothing, when the
// new files would pass a cap (kMaxFilesPerPeer, max_files_per_ip, kMaxRegistrations).
int reg_join(Registry* reg, const RegJoin& join, int64_t now);

// A copy of a file, as a peer announces it.
struct RegCopy {
  const std::string& file;
  const std::string& cid;  // hex content id; "" when not announced
  int64_t size;            // -1 when not announced
  bool complete;           // false: a downloader serving the pieces it has verified
};
// Registers `copy` at peer `id`. Announcing it again changes nothing, except
// that a partial copy may become complete and a size or content id may be
// learnt (a new id moves the copy to that content). REG_FULL at a cap.
int reg_add_file(Registry* reg, const std::string& id, const RegCopy& copy, int64_t now);
int reg_leave(Registry* reg, const std::string& id);
RegPeer* reg_find(Registry* reg, const std::string& id);
const RegPeer* reg_find(const Registry* reg, const std::string& id);
// Records a sign of life.
void reg_touch(Registry* reg, const std::string& id, int64_t now);
// The same, trying slot `hint` first (the requester's slot looked up before the
// request was handled: still id's unless the handler moved or removed it).
void reg_touch_hint(Registry* reg, uint32_t hint, const std::string& id, int64_t now);
bool reg_is_alive(const Registry* reg, const RegPeer& p, int64_t now);
// What a get_peers asks for.
struct RegAsk {
  const std::string& file;  // the name
  const std::string& cid;   // a content id or a prefix of one; "": by name
  uint32_t exclude;         // the asker's slot, never listed (kRegNone: nobody)
  size_t want;              // sources wanted at most
};

// Up to ask.want live holders of one content, other than the asker: all of
// them in registration order when few, else a random selection (the work is
// bounded by want, not by the number of holders).
//
// Which content: with ask.cid (a content id or a prefix of 8 or more hex
// digits) that matches one content, that one, under every name (info->name:
// the name most of its holders use); a prefix that matches several lists them
// in info->contents and selects nobody; one that matches none falls back to the
// name. By name: its one content with holders that announced no id (seed
// peers, whose bytes are unknown). A name that carries several contents answers
// with the first announced that has a complete holder (what seed requests get)
// and lists them all in info->contents. The blobs in `out` point into the
// registry: valid until it next changes. `info` may be null.
void reg_sources(Registry* reg, const RegAsk& ask, int64_t now, std::vector<ProtoSourceRef>* out,
                 RegFileInfo* info);
// How many contents other than `cid` the name `file` carries.
size_t reg_other_contents(const Registry* reg, const std::string& file, const std::string& cid);
// The slot of peer `id` in reg->peers, or kRegNone.
uint32_t reg_slot(const Registry* reg, const std::string& id);

// What `ip` (network byte order) holds now.
RegIpCount reg_ip_count(const Registry* reg, uint32_t ip);

// Counts and views, for the tracker's console and for tests.
size_t reg_peer_count(const Registry* reg);
size_t reg_file_count(const Registry* reg);
bool reg_has_file(const Registry* reg, const std::string& file);
// The names peer `id` holds, sorted.
std::vector<std::string> reg_peer_files(const Registry* reg, const std::string& id);

// Up to `limit` rows, starting at the opaque position `*cursor` (0: the start);
// sets *cursor to where the next page starts, 0 when there is none. The cost is
// bounded by limit (plus free slots skipped, bounded too), never the table size.
//
// Rows come in slot order, one per (name, content). The position is a slot
// number and a content index, which stay put while the table changes: a name
// or content removed between pages is never listed again and others keep their
// place (a row may be skipped or repeated when contents of the name where the
// page ended come or go). Any cursor is safe: one past the table ends the list.
void reg_list_files(const Registry* r, uint64_t* cursor, size_t limit,
                    std::vector<RegFileRow>* out);
