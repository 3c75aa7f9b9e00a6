// HMAC-SHA256 under one fixed key, through OpenSSL's EVP MAC interface: the
// tracker's peer tokens and BitTorrent connection ids. Owns one keyed
// EVP_MAC_CTX (no libuv). Used by tracker.cc.
#pragma once

#include <openssl/evp.h>

#include <cstddef>

static constexpr size_t kHmacLen = 32;  // an HMAC-SHA256 is 32 bytes

struct Hmac {
  EVP_MAC* mac = nullptr;
  // Keyed once; each message re-initialises it to the key without the key's
  // set-up (the pads stay absorbed), so a message costs two short SHA-256 runs.
  EVP_MAC_CTX* ctx = nullptr;
};

// Keys h (after hmac_free, or on a new Hmac). Returns 0, or -1 when OpenSSL
// cannot make the context (h is then left empty).
int hmac_init(Hmac* h, const unsigned char* key, size_t key_len);
// out = HMAC-SHA256(key, msg). h must have been keyed. Returns 0, or -1 when
// OpenSSL fails (out is then not a MAC).
int hmac_sha256(const Hmac* h, const void* msg, size_t len, unsigned char out[kHmacLen]);
void hmac_free(Hmac* h);
