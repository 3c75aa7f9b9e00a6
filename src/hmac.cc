// HMAC-SHA256 with a keyed EVP_MAC_CTX. See hmac.h.
#include "hmac.h"

#include <openssl/core_names.h>
#include <openssl/params.h>

int hmac_init(Hmac* h, const unsigned char* key, size_t key_len) {
  hmac_free(h);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  h->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (h->mac != nullptr) h->ctx = EVP_MAC_CTX_new(h->mac);
  if (h->ctx == nullptr || EVP_MAC_init(h->ctx, key, key_len, params) != 1) {
    hmac_free(h);
    return -1;
  }
  return 0;
}

int hmac_sha256(const Hmac* h, const void* msg, size_t len, unsigned char out[kHmacLen]) {
  // A null key re-initialises the context to the key it holds: the one
  // context serves every message, with no copy and no allocation.
  size_t n = 0;
  if (EVP_MAC_init(h->ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(h->ctx, static_cast<const unsigned char*>(msg), len) != 1 ||
      EVP_MAC_final(h->ctx, out, &n, kHmacLen) != 1 || n != kHmacLen)
    return -1;
  return 0;
}

void hmac_free(Hmac* h) {
  EVP_MAC_CTX_free(h->ctx);
  EVP_MAC_free(h->mac);
  h->ctx = nullptr;
  h->mac = nullptr;
}
