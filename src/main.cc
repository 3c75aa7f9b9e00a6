// tt's entry point: the subcommand table, flag parsing from per-command flag
// tables (which also print the usage), and exit codes: 0 ok, 1 failure, 2 usage.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "limits.h"
#include "manifest.h"
#include "peer.h"
#include "ratelimit.h"
#include "tracker.h"
#include "tt_version.h"

enum FlagKind { FLAG_STRING, FLAG_INT, FLAG_RATE, FLAG_SIZE };  // SIZE: bytes, K or M

struct Flag {
  const char* name;  // "--port"
  const char* metavar;
  const char* help;
  FlagKind kind;
  void* dest;  // std::string*, int* or (a rate in bytes per second) uint64_t*
  int min, max;
};

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
  void (*usage)(FILE* out);
};

static void print_flags(FILE* out, const Flag* flags, size_t n) {
  for (size_t i = 0; i < n; i++) {
    std::string left = std::string(flags[i].name) + " " + flags[i].metavar;
    fprintf(out, "  %-22s %s\n", left.c_str(), flags[i].help);
  }
}

// Parses argv against a flag table. Returns 0, or 2 after printing what was wrong.
static int parse_flags(int argc, char** argv, const Flag* flags, size_t n, const char* cmd,
                       void (*usage)(FILE*)) {
  for (int i = 0; i < argc; i++) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    size_t eq = arg.find('=');
    if (arg.compare(0, 2, "--") == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      exit(0);
    }
    const Flag* f = nullptr;
    for (size_t k = 0; k < n; k++) {
      if (arg == flags[k].name) f = &flags[k];
    }
    if (f == nullptr) {
      fprintf(stderr, "tt %s: unknown argument '%s'\n", cmd, argv[i]);
      usage(stderr);
      return 2;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        fprintf(stderr, "tt %s: %s needs a value (%s)\n", cmd, f->name, f->metavar);
        usage(stderr);
        return 2;
      }
      value = argv[++i];
    }
    if (f->kind == FLAG_STRING) {
      if (value.empty()) {
        fprintf(stderr, "tt %s: %s may not be empty\n", cmd, f->name);
        return 2;
      }
      *static_cast<std::string*>(f->dest) = value;
      continue;
    }
    if (f->kind == FLAG_RATE || f->kind == FLAG_SIZE) {
      std::string why;
      if (rate_parse(value, static_cast<uint64_t*>(f->dest), &why) != 0) {
        if (f->kind == FLAG_SIZE && why.compare(0, 8, "expected") == 0)
          why = "expected bytes, with an optional K or M suffix (e.g. 512M; 0: no limit)";
        fprintf(stderr, "tt %s: bad %s '%s': %s\n", cmd, f->name, value.c_str(), why.c_str());
        usage(stderr);
        return 2;
      }
      continue;
    }
    char* end = nullptr;
    errno = 0;
    long v = strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno != 0 || v < f->min || v > f->max) {
      fprintf(stderr, "tt %s: %s must be an integer from %d to %d, not '%s'\n", cmd, f->name,
              f->min, f->max, value.c_str());
      usage(stderr);
      return 2;
    }
    *static_cast<int*>(f->dest) = static_cast<int>(v);
  }
  return 0;
}

/* ---- tt tracker ----------------------------------------------------------- */

static TrackerOptions g_tracker;
static const Flag kTrackerFlags[] = {
    {"--host", "IP", "UDP address to listen on (default 127.0.0.1)", FLAG_STRING, &g_tracker.host,
     0, 0},
    {"--port", "PORT", "UDP port (default 6771; 0 picks a free one)", FLAG_INT, &g_tracker.port, 0,
     65535},
    {"--log", "PATH", "log file (default .tracker.log)", FLAG_STRING, &g_tracker.log_path, 0, 0},
    {"--peer-ttl", "SECONDS",
     "forget a peer silent this long (default 90; heartbeats every third of it)", FLAG_INT,
     &g_tracker.peer_ttl_s, 2, 86400},
    {"--max-ids-per-ip", "N", "peer ids one IP may hold (default 10000)", FLAG_INT,
     &g_tracker.max_ids_per_ip, 1, static_cast<int>(kMaxPeers)},
    {"--max-files-per-ip", "N",
     "names registered from one IP address, all its peer ids together (default 262144)", FLAG_INT,
     &g_tracker.max_files_per_ip, 1, static_cast<int>(kMaxRegistrations)},
    {"--max-contents-per-ip", "N",
     "contents one IP address may introduce under one name (default 4)", FLAG_INT,
     &g_tracker.max_contents_per_ip, 1, 65536},
    {"--log-max-size", "MIB", "rotate the log to PATH.1 at this size (default 64)", FLAG_INT,
     &g_tracker.log_max_mib, 1, 1048576},
    {"--http", "IP:PORT", "serve /metrics and a status page over HTTP (default: off)", FLAG_STRING,
     &g_tracker.http, 0, 0},
};

