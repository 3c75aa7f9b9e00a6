// The swarm's pure logic: the piece picker (picker.h), the server's choice
// from a want set (serve_choose_piece), the token bucket and rate parsing
// (ratelimit.h), with time passed in.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "limits.h"
#include "picker.h"
#include "ratelimit.h"
#include "serve.h"

namespace {

struct Counts {
  std::vector<uint8_t> state, requested;
  std::vector<uint16_t> wanted, own;
  std::vector<uint64_t> until;
  std::vector<uint16_t> avail;
  explicit Counts(uint32_t n)
      : state(n, 0), requested(n, 0), wanted(n, 0), own(n, 0), until(n, UINT64_MAX), avail(n, 1) {}
  PickerView view() {
    PickerView v;
    v.pieces = static_cast<uint32_t>(state.size());
    v.state = &state;
    v.requested = &requested;
    v.wanted = &wanted;
    v.own_wanted = &own;
    v.wanted_until = &until;
    v.now_ms = 1000;
    v.avail = &avail;
    return v;
  }
};

// picker_pick with the endgame allowed or not.
int pick(PickerView v, const std::vector<uint8_t>& has, const std::vector<uint8_t>& mine,
         bool endgame, uint32_t* cursor, std::vector<uint32_t>* want) {
  v.endgame = endgame;
  return picker_pick(v, has, mine, cursor, want);
}

}  // namespace

TEST_CASE("picker: rarest piece the source has, from the cursor on", "[picker]") {
  Counts k(8);
  std::vector<uint8_t> has(8, 1), mine(8, 0);
  std::vector<uint32_t> want;
  k.avail = {3, 3, 2, 3, 1, 3, 1, 3};
  uint32_t cursor = 5;
  CHECK(pick(k.view(), has, mine, true, &cursor, &want) == 6);  // first of the rarest after 5
  CHECK(cursor == 7);
  CHECK(want == std::vector<uint32_t>{4});  // the other one as rare may come instead
  mine[6] = 1;
  CHECK(pick(k.view(), has, mine, true, &cursor, &want) == 4);
  CHECK(want.empty());  // no other piece as rare: no want set
}

TEST_CASE("picker: only pieces the source has, that we miss and nobody fetches", "[picker]") {
  Counts k(6);
  std::vector<uint8_t> has = {1, 1, 1, 1, 0, 1}, mine(6, 0);
  std::vector<uint32_t> want;
  k.state[0] = 2;      // had
  k.state[1] = 1;      // being verified
  k.requested[2] = 1;  // another source is sending it
  mine[3] = 1;         // this source owes it already
  uint32_t cursor = 0;
  CHECK(pick(k.view(), has, mine, true, &cursor, &want) == 5);
  CHECK(want.empty());
}

TEST_CASE("picker: the endgame asks an idle source for a piece one other is fetching, not two",
          "[picker]") {
  Counts k(3);
  std::vector<uint8_t> has(3, 1), mine(3, 0);
  std::vector<uint32_t> want;
  k.requested = {2, 1, 2};
  uint32_t cursor = 0;
  CHECK(pick(k.view(), has, mine, true, &cursor, &want) == 1);
  CHECK(want.empty());                                            // never a want set in the endgame
  CHECK(pick(k.view(), has, mine, false, &cursor, &want) == -1);  // a busy source: none
  k.requested[1] = 2;
  CHECK(pick(k.view(), has, mine, true, &cursor, &want) == -1);
}

TEST_CASE("picker: nothing to pick from an empty or short list", "[picker]") {
  Counts k(0);
  std::vector<uint8_t> has, mine;
  std::vector<uint32_t> want;
  uint32_t cursor = 0;
  CHECK(pick(k.view(), has, mine, true, &cursor, &want) == -1);
  Counts k2(4);
  std::vector<uint8_t> short_has(2, 1), mine4(4, 0);
  CHECK(pick(k2.view(), short_has, mine4, true, &cursor, &want) == -1);
}

