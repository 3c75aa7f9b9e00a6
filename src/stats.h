// The tracker's counters: requests by action, refusals by reason, probes,
// dropped datagrams, bytes; requests per second over the last minute; and the
// Prometheus text they are served as. Pure data, no I/O (time is passed in).
// Counted by tracker.cc on its hot path (a few increments per datagram), read
// by its console commands and its HTTP routes; tested in tests/unit/test_stats.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "limits.h"

// Why a request was refused: the tracker's error answers, by kind.
enum StatsRefusal {
  REF_MALFORMED = 0,  // not a request the decoder accepts (JSON, fields, sizes)
  REF_UNKNOWN_ACTION,
  REF_MISSING_FIELD,
  REF_NOT_FOUND,  // the peer id is not registered
  REF_NOT_OWNER,  // another address's id, or a missing or wrong token
  REF_ID_HELD,    // join: the id is held by a live peer
  REF_LIMIT,      // a per-address cap (ids, files, contents) or the tracker is full
  REF_MISMATCH,   // a size other than the content id's
  REF_BUSY,       // liveness probes: too many at once, or one runs for that holder
  REF_OTHER,
  REF_COUNT
};

// The label each reason is shown with (console and /metrics).
extern const char* const kStatsRefusalNames[REF_COUNT];

// BitTorrent (BEP 15) requests, counted apart from the JSON actions: by action,
// and the error answers (a bad connection id, a malformed request, a cap).
enum StatsBt { BT_REQ_CONNECT = 0, BT_REQ_ANNOUNCE, BT_REQ_SCRAPE, BT_REQ_ERROR, BT_REQ_COUNT };
extern const char* const kStatsBtNames[BT_REQ_COUNT];

// Requests per second by action over the last kStatsRateSeconds seconds: one
// bucket per second and action, in a ring advanced by the time passed in (the
// buckets of the seconds skipped are cleared), so no timer is needed.
struct StatsRate {
  int64_t second = 0;       // the second the newest bucket counts
  int64_t next_ms = 0;      // when the next second starts (0: nothing counted yet)
  uint32_t cur = 0;         // the newest bucket's index
  uint32_t* row = nullptr;  // buckets[cur] (set by the first count; the ring is not copied)
  uint32_t buckets[kStatsRateSeconds][kStatsMaxActions] = {};
};

struct Stats {
  int64_t started_ms = 0;                    // the loop clock at start
  uint64_t requests[kStatsMaxActions] = {};  // by action table index; see stats_request
  uint64_t refusals[REF_COUNT] = {};         // error answers, by reason
  uint64_t probes_started = 0;
  uint64_t probes_ok = 0;                   // the holder's port accepted
  uint64_t probes_failed = 0;               // refused or timed out
  uint64_t dropped = 0;                     // datagrams left unanswered: oversized, or answers
  uint64_t bytes_in = 0;                    // datagram bytes received
  uint64_t bytes_out = 0;                   // answer bytes sent
  uint64_t bt_requests[BT_REQ_COUNT] = {};  // BitTorrent requests (not in requests[])
  StatsRate rate;
};

// Moves the ring to the second of now_ms, clearing the buckets of the seconds
// in between.
void stats_rate_advance(StatsRate* r, int64_t now_ms);

// Counts a request for action `a` (an index below kStatsMaxActions) at now_ms:
// two increments and a compare, the ring moving on once a second. The clock is
// the loop's, which never goes back.
inline void stats_request(Stats* s, size_t a, int64_t now_ms) {
  s->requests[a]++;
  if (now_ms >= s->rate.next_ms) stats_rate_advance(&s->rate, now_ms);
  s->rate.row[a]++;
}

// Takes back the last stats_request for `a` (a request that is set aside and
// will be handled, and counted, again).
inline void stats_uncount(Stats* s, size_t a) {
  s->requests[a]--;
  s->rate.row[a]--;
}

// Requests for action `a` in the kStatsRateSeconds seconds up to now_ms
// (the current second included).
uint64_t stats_rate_sum(const StatsRate* r, size_t a, int64_t now_ms);

// What /metrics shows besides the counters: gauges read at the time of the request.
struct StatsGauges {
  uint64_t peers = 0;
  uint64_t files = 0;
  uint64_t registrations = 0;
  uint64_t probes_in_flight = 0;
  uint64_t resident_bytes = 0;
  double uptime_s = 0;
  uint64_t bt_swarms = 0;  // BitTorrent info hashes with peers
  uint64_t bt_peers = 0;   // BitTorrent (info hash, peer) entries
};

// The names of the caller's actions, by action table index (n < kStatsMaxActions).
struct StatsActionNames {
  const char* const* names;
  size_t n;
};

// Appends the Prometheus text exposition (format 0.0.4) of s and g to *out:
// metrics named tt_..., each with # HELP and # TYPE. Action names come from the
// caller's table; requests whose action is not in the table are shown as
// action="other".
void stats_metrics_text(const Stats* s, const StatsActionNames& actions, const StatsGauges& g,
                        int64_t now_ms, std::string* out);

// A label value escaped for the text format: \ as \\, " as \", newline as \n.
std::string stats_label_escape(const std::string& v);