static void tracker_usage(FILE* out) {
  fprintf(
      out,
      "usage: tt tracker [--host IP] [--port PORT] [--log PATH] [--peer-ttl SECONDS]\n"
      "                  [--max-ids-per-ip N] [--max-files-per-ip N] [--max-contents-per-ip N]\n"
      "                  [--log-max-size MIB]\n"
      "Runs the tracker: it knows which peer has which file.\n");
  print_flags(out, kTrackerFlags, sizeof kTrackerFlags / sizeof kTrackerFlags[0]);
  fprintf(out, "Console commands: logs request, all-logs, file_logs NAME, help, exit.\n");
}

static int run_tracker(int argc, char** argv) {
  int r = parse_flags(argc, argv, kTrackerFlags, sizeof kTrackerFlags / sizeof kTrackerFlags[0],
                      "tracker", tracker_usage);
  if (r != 0) return r;
  return tracker_main(g_tracker);
}

/* ---- tt peer -------------------------------------------------------------- */

static PeerOptions g_peer;
static const Flag kPeerFlags[] = {
    {"--id", "ID", "this peer's id (asked for on a terminal when missing)", FLAG_STRING, &g_peer.id,
     0, 0},
    {"--tracker", "HOST:PORT", "the tracker (default 127.0.0.1:6771)", FLAG_STRING, &g_peer.tracker,
     0, 0},
    {"--dir", "DIR", "directory to share from and download into (default .)", FLAG_STRING,
     &g_peer.dir, 0, 0},
    {"--host", "IP", "TCP address to serve on (default 0.0.0.0)", FLAG_STRING, &g_peer.host, 0, 0},
    {"--port", "PORT", "TCP port to serve on (default 0: a free one)", FLAG_INT, &g_peer.port, 0,
     65535},
    {"--log", "PATH", "log file (default .peer_ID.log)", FLAG_STRING, &g_peer.log_path, 0, 0},
    {"--sources", "K", "download from up to K sources at once (default 32)", FLAG_INT,
     &g_peer.sources, 1, 64},
    {"--timeout", "SECONDS", "give up on a source that sends nothing for this long (default 30)",
     FLAG_INT, &g_peer.timeout_s, 1, 86400},
    {"--max-upload-rate", "RATE",
     "bytes per second served to others, K or M suffix (default 0: no limit)", FLAG_RATE,
     &g_peer.max_upload_rate, 0, 0},
    {"--max-download-rate", "RATE",
     "bytes per second downloaded, K or M suffix (default 0: no limit)", FLAG_RATE,
     &g_peer.max_download_rate, 0, 0},
    {"--max-conns-per-ip", "N",
     "connections served at once to one address (default 64; 256 in all)", FLAG_INT,
     &g_peer.max_conns_per_ip, 1, static_cast<int>(kMaxServeConns)},
    {"--min-rate", "RATE",
     "drop a source sending under RATE bytes/s for --timeout (default 1K; 0: never)", FLAG_RATE,
     &g_peer.min_rate, 0, 0},
    {"--max-unverified-size", "SIZE",
     "largest download of unknown size, K or M suffix (default 4096M; 0: none)", FLAG_SIZE,
     &g_peer.max_unverified_size, 0, 0},
};

static void peer_usage(FILE* out) {
  fprintf(out,
          "usage: tt peer --id ID [--tracker HOST:PORT] [--dir DIR] [--host IP] [--port PORT]\n"
          "               [--log PATH] [--sources K] [--timeout SECONDS]\n"
          "               [--max-upload-rate RATE] [--max-download-rate RATE]\n"
          "               [--min-rate RATE] [--max-unverified-size SIZE] [--max-conns-per-ip N]\n"
          "Runs a peer: shares files and downloads them from other peers.\n");
  print_flags(out, kPeerFlags, sizeof kPeerFlags / sizeof kPeerFlags[0]);
  fprintf(out,
          "Console commands (typed, or piped one per line): share NAME [PATH],\n"
          "get NAME [N] [--sources K], request logs, help, exit.\n");
}