TEST_CASE("serve_choose_piece: the least sent of the want set, the asked piece on ties",
          "[picker]") {
  std::vector<uint8_t> want = {1, 1, 1, 1, 0};
  std::vector<uint32_t> sent = {1, 0, 0, 2, 0};
  CHECK(serve_choose_piece(want, nullptr, sent, 2) == 2);  // asked, and tied for least sent
  CHECK(serve_choose_piece(want, nullptr, sent, 0) == 1);  // the first least sent after it
  CHECK(serve_choose_piece(want, nullptr, sent, 3) == 1);  // wraps around
  std::vector<uint8_t> have = {1, 0, 0, 1, 1};             // a partial source
  CHECK(serve_choose_piece(want, &have, sent, 1) == 0);
  std::vector<uint8_t> none = {0, 0, 0, 0, 0};
  CHECK(serve_choose_piece(none, nullptr, sent, 0) == -1);
}

TEST_CASE("serve_choose_piece: a seeder's concurrent requests get distinct pieces first",
          "[picker]") {
  // Sixteen downloaders ask at once for the same piece with the whole file as
  // their want set: counting as the server does, every piece goes once before any twice.
  const uint32_t n = 32;
  std::vector<uint8_t> want(n, 1);
  std::vector<uint32_t> sent(n, 0);
  for (int round = 0; round < 2; round++) {
    for (uint32_t d = 0; d < n; d++) {
      int j = serve_choose_piece(want, nullptr, sent, 7);
      REQUIRE(j >= 0);
      CHECK(sent[j] == static_cast<uint32_t>(round));
      sent[j]++;
    }
  }
}

TEST_CASE("token bucket: starts with a burst, refills at the rate, goes into debt", "[rate]") {
  const uint64_t s = 1000000000;  // one second in ns
  TokenBucket b;
  bucket_init(&b, 1000000, 0);  // 1 MB/s: a burst of 100,000 bytes
  CHECK(bucket_available(&b, 0) == 100000);
  bucket_spend(&b, 100000, 0);
  CHECK(bucket_available(&b, 0) == 0);
  CHECK(bucket_available(&b, s / 100) == 10000);  // 10 ms later
  bucket_spend(&b, 60000, s / 100);               // 50,000 on credit
  CHECK(bucket_available(&b, s / 100) == 0);
  CHECK(bucket_wait_ms(&b, 10000, s / 100) == 60);  // the debt, then 10,000 more
  CHECK(bucket_available(&b, s / 100 + 60 * s / 1000) == 10000);
  CHECK(bucket_available(&b, 10 * s) == 100000);  // never more than the burst
}

TEST_CASE("token bucket: over a long run, no more than rate x time + burst", "[rate]") {
  TokenBucket b;
  bucket_init(&b, 2 << 20, 0);
  uint64_t sent = 0, now = 0;
  const uint64_t step = 1000000;  // 1 ms
  for (int i = 0; i < 5000; i++, now += step) {
    uint64_t a = bucket_available(&b, now);
    uint64_t n = a < 65536 ? a : 65536;
    bucket_spend(&b, n, now);
    sent += n;
  }
  double secs = static_cast<double>(now) / 1e9;
  CHECK(static_cast<double>(sent) <= (2 << 20) * secs + static_cast<double>(b.burst));
  CHECK(static_cast<double>(sent) >= (2 << 20) * (secs - 0.01));
}

TEST_CASE("token bucket: unlimited and small rates", "[rate]") {
  TokenBucket b;
  bucket_init(&b, 0, 0);
  CHECK(bucket_available(&b, 0) == UINT64_MAX);
  CHECK(bucket_wait_ms(&b, 1 << 30, 0) == 0);
  bucket_init(&b, 1000, 0);  // below a chunk per tenth: the burst is one chunk
  CHECK(b.burst == 64 * 1024);
  bucket_spend(&b, b.burst, 0);
  CHECK(bucket_wait_ms(&b, 1 << 30, 0) == 65536);  // capped at the burst: 65.5 s at 1000 B/s
  bucket_refund(&b, 1 << 30, 0);
  CHECK(bucket_available(&b, 0) == b.burst);  // a refund never passes the burst
}

