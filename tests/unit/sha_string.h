// Catch2 prints a Sha256 (an array of bytes) in hex: as characters, a failed
// or reported comparison would write raw bytes, newlines among them, into the
// TAP stream.
#pragma once
#include <catch2/catch.hpp>
#include <string>

#include "manifest.h"

namespace Catch {
template <>
struct StringMaker<Sha256> {
  static std::string convert(const Sha256& h) { return manifest_hex(h.data(), h.size()); }
};
}  // namespace Catch
