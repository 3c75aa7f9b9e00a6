// A peer: its session with the tracker, its console (share, get, list, status,
// request logs, help, exit, quit), and its data plane (serving what it shares,
// fetching what it gets).
// Owns the tracker client, the TCP server, the current fetch, the stdin console
// and the signal handles. Called from main.cc.
#pragma once

#include <uv.h>

#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "app.h"
#include "console.h"
#include "fetch.h"
#include "limits.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "proto.h"
#include "ratelimit.h"
#include "serve.h"
#include "swarm.h"
#include "tclient.h"

struct PeerOptions {
  std::string id;
  std::string tracker = "127.0.0.1:6771";
  std::string dir = ".";
  std::string host = "0.0.0.0";  // TCP listen address
  int port = 0;
  std::string log_path;  // default .peer_ID.log
  int timeout_s = kDefaultStallTimeoutS;
  int sources = static_cast<int>(kDefaultSources);  // sources fetched from at once
  uint64_t max_upload_rate = 0;                     // bytes per second; 0: no limit
  uint64_t max_download_rate = 0;
  int max_conns_per_ip = static_cast<int>(kDefaultMaxConnsPerIp);  // served at once per address
  uint64_t min_rate = kDefaultMinRate;                             // bytes per second; 0: no floor
  uint64_t max_unverified_size = kDefaultMaxUnverified;            // bytes; 0: no limit
  bool quiet = false;                                              // --quiet: errors only (stderr)
  // tt get: one `get` of this NAME or content id instead of a console, then
  // leave; no stdin, no token file, and a log only when --log names one.
  std::string oneshot;
};

// A file this peer serves: shared, downloaded, or (have not empty) being downloaded.
struct PeerFile {
  std::string path;
  bool hashed = false;  // manifest is valid
  Manifest manifest;
  std::vector<uint8_t> have;  // one byte per piece, 1 when verified; empty when complete
  // Which file path was when it was recorded: nothing else is served under it.
  uint64_t dev = 0, ino = 0;
  bool follow = false;        // path was a symbolic link then
  bool refusal_said = false;  // the user was told it changed (once per share)
};

// The download the current `get` command is running.
struct PeerGet {
  std::string name;
  std::vector<ProtoSource> sources;  // as the tracker listed them
  std::string cid;                   // the content id the tracker announced; empty: none
  int64_t size = -1;
  std::vector<size_t> order;  // indexes into sources, in the order to try
  size_t attempt = 0;         // position in order
  Fetch* fetch = nullptr;     // a seed-form download from one source
  Swarm* swarm = nullptr;     // or a verified one from many
  bool announced = false;     // the tracker knows we hold verified pieces
  size_t sources_used = 0;
  int max_sources = 0;  // get ... --sources K; 0: the --sources flag
  bool exists = false;  // NAME is already in --dir
  bool by_id = false;   // `get ID`: NAME is a content id (or prefix) until the tracker names it
  std::vector<ProtoContent> contents;  // several contents fit: the choice offered
  uint64_t started_ns = 0;             // when the current source was asked
  std::string why;                     // why the last source failed
};

struct Peer {
  uv_loop_t* loop = nullptr;
  PeerOptions opt;
  TClient tc;
  XferServer srv;
  RateGate upload, download;  // --max-upload-rate, --max-download-rate
  AppSignals signals;
  Console console;
  Log log;
  uv_timer_t progress;  // redraws the progress bar while a download runs on a terminal
  bool progress_open = false;
  bool progress_tty = false;  // stderr is a terminal
  RateWindow progress_rate;   // the bar's current rate
  bool console_open = false;
  std::deque<std::string> pending;  // console lines waiting their turn
  bool busy = false;                // a command is running
  std::string cmd;                  // it, as typed: failures name it (out_fail)
  bool awaiting_choice = false;     // the next line answers "Desired Peer:"
  bool awaiting_content = false;    // ... or "Desired content:"
  bool eof = false;
  bool joined = false;
  std::string token;   // from an extended tracker's join answer
  int interval_s = 0;  // heartbeat period; 0 with a seed tracker
  uv_timer_t heartbeat;
  bool heartbeat_open = false;
  uv_timer_t refresh;  // asks the tracker for new sources while a swarm runs
  bool refresh_open = false;
  bool heartbeat_busy = false;       // one heartbeat or rejoin at a time
  bool tracker_lost = false;         // said "not answering"; say when it answers again
  std::vector<std::string> reshare;  // files a rejoin could not list, shared once it is answered
  bool stopping = false;
  int failures = 0;
  int exit_code = 0;
  std::vector<std::string> shared;                  // names shared, in order
  std::unordered_map<std::string, PeerFile> files;  // what this peer serves, by name
  PeerGet get;
};

int peer_main(const PeerOptions& opt);
// The peer console's command table, as `help` prints it; tt's usage
// text and `tt help --dump` list it too.
ConsoleTable peer_console_commands();

// A peer id of the form get-<8 hex digits>, random: what a `tt get` joins as.
std::string peer_oneshot_id();

// Checks a peer id as typed on the command line (it also names the log file).
int peer_check_id(const std::string& id, std::string* why);

// How long `list` may wait for its next page, LIST_STARTED_MS and NOW_MS on one
// clock: the tracker's answer timeout, cut so that the whole list ends within
// kListDeadlineMs. 0: the deadline has passed.
int peer_list_budget_ms(uint64_t list_started_ms, uint64_t now_ms);

// A word quoted as the peer console reads it (console_split), and as a POSIX
// shell does: how the line after an interrupted download names the command
// that resumes it.
std::string peer_console_quote(const std::string& w);
std::string peer_shell_quote(const std::string& w);
