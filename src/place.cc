// Finishing a download. See place.h.
#include "place.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "app.h"

struct Place {
  uv_fs_t req;
  std::string tmp_path, name;
  PlaceCb cb;
  void* ctx;
};

static void place_on_linked(uv_fs_t* req) {
  Place* p = static_cast<Place*>(req->data);
  int r = static_cast<int>(req->result);
  uv_fs_req_cleanup(req);
  std::string err;
  if (r == 0) {
    unlink(p->tmp_path.c_str());  // one metadata call: the file lives on under its name
  } else {
    chmod(p->tmp_path.c_str(), 0600);  // left for the caller: private again, as it was
    err = r == UV_EEXIST ? p->name + " appeared in the directory meanwhile; it was not overwritten"
                         : std::string("cannot move the download into place: ") + uv_strerror(r);
  }
  PlaceCb cb = p->cb;
  void* ctx = p->ctx;
  delete p;
  cb(ctx, r, err);
}

// Bytes as a person reads them, with the exact count: "3.0 GiB (3221225472 bytes)".
static std::string place_bytes(uint64_t n) {
  static const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n);
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof kUnits / sizeof kUnits[0]) {
    v /= 1024;
    u++;
  }
  char buf[96];
  if (u == 0)
    snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
  else
    snprintf(buf, sizeof buf, "%.1f %s (%llu bytes)", v, kUnits[u],
             static_cast<unsigned long long>(n));
  return buf;
}

int place_check_space(const std::string& dir, uint64_t need, std::string* err) {
  struct statvfs vfs;
  if (statvfs(dir.c_str(), &vfs) != 0) {
    int e = errno;
    *err = "cannot check the free space in " + dir + ": " + strerror(e);
    return uv_translate_sys_error(e);
  }
  uint64_t have = static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
  if (need <= have) return 0;
  *err = "not enough free space in " + dir + ": need " + place_bytes(need) + ", have " +
         place_bytes(have);
  return UV_ENOSPC;
}

int place_download(uv_loop_t* loop, const PlaceFile& file, PlaceCb cb, void* ctx) {
  const std::string& tmp_path = file.tmp_path;
  const std::string& final_path = file.final_path;
  const std::string& name = file.name;
  if (chmod(tmp_path.c_str(), app_file_mode()) != 0) return uv_translate_sys_error(errno);
  Place* p = new Place;
  p->tmp_path = tmp_path;
  p->name = name;
  p->cb = cb;
  p->ctx = ctx;
  p->req.data = p;
  int r = uv_fs_link(loop, &p->req, tmp_path.c_str(), final_path.c_str(), place_on_linked);
  if (r != 0) delete p;
  return r;
}