// The seed asks for the id at start; tt does so only on a terminal.
static int ask_id(std::string* id) {
  if (!isatty(0)) return -1;
  fputs("Enter peer ID: ", stdout);
  fflush(stdout);
  char line[256];
  if (fgets(line, sizeof line, stdin) == nullptr) return -1;
  std::string s = line;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  *id = s;
  return 0;
}

static int run_peer(int argc, char** argv) {
  int r = parse_flags(argc, argv, kPeerFlags, sizeof kPeerFlags / sizeof kPeerFlags[0], "peer",
                      peer_usage);
  if (r != 0) return r;
  if (g_peer.id.empty() && ask_id(&g_peer.id) != 0) {
    fprintf(stderr, "tt peer: --id is required when stdin is not a terminal\n");
    peer_usage(stderr);
    return 2;
  }
  std::string why;
  if (peer_check_id(g_peer.id, &why) != 0) {
    fprintf(stderr, "tt peer: bad --id '%s': %s\n", g_peer.id.c_str(), why.c_str());
    return 2;
  }
  struct sockaddr_in addr;
  if (tc_parse_addr(g_peer.tracker, &addr) != 0) {
    fprintf(stderr, "tt peer: bad --tracker '%s': expected IPv4:PORT, e.g. 127.0.0.1:6771\n",
            g_peer.tracker.c_str());
    return 2;
  }
  struct stat st;
  if (stat(g_peer.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "tt peer: --dir '%s' is not a directory\n", g_peer.dir.c_str());
    return 2;
  }
  while (g_peer.dir.size() > 1 && g_peer.dir.back() == '/')
    g_peer.dir.pop_back();
  return peer_main(g_peer);
}

/* ---- tt id ---------------------------------------------------------------- */

static void id_usage(FILE* out) {
  fprintf(out,
          "usage: tt id FILE...\n"
          "Prints each file's content id (the SHA-256 of its manifest, PROTOCOL §3), its size\n"
          "and piece size, as a peer sharing it would announce them: ID  SIZE  PIECE_SIZE  FILE\n");
}

static int run_id(int argc, char** argv) {
  if (argc == 0) {
    id_usage(stderr);
    return 2;
  }
  int rc = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      id_usage(stdout);
      return 0;
    }
    Manifest m;
    std::string err;
    if (manifest_hash_file(argv[i], &m, &err) != 0) {
      fprintf(stderr, "tt id: %s\n", err.c_str());
      rc = 1;
      continue;
    }
    printf("%s  %llu  %u  %s\n", m.id.c_str(), static_cast<unsigned long long>(m.size),
           m.piece_size, argv[i]);
  }
  return rc;
}

/* ---- tt, tt help ---------------------------------------------------------- */

static int run_help(int argc, char** argv);
static void help_usage(FILE* out) {
  fprintf(out, "usage: tt help COMMAND\n");
}

static const Subcommand kSubcommands[] = {
    {"tracker", "run the tracker", run_tracker, tracker_usage},
    {"peer", "run a peer", run_peer, peer_usage},
    {"id", "print files' content ids", run_id, id_usage},
    {"help", "show help for a command", run_help, help_usage},
};

static void main_usage(FILE* out) {
  fprintf(out, "usage: tt COMMAND [FLAGS]   (tt --help, tt --version, tt help COMMAND)\n");
  fprintf(out, "tt shares files peer to peer: a tracker knows who has which file.\n\nCommands:\n");
  for (const Subcommand& s : kSubcommands)
    fprintf(out, "  %-10s %s\n", s.name, s.summary);
}

static const Subcommand* find_subcommand(const char* name) {
  for (const Subcommand& s : kSubcommands) {
    if (strcmp(s.name, name) == 0) return &s;
  }
  return nullptr;
}

static int run_help(int argc, char** argv) {
  if (argc == 0) {
    main_usage(stdout);
    return 0;
  }
  const Subcommand* s = find_subcommand(argv[0]);
  if (s == nullptr || argc > 1) {
    fprintf(stderr, "tt help: unknown command '%s'\n", argv[0]);
    main_usage(stderr);
    return 2;
  }
  s->usage(stdout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    main_usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    main_usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("tt %s\n", TT_VERSION);
    return 0;
  }
  const Subcommand* s = find_subcommand(argv[1]);
  if (s == nullptr) {
    fprintf(stderr, "tt: unknown command '%s'\n", argv[1]);
    main_usage(stderr);
    return 2;
  }
  return s->run(argc - 2, argv + 2);
}
