// Rate limits (--max-upload-rate, --max-download-rate): a token bucket with the
// time passed in (pure, unit-tested), and a gate that runs it on the loop:
// users of the gate ask before they send or read, and wait their turn on one
// timer when the bucket is empty. Owns one uv_timer_t per gate. Used by the
// server (serve.cc) for piece bytes out and by the downloaders (swarm.cc,
// fetch.cc) for bytes in.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct TokenBucket {
  uint64_t rate = 0;   // bytes per second; 0: unlimited
  uint64_t burst = 0;  // most tokens saved up while idle
  double tokens = 0;   // may go below 0: bytes taken on credit are paid back first
  uint64_t last_ns = 0;
};

// A bucket for `rate` bytes per second, full at now_ns.
void bucket_init(TokenBucket* b, uint64_t rate, uint64_t now_ns);
// Tokens that may be spent at now_ns (0 when none or in debt); unlimited: UINT64_MAX.
uint64_t bucket_available(TokenBucket* b, uint64_t now_ns);
// Spends n bytes' worth, on credit if need be.
void bucket_spend(TokenBucket* b, uint64_t n, uint64_t now_ns);
// Gives back n bytes' worth spent ahead and not used (never past the burst).
void bucket_refund(TokenBucket* b, uint64_t n, uint64_t now_ns);
// Milliseconds from now_ns until `need` tokens are there (at least 1 when not now).
uint64_t bucket_wait_ms(TokenBucket* b, uint64_t need, uint64_t now_ns);

// The rate floor (--min-rate): a source that sends less than min_rate bytes
// per second over a whole window of window_ms is too slow (a drip: one byte a
// second never trips a stall timer). Pure: time is passed in. min_rate 0: no floor.
struct RateFloor {
  uint64_t min_rate = 0;   // bytes per second
  uint64_t window_ms = 0;  // how long the rate is measured over
  uint64_t start_ms = 0;   // the window began (0: none; the next bytes start one)
  uint64_t bytes = 0;      // ... bytes since
};
// Counts bytes arrived at now_ms. True, with *why ("sent N bytes in S s, below
// the --min-rate of R bytes/s"), when a whole window ended below the floor;
// else a window that ended starts again.
bool rate_floor_below(RateFloor* f, uint64_t bytes, uint64_t now_ms, std::string* why);
// Starts the window again with the next bytes (nothing is owed, or our own
// limit held the source back: the floor measures the source alone).
void rate_floor_reset(RateFloor* f);

// A rate as typed: bytes per second, with an optional K or M suffix (1024 and
// 1048576, as aria2 and Transmission take them), e.g. 500K, 2M, 0 (unlimited).
// Returns 0, or -1 with *why set.
int rate_parse(const std::string& text, uint64_t* bytes_per_s, std::string* why);

// The gate: one bucket on the loop. A user that may not go on now registers a
// callback and is called once, in turn, when tokens are there again.
struct RateGate {
  uv_loop_t* loop = nullptr;
  TokenBucket bucket;
  uv_timer_t timer;
  bool open = false;
  struct Waiter {
    void (*cb)(void* ctx);
    void* ctx;
    uint64_t need;
  };
  std::vector<Waiter> waiting;
};

void gate_init(RateGate* g, uv_loop_t* loop, uint64_t rate);
void gate_close(RateGate* g);
bool gate_limited(const RateGate* g);
// Bytes that may go now (UINT64_MAX when unlimited, 0 when the caller must wait).
uint64_t gate_available(RateGate* g);
void gate_spend(RateGate* g, uint64_t n);
// Gives back tokens spent ahead for bytes that did not go after all.
void gate_refund(RateGate* g, uint64_t n);
// Calls cb(ctx) once when at least `need` tokens are there; waiters go in order.
void gate_wait(RateGate* g, uint64_t need, void (*cb)(void* ctx), void* ctx);
// Forgets every wait of ctx (it is being freed).
void gate_forget(RateGate* g, void* ctx);
