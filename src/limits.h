// Tunables and buffer limits, in one place so they can be read and changed together.
// Everything here is a compile-time constant; flags that override a few of them
// live in the options structs of tracker.h and peer.h.
#pragma once

#include <cstddef>
#include <cstdint>

// Control plane (UDP).
constexpr int kDefaultTrackerPort = 6771;
constexpr size_t kMaxDatagram = 65536;      // receive buffer; larger datagrams are truncated
constexpr size_t kSeedAnswerMax = 1024;     // the seed peer reads answers with recv(1024)
constexpr size_t kMaxPeerIdBytes = 64;      // longest peer id accepted
constexpr size_t kMaxJoinFiles = 4096;      // most names one join may register
constexpr size_t kMaxRequestBytes = 16384;  // larger datagrams are dropped unanswered
constexpr size_t kMaxAnswerBytes = 8192;    // answers to authenticated extended requests
constexpr int kDefaultNumwant = 50;         // sources listed when numwant is not given
constexpr int kMaxNumwant = 200;            // ... and at most, whatever numwant says
constexpr int kSeedNumwant = 30;            // seed answers: as many as fit in 1024 bytes
constexpr int kDefaultListRows = 50;        // rows a list answer has when limit is not given
constexpr int kMaxListRows = 200;           // ... and at most, whatever limit says (and as
                                            // many as fit in the answer's size)
constexpr int kDefaultPeerTtlS = 90;        // --peer-ttl default: a peer unseen this long is gone
constexpr int kProbeTimeoutMs = 2000;       // a TCP liveness probe gives up after this
constexpr int kProbeFreshMs = 1000;         // a holder probed alive this recently stays alive
constexpr int kMaxProbes = 256;             // liveness probes in flight at once
constexpr int kMaxRefusalLinesPerSec = 50;  // console/log lines about refused requests
constexpr size_t kMaxPeers = 2000000;       // registered peer ids; more joins are refused
// Registrations (one peer holding one name): caps that bound the tracker's memory
// and keep one address from taking the room of everyone else.
constexpr size_t kMaxRegistrations = 4000000;     // in all
constexpr size_t kDefaultMaxFilesPerIp = 262144;  // --max-files-per-ip default
constexpr size_t kMaxFilesPerPeer = 65536;        // names one peer id may hold
constexpr size_t kMaxContentsListed = 16;         // contents a name's answer lists at most
constexpr size_t kDefaultMaxContentsPerIp = 4;    // --max-contents-per-ip: contents one address
                                                  // may introduce under one name
constexpr size_t kMaxContentNamesRead = 256;      // names read for a get_peers by content id
constexpr size_t kMinIdPrefix = 8;                // hex digits a content id prefix needs
// A request to the tracker is sent again after kRetransmitFirstMs, doubling up to
// kRetransmitMaxMs between tries, and given up after kTrackerAnswerTimeoutMs.
constexpr int kRetransmitFirstMs = 200;
constexpr int kRetransmitMaxMs = 1000;
constexpr int kTrackerAnswerTimeoutMs = 8000;
constexpr int kLeaveTimeoutMs = 1500;  // shorter wait for the answer to leave on exit

// One hostile sender (docs/protocol.md "### Tracker").
constexpr int kDefaultMaxIdsPerIp = 10000;    // --max-ids-per-ip default: peer ids one IP holds
constexpr size_t kMaxProbeWaiters = 8;        // joins waiting for one probe, one per sender address
constexpr size_t kMaxWaitingBytes = 1 << 20;  // datagrams waiting for probes, all together
constexpr int kMaxProbesPerSender = 16;       // probes in flight for the joins of one IP
constexpr int kProbeRetryMs = 1000;  // a probe that timed out is repeated at least this much later;
                                     // the second timeout in a row removes the holder
constexpr size_t kSweepSlotsPerStep = 16384;  // registry slots one sweep step looks at
constexpr int kDefaultLogMaxMiB = 64;  // --log-max-size default: the log then moves to <log>.1

