// The data plane's extended form (PROTOCOL §2): request lines, answer lines and
// pushed events as values, encoded and decoded here and nowhere else. No libuv,
// no I/O: the server (serve.cc), the downloader (swarm.cc), the tests and the
// fuzzer call these directly. Every line is one JSON object ending in '\n'.
//
// Requests, client to server:
//   {"action":"manifest","file":NAME}
//   {"action":"have","file":NAME[,"watch":true]}
//       watch: after the answer, the server pushes a have event for each piece
//       it verifies later, on the same connection, between answers.
//   {"action":"piece","file":NAME,"index":I[,"want":BITFIELD]}
//       want: the server may send any piece of this set instead of I (it
//       chooses the one it has sent least, so a seeder spreads distinct pieces);
//       the answer's index says which. A server that ignores want sends I.
// Answers, server to client, one per request and in request order:
//   {"status":"ok","manifest":{...}}
//   {"status":"ok","pieces":BITFIELD}
//   {"status":"ok","index":I,"length":N} followed by exactly N bytes
//   {"status":"error","message":TEXT}
// Events, server to client, only on a connection that asked to watch, and only
// where an answer could start:
//   {"event":"have","index":I}
// A bitfield is hex: bit i is bit 7 - i % 8 of byte i / 8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "manifest.h"

enum WireAction : uint8_t { WIRE_MANIFEST, WIRE_HAVE, WIRE_PIECE };

struct WireRequest {
  WireAction action = WIRE_MANIFEST;
  std::string file;    // checked with proto_check_name by the decoder
  uint32_t index = 0;  // piece
  std::string want;    // piece: bitfield hex, empty when not given (checked by wire_bitfield_parse)
  bool watch = false;  // have
};

enum WireAnswerKind : uint8_t {
  WIRE_ANS_ERROR,     // status error: message
  WIRE_ANS_MANIFEST,  // manifest (decoded and checked: manifest_decode)
  WIRE_ANS_HAVE,      // pieces (bitfield hex, not yet parsed: its length needs the piece count)
  WIRE_ANS_PIECE,     // index and length; the bytes follow
  WIRE_EVENT_HAVE,    // a pushed event: index
};

struct WireAnswer {
  WireAnswerKind kind = WIRE_ANS_ERROR;
  std::string message;  // error
  Manifest manifest;    // manifest
  std::string pieces;   // have
  uint32_t index = 0;   // piece, have event
  uint64_t length = 0;  // piece
};

// Encoders append one line, '\n' included, to *out.
void wire_encode_request(const WireRequest& r, std::string* out);
void wire_encode_manifest_answer(const Manifest& m, std::string* out);
void wire_encode_have_answer(const std::string& bitfield_hex, std::string* out);
void wire_encode_piece_header(uint32_t index, uint64_t length, std::string* out);
void wire_encode_error(const std::string& message, std::string* out);
void wire_encode_have_event(uint32_t index, std::string* out);

// Decoders take one line without its '\n'. They return 0, or -1 with *why set to
// a one-line reason a person can act on (a server sends it back as its error).
int wire_decode_request(const char* line, size_t len, WireRequest* out, std::string* why);
// A status other than "ok" is a WIRE_ANS_ERROR (message may be empty); an "ok"
// answer is classified by its fields. Refuses lines that are none of the forms.
int wire_decode_answer(const char* line, size_t len, WireAnswer* out, std::string* why);

// Bitfields: one byte per piece (1: has it) to hex and back. Parsing refuses a
// wrong length, non-hex digits and bits set past the last piece.
std::string wire_bitfield_hex(const std::vector<uint8_t>& have, size_t pieces);
int wire_bitfield_parse(const std::string& hex, size_t pieces, std::vector<uint8_t>* have);