TEST_CASE("rate_parse: bytes per second with K or M", "[rate]") {
  uint64_t v = 1;
  std::string why;
  CHECK(rate_parse("0", &v, &why) == 0);
  CHECK(v == 0);
  CHECK(rate_parse("500K", &v, &why) == 0);
  CHECK(v == 500 * 1024);
  CHECK(rate_parse("2M", &v, &why) == 0);
  CHECK(v == 2 * 1024 * 1024);
  CHECK(rate_parse("123", &v, &why) == 0);
  CHECK(v == 123);
  for (const char* bad : {"", "K", "-1", "1.5M", "2G", "2 M", "M2", "99999999999999", "0x10"}) {
    INFO(bad);
    CHECK(rate_parse(bad, &v, &why) == -1);
    CHECK_FALSE(why.empty());
  }
  CHECK(rate_parse("1048576M", &v, &why) == 0);  // 1 TiB/s, the most
  CHECK(rate_parse("1048577M", &v, &why) == -1);
}

TEST_CASE("picker: want sets hold at most kWantSetMax pieces and are left to their request",
          "[picker]") {
  const uint32_t n = static_cast<uint32_t>(kWantSetMax) + 40;
  Counts k(n);
  std::vector<uint8_t> has(n, 1), mine(n, 0);
  std::vector<uint32_t> want;
  uint32_t cursor = 10;
  CHECK(pick(k.view(), has, mine, true, &cursor, &want) == 10);
  REQUIRE(want.size() == kWantSetMax);
  CHECK(want.front() == 11);
  CHECK(want.back() == 10 + kWantSetMax);
  // Another source asked next skips the pieces of that request's want set.
  mine[10] = 1;
  for (uint32_t j : want)
    k.wanted[j]++;
  CHECK(pick(k.view(), has, mine, true, &cursor, &want) == static_cast<int>(11 + kWantSetMax));
  // The source whose want set it is goes on in order (its own sets hold nothing back).
  k.own = k.wanted;
  uint32_t again = 11;
  CHECK(pick(k.view(), has, mine, true, &again, &want) == 11);
  k.own.assign(n, 0);
  // A source that has only pieces held by another's want set gets one only in the endgame.
  std::vector<uint8_t> only(n, 0);
  only[12] = 1;
  CHECK(pick(k.view(), only, mine, false, &cursor, &want) == -1);
  CHECK(pick(k.view(), only, mine, true, &cursor, &want) == 12);
  CHECK(want.empty());
  // ... unless the want set has held it for its time: a source that holds its
  // answers cannot keep the piece from the others.
  k.until[12] = 999;
  CHECK(pick(k.view(), only, mine, false, &cursor, &want) == 12);
}

namespace {

// Counts with the picker's index kept up to date, as the downloader keeps it.
struct Indexed : Counts {
  PickerIndex index;
  explicit Indexed(uint32_t n) : Counts(n) {
    picker_index_reset(&index, n);
    for (uint32_t i = 0; i < n; i++)
      touch(i);
  }
  void touch(uint32_t i) { picker_index_update(&index, i, state[i] == 0, requested[i], avail[i]); }
  PickerView indexed() {
    PickerView v = view();
    v.index = &index;
    return v;
  }
};

}  // namespace

