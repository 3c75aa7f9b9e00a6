// The tracker's counters and their Prometheus text; see stats.h.
#include "stats.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "out.h"

const char* const kStatsRefusalNames[REF_COUNT] = {
    "malformed", "unknown_action", "missing_field", "not_found", "not_owner",
    "id_held",   "limit",          "mismatch",      "busy",      "other",
};

const char* const kStatsBtNames[BT_REQ_COUNT] = {"connect", "announce", "scrape", "error"};

void stats_rate_advance(StatsRate* r, int64_t now_ms) {
  int64_t second = now_ms / 1000;
  int64_t gap = second - r->second;
  if (r->next_ms == 0 || gap >= kStatsRateSeconds) {
    // The first count, or a minute or more of silence: nothing left to keep.
    memset(r->buckets, 0, sizeof r->buckets);
    r->cur = static_cast<uint32_t>(second % kStatsRateSeconds);
  } else {
    for (int64_t s = 0; s < gap; s++) {
      r->cur = (r->cur + 1) % kStatsRateSeconds;
      memset(r->buckets[r->cur], 0, sizeof r->buckets[0]);
    }
  }
  r->row = r->buckets[r->cur];
  r->second = second;
  r->next_ms = (second + 1) * 1000;
}

uint64_t stats_rate_sum(const StatsRate* r, size_t a, int64_t now_ms) {
  if (r->next_ms == 0) return 0;
  int64_t now = now_ms / 1000;
  int64_t first = now - (kStatsRateSeconds - 1);  // the oldest second in the window
  int64_t kept = r->second - (kStatsRateSeconds - 1);
  if (kept > first) first = kept;
  uint64_t sum = 0;
  for (int64_t s = first; s <= r->second && s <= now; s++) {
    int64_t back = r->second - s;  // 0 to kStatsRateSeconds - 1 seconds before the newest
    sum += r->buckets[(r->cur + kStatsRateSeconds - back) % kStatsRateSeconds][a];
  }
  return sum;
}

std::string stats_label_escape(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '"')
      out += "\\\"";
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  return out;
}

static void header(std::string* out, const char* name, const char* type, const char* help) {
  text_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labelled(std::string* out, const char* name, const char* label, const char* value,
                     uint64_t v) {
  std::string esc = stats_label_escape(value);
  text_appendf(out, "%s{%s=\"", name, label);
  out->append(esc);
  text_appendf(out, "\"} %" PRIu64 "\n", v);
}

static void gauge(std::string* out, const char* name, const char* help, uint64_t v) {
  header(out, name, "gauge", help);
  text_appendf(out, "%s %" PRIu64 "\n", name, v);
}

void stats_metrics_text(const Stats* s, const StatsActionNames& table, const StatsGauges& g,
                        int64_t now_ms, std::string* out) {
  const char* const* actions = table.names;
  size_t n = table.n < kStatsMaxActions ? table.n : kStatsMaxActions - 1;
  header(out, "tt_requests_total", "counter", "Requests received, by action.");
  for (size_t a = 0; a < n; a++)
    labelled(out, "tt_requests_total", "action", actions[a], s->requests[a]);
  labelled(out, "tt_requests_total", "action", "other", s->requests[kStatsMaxActions - 1]);
  header(out, "tt_requests_last_minute", "gauge",
         "Requests received in the last 60 seconds, by action.");
  for (size_t a = 0; a < n; a++)
    labelled(out, "tt_requests_last_minute", "action", actions[a],
             stats_rate_sum(&s->rate, a, now_ms));
  labelled(out, "tt_requests_last_minute", "action", "other",
           stats_rate_sum(&s->rate, kStatsMaxActions - 1, now_ms));
  header(out, "tt_refusals_total", "counter", "Requests answered with an error, by reason.");
  for (size_t r = 0; r < REF_COUNT; r++)
    labelled(out, "tt_refusals_total", "reason", kStatsRefusalNames[r], s->refusals[r]);
  header(out, "tt_probes_total", "counter", "Liveness probes of peers' TCP ports, by result.");
  labelled(out, "tt_probes_total", "result", "started", s->probes_started);
  labelled(out, "tt_probes_total", "result", "ok", s->probes_ok);
  labelled(out, "tt_probes_total", "result", "failed", s->probes_failed);
  header(out, "tt_datagrams_dropped_total", "counter",
         "Datagrams left unanswered: oversized, or answers.");
  text_appendf(out, "tt_datagrams_dropped_total %" PRIu64 "\n", s->dropped);
  header(out, "tt_received_bytes_total", "counter", "Datagram bytes received.");
  text_appendf(out, "tt_received_bytes_total %" PRIu64 "\n", s->bytes_in);
  header(out, "tt_sent_bytes_total", "counter", "Answer bytes sent.");
  text_appendf(out, "tt_sent_bytes_total %" PRIu64 "\n", s->bytes_out);
  gauge(out, "tt_peers", "Registered peer ids.", g.peers);
  gauge(out, "tt_files", "Registered file names.", g.files);
  gauge(out, "tt_registrations", "Registrations (one peer holding one name).", g.registrations);
  gauge(out, "tt_probes_in_flight", "Liveness probes running now.", g.probes_in_flight);
  gauge(out, "tt_resident_memory_bytes", "Resident memory of the tracker process.",
        g.resident_bytes);
  header(out, "tt_bt_requests_total", "counter",
         "BitTorrent (BEP 15) requests, by action; error: requests answered with an error.");
  for (size_t a = 0; a < BT_REQ_COUNT; a++)
    labelled(out, "tt_bt_requests_total", "action", kStatsBtNames[a], s->bt_requests[a]);
  gauge(out, "tt_bt_swarms", "BitTorrent info hashes with peers.", g.bt_swarms);
  gauge(out, "tt_bt_peers", "BitTorrent peers, one per info hash and address.", g.bt_peers);
  header(out, "tt_uptime_seconds", "gauge", "Seconds since the tracker started.");
  text_appendf(out, "tt_uptime_seconds %.3f\n", g.uptime_s);
}
