// libFuzzer target: the tracker's datagram handler (tracker_handle), the whole
// control plane from bytes to answer. One Tracker lives across inputs so that
// joins, shares and leaves build up state for later inputs to hit; it is
// recreated every kRecreateEvery inputs (or kRecreateBytes of input) so its
// growth stays bounded. Invariants checked on every input:
//   - an answer to a request without "v" (including one that is not JSON at
//     all) is at most kSeedAnswerMax bytes: the seed peer reads with recv(1024);
//   - a non-empty answer is a JSON object in valid UTF-8.
// The source address varies with the input (three IPs, two ports) so that the
// ownership rules see more than one sender.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "limits.h"
#include "rapidjson/document.h"
#include "tracker.h"

static constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
static constexpr int kRecreateEvery = 1000;
static constexpr size_t kRecreateBytes = 8u << 20;

static Tracker* g_tracker = nullptr;
static int g_inputs = 0;
static size_t g_bytes = 0;

static Tracker* tracker() {
  if (g_tracker != nullptr && (g_inputs >= kRecreateEvery || g_bytes >= kRecreateBytes)) {
    delete g_tracker;
    g_tracker = nullptr;
  }
  if (g_tracker == nullptr) {
    g_tracker = new Tracker;
    g_tracker->quiet = true;
    g_inputs = 0;
    g_bytes = 0;
  }
  return g_tracker;
}

[[noreturn]] static void fail(const char* what, const uint8_t* data, size_t len,
                              const std::string& answer) {
  fprintf(stderr, "fuzz_datagram: invariant broken: %s\n", what);
  fprintf(stderr, "request (%zu bytes): %.*s\n", len, static_cast<int>(len > 2000 ? 2000 : len),
          reinterpret_cast<const char*>(data));
  fprintf(stderr, "answer (%zu bytes): %.*s\n", answer.size(),
          static_cast<int>(answer.size() > 2000 ? 2000 : answer.size()), answer.c_str());
  abort();
}

// True when the request is a JSON object carrying "v" (an extended request). A
// request the tracker cannot parse cannot be known as extended, so it falls
// under the seed's limit too.
static bool is_extended(const uint8_t* data, size_t len) {
  rapidjson::Document d;
  d.Parse<kParseFlags>(reinterpret_cast<const char*>(data), len);
  return !d.HasParseError() && d.IsObject() && d.HasMember("v");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  if (len > kMaxDatagram) return 0;  // the UDP path never delivers more
  Tracker* t = tracker();
  g_inputs++;
  g_bytes += len;
  static const char* const kIps[] = {"127.0.0.1", "127.0.0.2", "10.0.0.3"};
  const char* ip = kIps[len % 3];
  int port = 40000 + static_cast<int>(len % 2);
  tracker_handle(t, reinterpret_cast<const char*>(data), len, ip, port);
  const std::string& answer = t->answer;

  if (answer.size() > kSeedAnswerMax && !is_extended(data, len))
    fail("answer to a request without \"v\" is over 1024 bytes", data, len, answer);
  if (!answer.empty()) {
    rapidjson::Document d;
    d.Parse<kParseFlags>(answer.data(), answer.size());
    if (d.HasParseError()) fail("answer is not valid JSON (UTF-8)", data, len, answer);
    if (!d.IsObject()) fail("answer is not a JSON object", data, len, answer);
  }
  return 0;
}