TEST_CASE("picker: the index picks exactly what the walk over every piece picks", "[picker]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; round++) {
    const uint32_t n = 1 + rng() % 300;
    Indexed k(n);
    std::vector<uint8_t> has(n), mine(n, 0);
    for (uint32_t i = 0; i < n; i++) {
      k.state[i] = rng() % 5 == 0 ? static_cast<uint8_t>(1 + rng() % 2) : 0;
      k.requested[i] = rng() % 4 == 0 ? static_cast<uint8_t>(1 + rng() % 2) : 0;
      k.avail[i] = static_cast<uint16_t>(1 + rng() % 4);
      has[i] = rng() % 3 != 0;
      if (!has[i] && rng() % 2) k.avail[i] = 0;  // nobody else has it either
      mine[i] = rng() % 10 == 0;
      if (rng() % 8 == 0) {  // held by another source's want set (for a while, or no longer)
        k.wanted[i] = 1;
        k.until[i] = rng() % 2 ? 2000 : 500;
      }
      k.touch(i);
    }
    uint32_t c1 = rng() % n, c2 = c1;
    bool endgame = rng() % 2;
    // A few picks in a row, each marked requested (as a fill does).
    for (int step = 0; step < 6; step++) {
      std::vector<uint32_t> w1, w2;
      int a = pick(k.view(), has, mine, endgame, &c1, &w1);
      int b = pick(k.indexed(), has, mine, endgame, &c2, &w2);
      INFO("round " << round << " step " << step << " n " << n);
      REQUIRE(a == b);
      REQUIRE(c1 == c2);
      REQUIRE(w1 == w2);
      if (a < 0) break;
      mine[static_cast<uint32_t>(a)] = 1;
      if (k.requested[static_cast<uint32_t>(a)] < 255) k.requested[static_cast<uint32_t>(a)]++;
      k.touch(static_cast<uint32_t>(a));
    }
  }
}

// A micro-benchmark, not run by default (no timing assertions):
//   build/tests/unit/unit_tests "[.bench]"
// A whole download's picks from one complete source: each pick is requested,
// then verified (had). The walk over every piece (use_index 0) is what a pick
// costs without the index.
TEST_CASE("picker: benchmark, a whole download of N pieces from one source", "[.bench]") {
  for (uint32_t n : {1024u, 16384u, 65536u, 120000u}) {
    for (int use_index = 0; use_index < 2; use_index++) {
      Indexed k(n);
      std::vector<uint8_t> has(n, 1), mine(n, 0);
      std::vector<uint32_t> want;
      uint32_t cursor = n / 3;
      uint32_t picks = use_index ? n : std::min<uint32_t>(n, 4096);  // the walk is slow
      auto t0 = std::chrono::steady_clock::now();
      for (uint32_t p = 0; p < picks; p++) {
        int i = pick(use_index ? k.indexed() : k.view(), has, mine, false, &cursor, &want);
        REQUIRE(i >= 0);
        k.state[static_cast<uint32_t>(i)] = 2;
        k.touch(static_cast<uint32_t>(i));
      }
      double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      printf("picker %-5s n=%6u: %8.2f us per pick (%u picks)\n", use_index ? "index" : "walk", n,
             us / picks, picks);
    }
  }
}

TEST_CASE("picker: a source is late after several times its own piece time, and 2 s at least",
          "[picker]") {
  const uint32_t piece = 256 * 1024;
  // Nothing measured yet (a source that never sent a piece): the floor.
  CHECK(picker_late_after_ms(0, piece, 0) == kLateMinMs);
  CHECK_FALSE(picker_source_late(10000 + kLateMinMs, 10000, 0, piece, 0));
  CHECK(picker_source_late(10000 + kLateMinMs + 1, 10000, 0, piece, 0));
  CHECK_FALSE(picker_source_late(5000, 10000, 0, piece, 0));  // due in the future: not late
  // A fast source: the floor too.
  CHECK(picker_late_after_ms(100e6, piece, 1) == kLateMinMs);
  // A slow honest one, 64 KiB/s (4 s a piece) 50 ms away: kLateFactor x 4.05 s.
  uint64_t slow = picker_late_after_ms(64 * 1024, piece, 50);
  CHECK(slow == static_cast<uint64_t>(kLateFactor * 4050));
  CHECK_FALSE(picker_source_late(1000 + 12000, 1000, 64 * 1024, piece, 50));  // 3 pieces' time
  CHECK(picker_source_late(1000 + slow + 1, 1000, 64 * 1024, piece, 50));
  // A far one: its round trip counts (kLateFactor x 600 ms).
  CHECK(picker_late_after_ms(0, piece, 600) == static_cast<uint64_t>(kLateFactor * 600));
  // A rate next to nothing: never late (the stall limit and --min-rate act).
  CHECK(picker_late_after_ms(1e-12, piece, 0) >= uint64_t{1} << 40);
}

