// libFuzzer target: the tracker's datagram handler (tracker_handle_from), the
// control plane from bytes to answer, without sockets or a loop.
//
// One Tracker lives across inputs so that joins, shares and leaves build up
// state for later inputs to hit; it is recreated every kRecreateEvery inputs
// (or kRecreateBytes of input) so its growth stays bounded. The harness plays
// the loop's part: a clock that moves on with every input (so peers expire, on
// a short ttl), a periodic expiry sweep, and verdicts for the liveness probes a
// join asks for (alive or dead, from the input), after which the join is
// handled again as the tracker does. The placeholder token
// 00112233445566778899aabbccddeeff in an input is replaced by the last token a
// join answer handed out, so authenticated requests are reachable too.
//
// Invariants checked on every input:
//   - the request decoder's result matches RapidJSON's DOM reading of the same
//     bytes, and a decoded request encodes to one that decodes the same
//     (request_check in tests/request_equal.h);
// and on every answer:
//   - the peer's answer reader reads it, and what it keeps (listed contents,
//     a name) is bounded and valid (the input itself is read as an answer too);
//   - an answer to a request without "v" (including one that is not JSON at
//     all) is at most kSeedAnswerMax bytes: the seed peer reads with recv(1024);
//   - a non-empty answer is a JSON object in valid UTF-8;
//   - after a probe's verdict, handling the same join again does not ask for
//     another probe (the tracker would probe forever).
// A datagram the tracker takes for BitTorrent (BEP 15) is handled and not
// checked here: fuzz_bep15 checks that path.
// The sender is 127.0.0.1:40000 unless the input ends in whitespace (which JSON
// ignores): n trailing whitespace bytes pick sender n % 3 (another port, another
// IP) and, for n / 3 odd, a dead verdict for a probe. So the ownership rules see
// several senders while most inputs share one, as a peer's requests do.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../request_equal.h"
#include "bep15.h"
#include "limits.h"
#include "proto.h"
#include "rapidjson/document.h"
#include "tracker.h"

static constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
static constexpr int kRecreateEvery = 1000;
static constexpr size_t kRecreateBytes = 8u << 20;
static constexpr int kTtlS = 10;
static constexpr int kExpireEvery = 32;
static const char kTokenPlaceholder[] = "00112233445566778899aabbccddeeff";

static Tracker* g_tracker = nullptr;
static int g_inputs = 0;
static size_t g_bytes = 0;
static int64_t g_now = 1000000;
static std::string g_token;  // the last token a join answer handed out

static Tracker* tracker() {
  if (g_tracker != nullptr && (g_inputs >= kRecreateEvery || g_bytes >= kRecreateBytes)) {
    delete g_tracker;
    g_tracker = nullptr;
  }
  if (g_tracker == nullptr) {
    g_tracker = new Tracker;
    g_tracker->quiet = true;
    g_tracker->opt.peer_ttl_s = kTtlS;
    g_tracker->reg.ttl_ms = kTtlS * 1000;
    tracker_init_key(g_tracker);
    g_inputs = 0;
    g_bytes = 0;
    g_token.clear();
  }
  return g_tracker;
}

[[noreturn]] static void fail(const char* what, const std::string& req, const std::string& answer) {
  fprintf(stderr, "fuzz_datagram: invariant broken: %s\n", what);
  fprintf(stderr, "request (%zu bytes): %.*s\n", req.size(),
          static_cast<int>(req.size() > 2000 ? 2000 : req.size()), req.data());
  fprintf(stderr, "answer (%zu bytes): %.*s\n", answer.size(),
          static_cast<int>(answer.size() > 2000 ? 2000 : answer.size()), answer.c_str());
  abort();
}

// True when the request is a JSON object carrying "v" (an extended request). A
// request the tracker cannot parse cannot be known as extended, so it falls
// under the seed's limit too.
static bool is_extended(const std::string& req) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(req.data(), req.size());  // as the tracker reads it
  return !d.HasParseError() && d.IsObject() && d.HasMember("v");
}

