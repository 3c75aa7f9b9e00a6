// Finishing a download. See place.h.
#include "place.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

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

int place_download(uv_loop_t* loop, const std::string& tmp_path, const std::string& final_path,
                   const std::string& name, PlaceCb cb, void* ctx) {
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
