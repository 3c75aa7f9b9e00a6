// libFuzzer target: the data plane's extended-form codec (wire.h), which reads
// every request line a peer's data port receives and every answer line a
// source sends back. The whole input is one line for wire_decode_request and
// for wire_decode_answer; its first two bytes (little-endian) are also a piece
// count and the rest a bitfield for wire_bitfield_parse. Invariants:
//   - a refusal always comes with a reason;
//   - a decoded request's name passes proto_check_name;
//   - whatever decodes re-encodes to one line ('\n' last and nowhere else) that
//     decodes to the same values, and encodes to the same bytes again;
//   - a bitfield that parses has one 0/1 entry per piece, and wire_bitfield_hex
//     gives back its text exactly (the parser takes lowercase digits only);
//   - any set of pieces survives wire_bitfield_hex then wire_bitfield_parse;
//   - a decoded manifest lists at most kMaxManifestPieces pieces, exactly
//     manifest_piece_count of them, whose lengths add up to its size; it passes
//     manifest_check against its own id and size (or no size), and fails it,
//     with a reason, against any other size or id.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "limits.h"
#include "manifest.h"
#include "proto.h"
#include "wire.h"

[[noreturn]] static void fail(const char* what, const std::string& input, const std::string& a,
                              const std::string& b) {
  fprintf(stderr, "fuzz_wire: invariant broken: %s\n", what);
  fprintf(stderr, "input (%zu bytes): %.*s\n", input.size(), static_cast<int>(input.size()),
          input.data());
  fprintf(stderr, "first (%zu bytes): %.*s\n", a.size(), static_cast<int>(a.size()), a.data());
  fprintf(stderr, "second (%zu bytes): %.*s\n", b.size(), static_cast<int>(b.size()), b.data());
  abort();
}

// An encoder's output: one line, '\n' last and nowhere else. Returns it without the '\n'.
static std::string one_line(const std::string& encoded, const std::string& input) {
  if (encoded.empty() || encoded.back() != '\n' || encoded.find('\n') != encoded.size() - 1)
    fail("an encoder did not write exactly one line", input, encoded, "");
  return encoded.substr(0, encoded.size() - 1);
}

static bool same_request(const WireRequest& a, const WireRequest& b) {
  return a.action == b.action && a.file == b.file && a.index == b.index && a.want == b.want &&
         a.watch == b.watch;
}

static void check_request(const std::string& in) {
  WireRequest r;
  std::string why;
  if (wire_decode_request(in.data(), in.size(), &r, &why) != 0) {
    if (why.empty()) fail("a request was refused without a reason", in, "", "");
    return;
  }
  std::string name_why;
  if (proto_check_name(r.file, &name_why) != 0)
    fail("a decoded request's name fails proto_check_name", in, r.file, name_why);
  if (r.action != WIRE_MANIFEST && r.action != WIRE_HAVE && r.action != WIRE_PIECE)
    fail("a decoded request has an unknown action", in, "", "");
  std::string enc;
  wire_encode_request(r, &enc);
  std::string line = one_line(enc, in);
  WireRequest again;
  if (wire_decode_request(line.data(), line.size(), &again, &why) != 0)
    fail(("a re-encoded request is refused: " + why).c_str(), in, line, "");
  if (!same_request(r, again)) fail("a re-encoded request decodes differently", in, line, "");
  std::string enc2;
  wire_encode_request(again, &enc2);
  if (enc2 != enc) fail("a request's encoding is not stable", in, enc, enc2);
}

static void encode_answer(const WireAnswer& a, std::string* out) {
  switch (a.kind) {
    case WIRE_ANS_ERROR:
      wire_encode_error(a.message, out);
      return;
    case WIRE_ANS_MANIFEST:
      wire_encode_manifest_answer(a.manifest, out);
      return;
    case WIRE_ANS_HAVE:
      wire_encode_have_answer(a.pieces, out);
      return;
    case WIRE_ANS_PIECE:
      wire_encode_piece_header(a.index, a.length, out);
      return;
    case WIRE_EVENT_HAVE:
      wire_encode_have_event(a.index, out);
      return;
  }
  abort();
}

