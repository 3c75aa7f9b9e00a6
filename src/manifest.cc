// Manifests and content ids. See manifest.h.
#include "manifest.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "hex.h"
#include "limits.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

uint32_t manifest_piece_size(uint64_t size) {
  uint32_t ps = kMinPieceSize;
  while (ps < kMaxPieceSize && (size + ps - 1) / ps > kMaxPiecesWanted)
    ps <<= 1;
  return ps;
}

uint32_t manifest_piece_count(const Manifest& m) {
  if (m.piece_size == 0) return 0;
  uint64_t n = m.size / m.piece_size + (m.size % m.piece_size != 0);
  return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
}

uint32_t manifest_piece_length(const Manifest& m, uint32_t index) {
  uint64_t start = static_cast<uint64_t>(index) * m.piece_size;
  uint64_t left = m.size - start;
  return left < m.piece_size ? static_cast<uint32_t>(left) : m.piece_size;
}

std::string manifest_hex(const unsigned char* bytes, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (size_t i = 0; i < n; i++) {
    s[2 * i] = kHex[bytes[i] >> 4];
    s[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return s;
}

// SHA-256 in 4 KiB steps, each step first asking the CPU to fetch the next 4 KiB.
// The SHA-NI loop reads its input too slowly for the hardware prefetcher to run
// ahead, so a piece that is not in this core's cache (one the kernel just copied
// in on the loop thread's core) hashes far slower than one that is; the software
// prefetch brings it close to the cached speed (docs/benchmarks.md).
Sha256 manifest_sha256(const void* data, size_t n) {
  constexpr size_t kStep = 4096, kLine = 64;
  const unsigned char* p = static_cast<const unsigned char*>(data);
  Sha256 out;
  unsigned int len = 0;
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  if (c == nullptr || EVP_DigestInit_ex(c, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(c);
    EVP_Digest(data, n, out.data(), &len, EVP_sha256(), nullptr);  // plain, unprefetched
    return out;
  }
  for (size_t at = 0; at < n; at += kStep) {
    size_t ahead = std::min(n, at + 2 * kStep);
    for (size_t q = at + kStep; q < ahead; q += kLine)
      __builtin_prefetch(p + q);
    EVP_DigestUpdate(c, p + at, std::min(kStep, n - at));
  }
  EVP_DigestFinal_ex(c, out.data(), &len);
  EVP_MD_CTX_free(c);
  return out;
}

void manifest_canonical(const Manifest& m, std::string* out) {
  out->clear();
  out->reserve(64 + m.pieces.size() * 67);
  *out += "{\"piece_size\":" + std::to_string(m.piece_size) + ",\"pieces\":[";
  for (size_t i = 0; i < m.pieces.size(); i++) {
    if (i > 0) *out += ',';
    *out += '"' + manifest_hex(m.pieces[i].data(), 32) + '"';
  }
  *out += "],\"size\":" + std::to_string(m.size) + "}";
}

void manifest_set_id(Manifest* m) {
  std::string c;
  manifest_canonical(*m, &c);
  Sha256 h = manifest_sha256(c.data(), c.size());
  m->id = manifest_hex(h.data(), h.size());
}

int manifest_hash_file(const std::string& path, Manifest* m, std::string* err) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    *err = "cannot open " + path + ": " + strerror(e);
    return -e;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    *err = path + " is not a regular file";
    return -EINVAL;
  }
  m->size = static_cast<uint64_t>(st.st_size);
  m->piece_size = manifest_piece_size(m->size);
  m->pieces.clear();
  std::vector<unsigned char> buf(m->piece_size);
  uint32_t n = manifest_piece_count(*m);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t want = manifest_piece_length(*m, i);
    size_t got = 0;
    while (got < want) {
      ssize_t r =
          pread(fd, buf.data() + got, want - got, static_cast<off_t>(i) * m->piece_size + got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        int e = r < 0 ? errno : EIO;
        close(fd);
        *err = "cannot read " + path +
               (r == 0 ? ": it shrank while being hashed" : std::string(": ") + strerror(e));
        return -e;
      }
      got += static_cast<size_t>(r);
    }
    m->pieces.push_back(manifest_sha256(buf.data(), want));
  }
  close(fd);
  manifest_set_id(m);
  return 0;
}

