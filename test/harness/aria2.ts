/** The BitTorrent baseline (opentracker + aria2c + mktorrent): shared with the benchmarks, see bench/src/lib/aria2.ts. */
export {
  startTracker,
  makeTorrent,
  startAria2,
  torrentInfoHash,
  type Tracker,
  type Torrent,
  type MakeTorrentOptions,
  type Aria2Options,
  type Aria2Peer,
} from '@shoal/bench/harness';
