// Token buckets and the gate that runs one on the loop. See ratelimit.h.
#include "ratelimit.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "limits.h"

void bucket_init(TokenBucket* b, uint64_t rate, uint64_t now_ns) {
  b->rate = rate;
  // A tenth of a second of sending may be saved up, and at least one chunk, so
  // that a limit below a chunk per tenth still lets whole chunks through.
  b->burst = std::max<uint64_t>(rate / 10, kRateMinBurst);
  b->tokens = static_cast<double>(b->burst);
  b->last_ns = now_ns;
}

static void bucket_refill(TokenBucket* b, uint64_t now_ns) {
  if (now_ns <= b->last_ns) return;
  double add = static_cast<double>(b->rate) * static_cast<double>(now_ns - b->last_ns) / 1e9;
  b->tokens = std::min(b->tokens + add, static_cast<double>(b->burst));
  b->last_ns = now_ns;
}

uint64_t bucket_available(TokenBucket* b, uint64_t now_ns) {
  if (b->rate == 0) return UINT64_MAX;
  bucket_refill(b, now_ns);
  return b->tokens > 0 ? static_cast<uint64_t>(b->tokens) : 0;
}

void bucket_spend(TokenBucket* b, uint64_t n, uint64_t now_ns) {
  if (b->rate == 0) return;
  bucket_refill(b, now_ns);
  b->tokens -= static_cast<double>(n);
}

void bucket_refund(TokenBucket* b, uint64_t n, uint64_t now_ns) {
  if (b->rate == 0) return;
  bucket_refill(b, now_ns);
  b->tokens = std::min(b->tokens + static_cast<double>(n), static_cast<double>(b->burst));
}

uint64_t bucket_wait_ms(TokenBucket* b, uint64_t need, uint64_t now_ns) {
  if (b->rate == 0) return 0;
  bucket_refill(b, now_ns);
  need = std::min(need, b->burst);  // more can never be saved up
  double missing = static_cast<double>(need) - b->tokens;
  if (missing <= 0) return 0;
  uint64_t ms = static_cast<uint64_t>(std::ceil(missing * 1000.0 / static_cast<double>(b->rate)));
  return ms > 0 ? ms : 1;
}

bool rate_floor_below(RateFloor* f, uint64_t bytes, uint64_t now_ms, std::string* why) {
  if (f->min_rate == 0) return false;
  if (f->start_ms == 0) {
    f->start_ms = now_ms;
    f->bytes = 0;
  }
  f->bytes += bytes;
  uint64_t span = now_ms - f->start_ms;
  if (span < f->window_ms) return false;
  if (f->bytes * 1000 < f->min_rate * span) {
    *why = "sent " + std::to_string(f->bytes) + " bytes in " + std::to_string(span / 1000) +
           " s, below the --min-rate of " + std::to_string(f->min_rate) + " bytes/s";
    return true;
  }
  f->start_ms = now_ms;
  f->bytes = 0;
  return false;
}

void rate_floor_reset(RateFloor* f) {
  f->start_ms = 0;
}

int rate_parse(const std::string& text, uint64_t* bytes_per_s, std::string* why) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    digits++;
  std::string suffix = text.substr(digits);
  uint64_t unit = 1;
  if (suffix == "K" || suffix == "k") {
    unit = 1024;
  } else if (suffix == "M" || suffix == "m") {
    unit = 1024 * 1024;
  } else if (!suffix.empty()) {
    *why = "expected bytes per second, with an optional K or M suffix (e.g. 500K, 2M; 0: no limit)";
    return -1;
  }
  if (digits == 0 || digits > 12) {
    *why = "expected bytes per second, with an optional K or M suffix (e.g. 500K, 2M; 0: no limit)";
    return -1;
  }
  uint64_t v = strtoull(text.substr(0, digits).c_str(), nullptr, 10);
  if (v > kRateMax / unit) {
    *why = "at most " + std::to_string(kRateMax / (1024 * 1024)) + "M";
    return -1;
  }
  *bytes_per_s = v * unit;
  return 0;
}

/* ---- the gate on the loop ---------------------------------------------------- */

static void gate_arm(RateGate* g);

static void gate_on_timer(uv_timer_t* t) {
  RateGate* g = static_cast<RateGate*>(t->data);
  uint64_t now = uv_hrtime();
  // Each waiter present now is called at most once: one that waits again goes
  // to the back, for the next tick.
  size_t n = g->waiting.size();
  while (n-- > 0 && !g->waiting.empty() &&
         bucket_wait_ms(&g->bucket, g->waiting.front().need, now) == 0) {
    RateGate::Waiter w = g->waiting.front();
    g->waiting.erase(g->waiting.begin());
    w.cb(w.ctx);  // it spends, and may wait again (at the back)
  }
  gate_arm(g);
}

static void gate_arm(RateGate* g) {
  if (g->waiting.empty() || uv_is_active(reinterpret_cast<uv_handle_t*>(&g->timer))) return;
  uint64_t ms = bucket_wait_ms(&g->bucket, g->waiting.front().need, uv_hrtime());
  uv_timer_start(&g->timer, gate_on_timer, ms, 0);
}

void gate_init(RateGate* g, uv_loop_t* loop, uint64_t rate) {
  g->loop = loop;
  bucket_init(&g->bucket, rate, uv_hrtime());
  uv_timer_init(loop, &g->timer);
  g->timer.data = g;
  g->open = true;
}

void gate_close(RateGate* g) {
  if (!g->open) return;
  g->open = false;
  g->waiting.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&g->timer), nullptr);
}

bool gate_limited(const RateGate* g) {
  return g != nullptr && g->open && g->bucket.rate > 0;
}

uint64_t gate_available(RateGate* g) {
  if (!gate_limited(g)) return UINT64_MAX;
  return bucket_available(&g->bucket, uv_hrtime());
}

void gate_spend(RateGate* g, uint64_t n) {
  if (gate_limited(g)) bucket_spend(&g->bucket, n, uv_hrtime());
}

void gate_refund(RateGate* g, uint64_t n) {
  if (gate_limited(g)) bucket_refund(&g->bucket, n, uv_hrtime());
}

void gate_wait(RateGate* g, uint64_t need, void (*cb)(void* ctx), void* ctx) {
  g->waiting.push_back({cb, ctx, need});
  gate_arm(g);
}

void gate_forget(RateGate* g, void* ctx) {
  if (g == nullptr) return;
  g->waiting.erase(std::remove_if(g->waiting.begin(), g->waiting.end(),
                                  [ctx](const RateGate::Waiter& w) { return w.ctx == ctx; }),
                   g->waiting.end());
}
