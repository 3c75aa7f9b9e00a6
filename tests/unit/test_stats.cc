// stats: the request-rate ring, the Prometheus text, the tracker's counters and
// its listings (peers, files, stats, the status page), and the HTTP helpers.
#include <catch2/catch.hpp>
#include <cstring>

#include "http.h"
#include "stats.h"
#include "tracker.h"
#include "tracker_call.h"

static bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("stats: the rate ring counts the last minute, second by second", "[stats]") {
  Stats* s = new Stats;
  int64_t t0 = 1000000;  // ms
  stats_request(s, 0, t0);
  stats_request(s, 0, t0 + 10);
  stats_request(s, 1, t0 + 20);
  CHECK(stats_rate_sum(&s->rate, 0, t0 + 30) == 2);
  CHECK(stats_rate_sum(&s->rate, 1, t0 + 30) == 1);
  stats_request(s, 0, t0 + 5000);  // five seconds later
  CHECK(stats_rate_sum(&s->rate, 0, t0 + 5000) == 3);
  // 59 seconds after the first: still in the window; 60 after: gone.
  CHECK(stats_rate_sum(&s->rate, 0, t0 + 59000) == 3);
  CHECK(stats_rate_sum(&s->rate, 0, t0 + 60000) == 1);
  CHECK(stats_rate_sum(&s->rate, 0, t0 + 65000) == 0);
  // A request after a long silence starts again from nothing; the totals stay.
  stats_request(s, 0, t0 + 65000);
  CHECK(stats_rate_sum(&s->rate, 0, t0 + 65000) == 1);
  CHECK(stats_rate_sum(&s->rate, 1, t0 + 65000) == 0);
  CHECK(s->requests[0] == 4);
  CHECK(s->requests[1] == 1);
  delete s;
}

TEST_CASE("stats: a ring advanced second by second keeps exactly sixty seconds", "[stats]") {
  Stats* s = new Stats;
  for (int64_t sec = 0; sec < 200; sec++)
    stats_request(s, 2, sec * 1000 + 500);
  CHECK(stats_rate_sum(&s->rate, 2, 199 * 1000 + 900) == kStatsRateSeconds);
  CHECK(stats_rate_sum(&s->rate, 2, 229 * 1000) == 30);
  delete s;
}

TEST_CASE("stats: the metrics text has HELP and TYPE lines and escaped labels", "[stats]") {
  Stats* s = new Stats;
  const char* actions[] = {"join", "we\"ird\\na\nme"};
  stats_request(s, 0, 1000);
  stats_request(s, 1, 1000);
  stats_request(s, kStatsMaxActions - 1, 1000);
  s->refusals[REF_NOT_FOUND] = 3;
  s->probes_ok = 2;
  StatsGauges g;
  g.peers = 7;
  g.files = 5;
  g.resident_bytes = 12345;
  g.uptime_s = 1.5;
  std::string text;
  stats_metrics_text(s, StatsActionNames{actions, 2}, g, 1000, &text);
  CHECK(has(text, "# HELP tt_requests_total "));
  CHECK(has(text, "# TYPE tt_requests_total counter\n"));
  CHECK(has(text, "tt_requests_total{action=\"join\"} 1\n"));
  CHECK(has(text, "tt_requests_total{action=\"we\\\"ird\\\\na\\nme\"} 1\n"));
  CHECK(has(text, "tt_requests_total{action=\"other\"} 1\n"));
  CHECK(has(text, "tt_requests_last_minute{action=\"join\"} 1\n"));
  CHECK(has(text, "tt_refusals_total{reason=\"not_found\"} 3\n"));
  CHECK(has(text, "tt_probes_total{result=\"ok\"} 2\n"));
  CHECK(has(text, "# TYPE tt_peers gauge\ntt_peers 7\n"));
  CHECK(has(text, "tt_files 5\n"));
  CHECK(has(text, "tt_resident_memory_bytes 12345\n"));
  CHECK(has(text, "tt_uptime_seconds 1.500\n"));
  // Every sample line belongs to a metric announced by a TYPE line before it.
  size_t pos = 0;
  std::string typed;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    REQUIRE(nl != std::string::npos);
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      typed = line.substr(7, line.find(' ', 7) - 7);
    } else if (line[0] != '#') {
      CHECK(line.rfind(typed, 0) == 0);
    }
  }
  delete s;
}

