// Tunables and buffer limits, in one place so they can be read and changed together.
// Everything here is a compile-time constant; flags that override a few of them
// live in the options structs of tracker.h and peer.h.
#pragma once

#include <cstddef>
#include <cstdint>

// Control plane (UDP).
constexpr int kDefaultTrackerPort = 6771;
constexpr size_t kMaxDatagram = 65536;         // receive buffer; larger datagrams are truncated
constexpr size_t kSeedAnswerMax = 1024;        // the seed peer reads answers with recv(1024)
constexpr size_t kMaxPeerIdBytes = 64;         // longest peer id accepted
constexpr size_t kMaxJoinFiles = 4096;         // most names one join may register
constexpr int kTrackerAnswerTimeoutMs = 5000;  // a request to the tracker gives up after this
constexpr int kLeaveTimeoutMs = 1500;          // shorter wait for the answer to leave on exit

// Names (PROTOCOL §4).
constexpr size_t kMaxNameBytes = 255;

// Data plane (TCP).
constexpr size_t kXferChunk = 256 * 1024;  // one read from disk or the socket
constexpr int kSeedNameWaitMs = 2000;      // wait this long for the rest of a split seed request
constexpr size_t kMaxSeedRequest = kMaxNameBytes + 2;  // a name plus an optional "\r\n"
constexpr int kDefaultStallTimeoutS = 30;              // --timeout default
constexpr int kTcpBacklog = 128;