// Content identity (PROTOCOL §3).
constexpr uint32_t kMinPieceSize = 256 * 1024;
constexpr uint32_t kMaxPieceSize = 16 * 1024 * 1024;
constexpr uint64_t kMaxPiecesWanted = 1024;  // the piece size grows to keep manifests this short

// Names (PROTOCOL §4).
constexpr size_t kMaxNameBytes = 255;

// Data plane (TCP).
constexpr size_t kXferChunk = 256 * 1024;  // one read from disk or the socket
constexpr int kSeedNameWaitMs = 2000;      // wait this long for the rest of a split seed request
constexpr size_t kMaxSeedRequest = kMaxNameBytes + 2;  // a name plus an optional "\r\n"
// An extended request line: room for a want set of a 1 TiB file (65,536 pieces
// of 16 MiB: 16,384 hex digits) with its name and fields.
constexpr size_t kMaxExtendedLine = 20480;
constexpr size_t kMaxExtendedBuffered = 65536;  // pipelined requests read ahead of their answers
constexpr int kDefaultStallTimeoutS = 30;       // --timeout default
constexpr int kTcpBacklog = 128;
constexpr size_t kMaxServeConns = 256;         // connections served at once; more are reset
constexpr uint64_t kServeStallMs = 60 * 1000;  // a downloader that stops reading is dropped
constexpr uint64_t kServeLingerMs = 5 * 1000;  // wait for the client's close after the last byte
constexpr size_t kUploadSlots = 4;             // piece answers sent at once (the rest wait in turn)
constexpr size_t kNotSentLowat = 128 * 1024;   // unsent bytes a served socket may buffer
constexpr uint64_t kSlotHoldMs =
    2000;  // a slot whose answer moves under kSlotMinBytes in this long, while others wait, is lost
constexpr uint64_t kCrowdMs = 1000;  // want sets count while another asked for the file this lately
constexpr size_t kDefaultMaxConnsPerIp = 64;    // --max-conns-per-ip default: one address's share
constexpr uint64_t kServeIdleMs = 15 * 1000;    // no request (or pushed event) this long: closed
                                                // (a watching tt downloader asks every 10 s)
constexpr uint64_t kServeIdleScarceMs = 3000;   // ... while more than 3/4 of the table is taken
constexpr uint64_t kSlotMinBytes = 128 * 1024;  // a slot's answer moving less than this in
                                                // kSlotHoldMs, while others wait, loses its slot

// Swarming downloads.
constexpr size_t kDefaultSources = 32;     // --sources default: sources fetched from at once
constexpr size_t kMaxSources = 64;         // ... and at most
constexpr size_t kMinSourcePipeline = 2;   // piece requests in flight per source, at least
constexpr size_t kMaxSourcePipeline = 16;  // ... and at most, however fast and far it is
constexpr uint64_t kRateWindowMs = 200;    // a source's rate is measured over windows this long
constexpr double kPipelineSlackMs = 1;  // added to a source's round trip when sizing its pipeline
constexpr size_t kMaxPendingEvents = 65536;  // have events kept before a source's piece list
constexpr uint64_t kWantHoldMs = 1000;  // a want set keeps its pieces from other sources this long
constexpr uint64_t kUselessSourceMs = 2000;  // a source with nothing we need this long gives
                                             // up its slot to an untried one (when all are taken)
constexpr size_t kMaxPiecesPending = 8;      // pieces received but not yet on disk, at least
constexpr size_t kPendingBytes = 8 << 20;    // ... or as many as make this many bytes
constexpr size_t kPiecePool = 32;            // piece buffers kept for reuse
constexpr size_t kMaxWrites = 2;             // piece writes in flight (the rest hash meanwhile)
constexpr size_t kMaxWritePieces = 16;       // consecutive pieces written with one pwritev
constexpr size_t kDirectAlign = 4096;        // O_DIRECT writes: buffer, offset and length multiples
constexpr uint64_t kSourceRefreshMs = 500;   // ask the tracker for new sources this often
constexpr uint64_t kSourceRefreshFirstMs = 150;    // ... first: downloaders started together
                                                   // have announced themselves by then