TEST_CASE("stats: the tracker counts requests by action and refusals by reason", "[stats]") {
  Tracker* t = quiet_tracker();
  send(t, R"({"action":"join","peer_id":"a","files":["f"],"tcp_port":1001})");
  send(t, R"({"action":"join","peer_id":"b","files":[],"tcp_port":1002})", "127.0.0.1", 4001);
  send(t, R"({"action":"get_peers","peer_id":"b","file_name":"f"})");
  send(t, R"({"action":"share_file","peer_id":"nobody","file":"f"})");             // not found
  send(t, R"({"action":"share_file","peer_id":"a","file":"g"})", "127.0.0.1", 9);  // not owner
  send(t, R"({"action":"dance","peer_id":"a"})");                                  // unknown action
  send(t, R"({"action":"get_peers","peer_id":"a"})");                              // missing field
  send(t, "not json at all");                                                      // malformed
  send(t, R"({"status":"ok"})");  // an answer: dropped
  const Stats& s = t->stats;
  CHECK(s.requests[0] == 2);                     // join
  CHECK(s.requests[1] == 2);                     // share_file
  CHECK(s.requests[2] == 2);                     // get_peers
  CHECK(s.requests[kStatsMaxActions - 1] == 2);  // unknown and malformed
  CHECK(s.refusals[REF_NOT_FOUND] == 1);
  CHECK(s.refusals[REF_NOT_OWNER] == 1);
  CHECK(s.refusals[REF_UNKNOWN_ACTION] == 1);
  CHECK(s.refusals[REF_MISSING_FIELD] == 1);
  CHECK(s.refusals[REF_MALFORMED] == 1);
  CHECK(s.refusals[REF_OTHER] == 0);
  CHECK(s.dropped == 1);
  std::string m;
  tracker_metrics_text(t, &m);
  CHECK(has(m, "tt_requests_total{action=\"join\"} 2\n"));
  CHECK(has(m, "tt_refusals_total{reason=\"not_owner\"} 1\n"));
  CHECK(has(m, "tt_peers 2\n"));
  CHECK(has(m, "tt_files 1\n"));
  CHECK(has(m, "tt_registrations 1\n"));
  std::string st;
  tracker_stats_text(t, &st);
  CHECK(has(st, "peers: 2, files: 1, registrations: 1\n"));
  CHECK(has(st, "requests join: "));
  CHECK(has(st, "not_found 1,"));
  delete t;
}

TEST_CASE("stats: a join that waits for a probe is counted once, when answered", "[stats]") {
  Tracker* t = quiet_tracker();
  tracker_init_key(t);
  t->opt.peer_ttl_s = 9;
  t->reg.ttl_ms = 9000;
  send(t, R"({"action":"join","v":1,"seq":1,"peer_id":"7","files":[],"tcp_port":1007})");
  std::string j = R"({"action":"join","v":1,"seq":1,"peer_id":"7","files":[],"tcp_port":2007})";
  std::string probe_id;
  REQUIRE(tracker_handle(t, j, "127.0.0.1", 5000, &probe_id) == TRACKER_PROBE);
  CHECK(t->stats.requests[0] == 1);
  CHECK(stats_rate_sum(&t->stats.rate, 0, t->now) == 1);
  tracker_probe_result(t, "7", PROBE_ALIVE);
  REQUIRE(tracker_handle(t, j, "127.0.0.1", 5000) == TRACKER_ANSWER);
  CHECK(has(t->answer, "held by a live peer"));
  CHECK(t->stats.requests[0] == 2);
  CHECK(stats_rate_sum(&t->stats.rate, 0, t->now) == 2);
  CHECK(t->stats.refusals[REF_ID_HELD] == 1);
  delete t;
}

TEST_CASE("stats: peers and files list at most 100 rows, then how many more", "[stats]") {
  Tracker* t = quiet_tracker();
  for (int i = 0; i < 130; i++) {
    std::string id = "p" + std::to_string(i);
    send(t,
         R"({"action":"join","peer_id":")" + id + R"(","files":["n)" + std::to_string(i) +
             R"("],"tcp_port":)" + std::to_string(2000 + i) + "}",
         "127.0.0.1", 5000 + i);
  }
  std::string peers, files;
  tracker_peers_text(t, &peers);
  tracker_files_text(t, &files);
  CHECK(peers.rfind("id ", 0) == 0);
  CHECK(has(peers, "p0 "));
  CHECK(has(peers, "... and 30 more\n"));
  CHECK(std::count(peers.begin(), peers.end(), '\n') == 1 + 100 + 1);
  CHECK(files.rfind("name ", 0) == 0);
  CHECK(has(files, "n0 "));
  CHECK(has(files, "... and more (130 names in all)\n"));
  CHECK(std::count(files.begin(), files.end(), '\n') == 1 + 100 + 1);
  delete t;
}

TEST_CASE("stats: the status page escapes what peers chose", "[stats]") {
  Tracker* t = quiet_tracker();
  send(t, R"({"action":"join","peer_id":"<script>x</script>","files":["a&b<i>"],"tcp_port":1})");
  std::string html;
  tracker_status_html(t, &html);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK_FALSE(has(html, "<script>"));
  CHECK(has(html, "&lt;script&gt;x&lt;/script&gt;"));
  CHECK(has(html, "a&amp;b&lt;i&gt;"));
  delete t;
}

TEST_CASE("http: HTML escaping", "[http]") {
  CHECK(http_html_escape("<a href=\"x\">'&'</a>") ==
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}
