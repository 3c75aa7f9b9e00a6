// Finishing a download, the same for the swarm and the seed-form fetch: the
// complete, verified file under its temporary name gets the mode a new file
// gets (the temporary file was private while incomplete), is linked to its
// final name (link(), never rename(): a file that appeared there meanwhile is
// not replaced) and, once linked, its temporary name is removed. On failure the
// temporary file is the caller's: the swarm keeps it to resume, the fetch
// removes it. Used by swarm.cc and fetch.cc.
#pragma once

#include <uv.h>

#include <string>

// status 0: the file is in place under its final name; otherwise err says why
// (for a person: "NAME appeared in the directory meanwhile; ...").
typedef void (*PlaceCb)(void* ctx, int status, const std::string& err);

// Before a download starts: whether dir has room for `need` more bytes (what
// the file still needs beyond what is already allocated for it). 0, or
// UV_ENOSPC with *err "not enough free space in DIR: need X, have Y", or
// another negative error when dir cannot be asked. Blocking: one statvfs.
int place_check_space(const std::string& dir, uint64_t need, std::string* err);

// The file to place: its temporary path, its final path, and its name (for err).
struct PlaceFile {
  const std::string& tmp_path;
  const std::string& final_path;
  const std::string& name;
};

// Returns 0 (cb runs later, once) or a negative error (cb never runs).
int place_download(uv_loop_t* loop, const PlaceFile& file, PlaceCb cb, void* ctx);