void manifest_encode(const Manifest& m, std::string* out) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("name");
  w.String(m.name.data(), static_cast<rapidjson::SizeType>(m.name.size()));
  w.Key("size");
  w.Uint64(m.size);
  w.Key("piece_size");
  w.Uint(m.piece_size);
  w.Key("pieces");
  w.StartArray();
  for (const Sha256& p : m.pieces) {
    std::string h = manifest_hex(p.data(), p.size());
    w.String(h.data(), static_cast<rapidjson::SizeType>(h.size()));
  }
  w.EndArray();
  w.EndObject();
  out->assign(sb.GetString(), sb.GetSize());
}

static int fail(std::string* err, const char* msg) {
  *err = msg;
  return -1;
}

int manifest_decode(const char* data, size_t len, Manifest* m, std::string* err) {
  *m = Manifest();
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(data, len);
  if (d.HasParseError() || !d.IsObject()) return fail(err, "manifest is not a JSON object");
  rapidjson::Value::ConstMemberIterator it;
  if ((it = d.FindMember("name")) != d.MemberEnd() && it->value.IsString())
    m->name.assign(it->value.GetString(), it->value.GetStringLength());
  if ((it = d.FindMember("size")) == d.MemberEnd() || !it->value.IsUint64())
    return fail(err, "manifest has no valid size");
  m->size = it->value.GetUint64();
  if ((it = d.FindMember("piece_size")) == d.MemberEnd() || !it->value.IsUint())
    return fail(err, "manifest has no valid piece_size");
  uint32_t ps = it->value.GetUint();
  if (ps < kMinPieceSize || ps > kMaxPieceSize || (ps & (ps - 1)) != 0)
    return fail(err, "manifest piece_size is not a power of two in range");
  m->piece_size = ps;
  if ((it = d.FindMember("pieces")) == d.MemberEnd() || !it->value.IsArray())
    return fail(err, "manifest has no pieces list");
  // Counted in 64 bits: a size near 2^64 must not wrap to a few pieces.
  uint64_t count = m->size / m->piece_size + (m->size % m->piece_size != 0);
  if (count > kMaxManifestPieces) return fail(err, "manifest lists more pieces than tt accepts");
  if (it->value.Size() != count) return fail(err, "manifest piece count does not match its size");
  for (const rapidjson::Value& p : it->value.GetArray()) {
    if (!p.IsString() || p.GetStringLength() != 64)
      return fail(err, "manifest piece hash is not 64 hex digits");
    Sha256 h;
    for (size_t i = 0; i < 32; i++) {
      int hi = hex_digit(p.GetString()[2 * i]), lo = hex_digit(p.GetString()[2 * i + 1]);
      if (hi < 0 || lo < 0) return fail(err, "manifest piece hash is not lowercase hex");
      h[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    m->pieces.push_back(h);
  }
  manifest_set_id(m);
  return 0;
}

int manifest_check(const Manifest& m, const std::string& cid, int64_t announced_size,
                   std::string* err) {
  if (m.id != cid) {
    *err = "sent a manifest that does not match the content id";
    return -1;
  }
  if (announced_size >= 0 && m.size != static_cast<uint64_t>(announced_size)) {
    *err = "sent a manifest for " + std::to_string(m.size) + " bytes; the tracker announced " +
           std::to_string(announced_size);
    return -1;
  }
  return 0;
}

/* ---- hashing on the threadpool -------------------------------------------- */

struct HashJob {
  uv_work_t work;
  std::string path;
  Manifest m;
  int status = 0;
  std::string err;
  HashDoneCb done;
  void* ctx;
};

int manifest_hash_start(uv_loop_t* loop, const std::string& path, HashDoneCb done, void* ctx) {
  HashJob* j = new HashJob;
  j->path = path;
  j->done = done;
  j->ctx = ctx;
  j->work.data = j;
  int r = uv_queue_work(
      loop, &j->work,
      [](uv_work_t* w) {
        HashJob* job = static_cast<HashJob*>(w->data);
        job->status = manifest_hash_file(job->path, &job->m, &job->err);
        // libuv never joins its pool threads, so OpenSSL's per-thread state
        // would outlive the process's cleanup: free it here.
        OPENSSL_thread_stop();
      },
      [](uv_work_t* w, int status) {
        HashJob* job = static_cast<HashJob*>(w->data);
        if (status == UV_ECANCELED) {
          job->status = status;
          job->err = "cancelled";
        }
        job->done(job->ctx, job->status, job->status == 0 ? &job->m : nullptr, job->err);
        delete job;
      });
  if (r != 0) delete j;
  return r;
}