static bool same_answer(const WireAnswer& a, const WireAnswer& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case WIRE_ANS_ERROR:
      return a.message == b.message;
    case WIRE_ANS_MANIFEST:
      return a.manifest.name == b.manifest.name && a.manifest.size == b.manifest.size &&
             a.manifest.piece_size == b.manifest.piece_size &&
             a.manifest.pieces == b.manifest.pieces && a.manifest.id == b.manifest.id;
    case WIRE_ANS_HAVE:
      return a.pieces == b.pieces;
    case WIRE_ANS_PIECE:
      return a.index == b.index && a.length == b.length;
    case WIRE_EVENT_HAVE:
      return a.index == b.index;
  }
  return false;
}

static void check_manifest(const Manifest& m, const std::string& in) {
  uint64_t n = m.pieces.size();
  if (n > kMaxManifestPieces) fail("a decoded manifest lists too many pieces", in, "", "");
  if (n != manifest_piece_count(m)) fail("a manifest's pieces do not follow its size", in, "", "");
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t len = manifest_piece_length(m, i);
    if (len == 0 || len > m.piece_size) fail("a manifest piece has a bad length", in, "", "");
    total += len;
  }
  if (total != m.size) fail("a manifest's piece lengths do not add up to its size", in, "", "");
  std::string err;
  if (manifest_check(m, m.id, -1, &err) != 0 ||
      manifest_check(m, m.id, static_cast<int64_t>(m.size), &err) != 0)
    fail("a manifest fails the check against its own id and size", in, err, "");
  int64_t other = m.size == 0 ? 1 : static_cast<int64_t>(m.size - 1);
  err.clear();
  if (manifest_check(m, m.id, other, &err) == 0 || err.empty())
    fail("a manifest passes the check against another size", in, err, "");
  std::string wrong = m.id;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  err.clear();
  if (manifest_check(m, wrong, static_cast<int64_t>(m.size), &err) == 0 || err.empty())
    fail("a manifest passes the check against another id", in, err, "");
}

static void check_answer(const std::string& in) {
  WireAnswer a;
  std::string why;
  if (wire_decode_answer(in.data(), in.size(), &a, &why) != 0) {
    if (why.empty()) fail("an answer was refused without a reason", in, "", "");
    return;
  }
  if (a.kind > WIRE_EVENT_HAVE) fail("a decoded answer has an unknown kind", in, "", "");
  if (a.kind == WIRE_ANS_MANIFEST) check_manifest(a.manifest, in);
  std::string enc;
  encode_answer(a, &enc);
  std::string line = one_line(enc, in);
  WireAnswer again;
  if (wire_decode_answer(line.data(), line.size(), &again, &why) != 0)
    fail(("a re-encoded answer is refused: " + why).c_str(), in, line, "");
  if (!same_answer(a, again)) fail("a re-encoded answer decodes differently", in, line, "");
  std::string enc2;
  encode_answer(again, &enc2);
  if (enc2 != enc) fail("an answer's encoding is not stable", in, enc, enc2);
}

static void check_bitfield(const std::string& in) {
  if (in.size() < 2) return;
  size_t pieces = static_cast<unsigned char>(in[0]) | static_cast<unsigned char>(in[1]) << 8;
  std::string hex = in.substr(2);
  std::vector<uint8_t> have;
  if (wire_bitfield_parse(hex, pieces, &have) == 0) {
    if (have.size() != pieces) fail("a parsed bitfield has the wrong size", in, hex, "");
    for (uint8_t v : have) {
      if (v > 1) fail("a parsed bitfield has an entry other than 0 or 1", in, hex, "");
    }
    std::string lower = hex;
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    std::string back = wire_bitfield_hex(have, pieces);
    if (back != lower) fail("hex(parse(x)) is not lowercase(x)", in, hex, back);
  }
  // The other way: the rest of the input as a set of pieces, one byte each.
  std::vector<uint8_t> set(hex.begin(), hex.end());
  size_t n = set.size() <= pieces ? set.size() + pieces % 9 : pieces;  // short or long vectors
  std::string text = wire_bitfield_hex(set, n);
  std::vector<uint8_t> parsed;
  if (wire_bitfield_parse(text, n, &parsed) != 0)
    fail("wire_bitfield_hex wrote what wire_bitfield_parse refuses", in, text, "");
  for (size_t i = 0; i < n; i++) {
    if (parsed[i] != (i < set.size() && set[i] != 0 ? 1 : 0))
      fail("a set of pieces does not survive hex and back", in, text, "");
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly the input bytes, so reads past the end are caught.
  std::string in(reinterpret_cast<const char*>(data), size);
  check_request(in);
  check_answer(in);
  check_bitfield(in);
  return 0;
}
