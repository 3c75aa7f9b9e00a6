// progress: the bar's current rate over a sliding window, "stalled", and its text.
#include <catch2/catch.hpp>

#include "progress.h"

TEST_CASE("progress: the rate is the recent one, not the average since the start", "[progress]") {
  RateWindow w;
  rate_window_reset(&w, 0, 0);
  // 10 s at 1 MB/s ...
  uint64_t total = 0;
  for (uint64_t t = 250; t <= 10000; t += 250) {
    total += 250000;
    rate_window_add(&w, t, total);
  }
  CHECK(rate_window_rate(&w, 10000) == Approx(1e6).epsilon(0.01));
  // ... then 100 KB/s for 6 s: the window has forgotten the fast part.
  for (uint64_t t = 10250; t <= 16000; t += 250) {
    total += 25000;
    rate_window_add(&w, t, total);
  }
  double rate = rate_window_rate(&w, 16000);
  CHECK(rate == Approx(1e5).epsilon(0.1));
  CHECK_FALSE(rate_window_stalled(&w, 16000));
}

TEST_CASE("progress: nothing arriving for a few seconds is a stall", "[progress]") {
  RateWindow w;
  rate_window_reset(&w, 1000, 0);
  rate_window_add(&w, 1500, 500000);
  CHECK_FALSE(rate_window_stalled(&w, 1500));
  uint64_t t = 1500;
  for (; t < 1500 + kStalledAfterMs - 250; t += 250)
    rate_window_add(&w, t, 500000);
  CHECK_FALSE(rate_window_stalled(&w, t));
  for (; t <= 1500 + kBarRateWindowMs + 1000; t += 250)
    rate_window_add(&w, t, 500000);
  CHECK(rate_window_stalled(&w, t));
  // The rate decays to nothing once the burst is out of the window.
  CHECK(rate_window_rate(&w, t) == 0);
  // Bytes again: no longer stalled.
  rate_window_add(&w, t + 250, 600000);
  CHECK_FALSE(rate_window_stalled(&w, t + 250));
  CHECK(rate_window_rate(&w, t + 250) > 0);
}

TEST_CASE("progress: a new download starts stalled only after the wait", "[progress]") {
  RateWindow w;
  rate_window_reset(&w, 0, 0);
  CHECK(rate_window_rate(&w, 0) == 0);
  CHECK_FALSE(rate_window_stalled(&w, kStalledAfterMs - 1));
  CHECK(rate_window_stalled(&w, kStalledAfterMs));
  // Many samples in a short time: the ring keeps the newest.
  for (uint64_t t = 1; t <= 1000; t++)
    rate_window_add(&w, t, t * 1000);
  CHECK(rate_window_rate(&w, 1000) > 0);
  // Clocks and totals that go back are taken as standing still.
  rate_window_add(&w, 500, 10);
  CHECK(rate_window_rate(&w, 1000) > 0);
}

TEST_CASE("progress: the bar's text shows rate and ETA, or 'stalled'", "[progress]") {
  double mib = 1024.0 * 1024;
  CHECK(progress_text({"big.bin", 10 * mib, 40 * mib, 1 * mib, false, 3}) ==
        "big.bin   25%  10.0 MiB / 40.0 MiB  1.0 MiB/s  3 sources  ETA 30s");
  CHECK(progress_text({"big.bin", 10 * mib, 40 * mib, 1 * mib, true, 1}) ==
        "big.bin   25%  10.0 MiB / 40.0 MiB  stalled  1 source");
  CHECK(progress_text({"seed.txt", 2048, -1, 512, false, 1}) ==
        "seed.txt  2.0 KiB  512 B/s  1 source  ETA --");
}