TEST_CASE("picker: pieces whose every request is at a late source, each once", "[picker]") {
  std::vector<uint8_t> requested = {0, 1, 2, 2, 1, 3, 1, 0};
  // One entry per request out at a late source: 1 once; 2 twice (both late);
  // 3 once of two (a timely source fetches it too); 5 twice of three; 6 once.
  std::vector<uint32_t> late = {6, 2, 1, 3, 5, 2, 5, 9};
  picker_late_only(requested, &late);
  CHECK(late == std::vector<uint32_t>{1, 2, 6});
  late.clear();
  picker_late_only(requested, &late);
  CHECK(late.empty());
}

TEST_CASE("picker: an idle source takes a piece only late sources are fetching, rarest first",
          "[picker]") {
  Counts k(8);
  std::vector<uint8_t> has = {1, 1, 1, 1, 1, 1, 0, 1}, mine(8, 0);
  std::vector<uint32_t> late = {1, 3, 5, 6, 7};
  for (uint32_t i : late)
    k.requested[i] = 1;
  k.state[3] = 1;  // being verified
  k.avail = {2, 3, 3, 3, 3, 3, 2, 3};
  uint32_t cursor = 6;
  // 6 is rarest but this source lacks it; 7, 1, 5 are as rare: the first from the cursor.
  CHECK(picker_pick_late(k.view(), has, mine, late, &cursor) == 7);
  CHECK(cursor == 0);
  mine[7] = 1;  // it owes 7 now
  CHECK(picker_pick_late(k.view(), has, mine, late, &cursor) == 1);
  k.avail[5] = 2;  // rarer wins over the cursor
  cursor = 0;
  CHECK(picker_pick_late(k.view(), has, mine, late, &cursor) == 5);
  late.clear();
  CHECK(picker_pick_late(k.view(), has, mine, late, &cursor) == -1);
}

TEST_CASE("rate floor: a whole window below min_rate is too slow, one above starts again",
          "[rate]") {
  RateFloor f;
  f.min_rate = 1000;  // bytes per second
  f.window_ms = 2000;
  std::string why;
  REQUIRE_FALSE(rate_floor_below(&f, 100, 10000, &why));  // the window starts
  REQUIRE_FALSE(rate_floor_below(&f, 100, 11000, &why));  // not a whole window yet
  REQUIRE(rate_floor_below(&f, 100, 12000, &why));        // 300 bytes in 2 s
  REQUIRE(why == "sent 300 bytes in 2 s, below the --min-rate of 1000 bytes/s");

  RateFloor g;
  g.min_rate = 1000;
  g.window_ms = 2000;
  REQUIRE_FALSE(rate_floor_below(&g, 500, 10000, &why));
  REQUIRE_FALSE(rate_floor_below(&g, 2000, 12000, &why));  // 2500 in 2 s: a new window
  REQUIRE_FALSE(rate_floor_below(&g, 10, 13000, &why));
  rate_floor_reset(&g);                                  // our limit held it back
  REQUIRE_FALSE(rate_floor_below(&g, 10, 20000, &why));  // the window starts again
  REQUIRE(rate_floor_below(&g, 10, 22000, &why));

  RateFloor off;  // min_rate 0: no floor
  REQUIRE_FALSE(rate_floor_below(&off, 0, 10000, &why));
  REQUIRE_FALSE(rate_floor_below(&off, 0, 99999, &why));
}