static void check_answer(const std::string& req, const std::string& answer) {
  if (answer.size() > kSeedAnswerMax && !is_extended(req))
    fail("answer to a request without \"v\" is over 1024 bytes", req, answer);
  if (answer.empty()) return;
  rapidjson::Document d;
  d.Parse<kParseFlags>(answer.data(), answer.size());
  if (d.HasParseError()) fail("answer is not valid JSON (UTF-8)", req, answer);
  if (!d.IsObject()) fail("answer is not a JSON object", req, answer);
  auto tok = d.FindMember("token");
  if (tok != d.MemberEnd() && tok->value.IsString() &&
      tok->value.GetStringLength() == sizeof kTokenPlaceholder - 1)
    g_token.assign(tok->value.GetString(), tok->value.GetStringLength());
}

static void check_request(const std::string& req) {
  std::string why = request_check(req);
  if (!why.empty()) fail("the decoded request does not match the JSON", req, why);
}

// What a peer takes from an answer stays within what it prints and uses.
static void check_decoded_answer(const std::string& req, const ProtoAnswer& a) {
  if (a.contents.size() > kMaxContentsListed) fail("more contents than listed at most", req, "");
  for (const ProtoContent& c : a.contents)
    if (c.cid.size() != kContentIdHexLen) fail("a listed content id is not 64 digits", req, "");
  std::string why;
  if (!a.name.empty() && proto_check_name(a.name, &why) != 0)
    fail("an answer's name is not a valid name", req, "");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  if (len > kMaxDatagram) return 0;  // the UDP path never delivers more
  Tracker* t = tracker();
  g_inputs++;
  g_bytes += len;
  std::string req(reinterpret_cast<const char*>(data), len);
  if (!g_token.empty()) {
    for (size_t at = req.find(kTokenPlaceholder); at != std::string::npos;
         at = req.find(kTokenPlaceholder, at + g_token.size()))
      req.replace(at, g_token.size(), g_token);
  }

  size_t ws = 0;
  while (ws < len && (data[len - 1 - ws] == ' ' || data[len - 1 - ws] == '\n' ||
                      data[len - 1 - ws] == '\r' || data[len - 1 - ws] == '\t'))
    ws++;
  static const char* const kIps[] = {"127.0.0.1", "127.0.0.1", "10.0.0.3"};
  static const int kPorts[] = {40000, 40001, 40000};
  // From a socket address, as the UDP callback hands datagrams over.
  struct sockaddr_in from = {};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, kIps[ws % 3], &from.sin_addr);
  from.sin_port = htons(static_cast<uint16_t>(kPorts[ws % 3]));
  bool alive = (ws / 3) % 2 == 0;
  g_now += static_cast<int64_t>((len * 131) % 700);
  t->now = g_now;
  if (g_inputs % kExpireEvery == 0) tracker_expire(t);

  if (bep15_is_request(reinterpret_cast<const uint8_t*>(req.data()), req.size())) {
    // BitTorrent, not JSON: fuzz_bep15 checks that path's answers.
    tracker_handle_from(t, req.data(), req.size(), &from);
    return 0;
  }
  check_request(req);
  std::string probe_id;
  int r = tracker_handle_from(t, req.data(), req.size(), &from, &probe_id);
  if (r == TRACKER_PROBE) {
    // The loop would connect to the holder's TCP port; the input decides.
    std::vector<Waiter> waited;  // the loop would handle them again; this input is one of them
    tracker_probe_result(t, probe_id, alive ? PROBE_ALIVE : PROBE_REFUSED, &waited);
    probe_id.clear();
    r = tracker_handle_from(t, req.data(), req.size(), &from, &probe_id);
    if (r == TRACKER_PROBE)
      fail(alive ? "a join asks for a probe again after its holder was found alive"
                 : "a join asks for a probe again after its holder was found dead",
           req, t->answer);
  }
  check_answer(req, t->answer);
  // The peer's side: the input itself and the tracker's answer, read as a
  // tracker's answer (a hostile tracker can send anything).
  ProtoAnswer ans;
  std::string err;
  proto_decode_answer(req.data(), req.size(), &ans, &err);
  check_decoded_answer(req, ans);
  if (!t->answer.empty()) {
    if (proto_decode_answer(t->answer.data(), t->answer.size(), &ans, &err) != 0)
      fail("the peer cannot read the tracker's answer", req, t->answer);
    check_decoded_answer(req, ans);
  }
  return 0;
}