constexpr uint64_t kHaveRefreshMs = 1000;          // ask an idle source again what it has
constexpr uint64_t kHaveRefreshWatchedMs = 10000;  // ... when it pushes have events
constexpr size_t kMaxAnswerLine = 8 << 20;         // an answer line (a manifest of a huge file)
constexpr uint64_t kMaxManifestPieces = 65536;     // pieces a manifest may list (1 TiB at 16 MiB)
constexpr uint64_t kDefaultMaxUnverified = 4ull << 30;  // --max-unverified-size default
constexpr uint64_t kDefaultMinRate = 1024;  // --min-rate default: bytes/s over --timeout
// A late source: one that owes piece answers and has finished none for
// max(kLateMinMs, kLateFactor x (its piece time at its measured rate + its round trip)).
// An idle source that has a piece only late sources are fetching is asked for
// it too (so one source that is not late at a time per piece, one such request
// per idle source); the first good copy wins. A slow honest source is late only
// when it is kLateFactor times slower than itself; busy sources never take such pieces.
constexpr uint64_t kLateMinMs = 2000;
constexpr double kLateFactor = 4;
constexpr uint64_t kLateCheckMs = 250;  // how often the downloader looks for late sources

// Rate limits (--max-upload-rate, --max-download-rate).
constexpr uint64_t kRateMinBurst = 64 * 1024;                // tokens a bucket may save, at least
constexpr uint64_t kRateMax = 1024ull * 1024 * 1024 * 1024;  // the largest limit accepted (1 TiB/s)
constexpr uint64_t kRateChunk = 64 * 1024;  // limited piece bytes go out this many at a time

// BitTorrent (BEP 15 on the tracker's UDP port). The swarm caps and the
// interval are BtLimits (btstore.h), set by the --bt-* flags.
constexpr int kBtConnectionWindowMs = 60 * 1000;  // a connection id is good for this minute
                                                  // and the next
constexpr size_t kBtExpireSlotsPerStep = 65536;   // peer entries one expiry step reads
constexpr int kBtSweepMs = 1000;                  // expiry steps this often

// Console.
// BitTorrent: entries of one address a new peer's announce looks through for
// the same client on another port (btstore.cc).
constexpr size_t kBtSameAddrScan = 32;
constexpr size_t kMaxConsoleLine = 8192;  // longer lines are refused whole

// Watching a tracker: counters, console listings, the HTTP status server (--http).
constexpr int kStatsRateSeconds = 60;    // requests per second are kept for the last minute
constexpr size_t kStatsMaxActions = 16;  // room for the action table, and a slot for the rest
constexpr size_t kListingRows = 100;     // rows the peers and files listings show at most
constexpr size_t kHttpMaxHead = 8192;    // request line and headers; more: 431, closed
constexpr uint64_t kHttpHeadTimeoutMs = 3 * 1000;   // the request must arrive in this long
constexpr uint64_t kHttpSendTimeoutMs = 10 * 1000;  // ... and its answer be taken in this long
// Connections at once from one address; past it, that address's oldest is closed.
constexpr size_t kHttpMaxConnsPerAddr = 8;
constexpr uint64_t kHttpLingerMs = 1000;  // after the answer, wait this long for the client's close
constexpr size_t kHttpMaxConns = 64;      // connections at once; past it the oldest is closed
constexpr size_t kListShownMax = 1000;    // rows the peer's `list` prints at most
constexpr int kListPagesMax = 2000;       // list pages asked for at most (a tracker whose
                                          // cursor never ends cannot keep the peer busy)
constexpr int kListDeadlineMs = 60 * 1000;  // a whole `list` ends within this long, however
                                            // slowly the tracker answers its pages
