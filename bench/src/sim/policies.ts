/**
 * The policy code the simulator runs: imported from the packages the agent and the tracker
 * run, never copied, so a simulated rollout makes the agent's choices. Listed in one place
 * so a test can check that these are the very objects @shoal/swarm, @shoal/tracker and
 * @shoal/core export.
 */
import { choosePieceLength } from '@shoal/core';
import {
  DEFAULT_MAX_PEERS,
  DEFAULT_NUMWANT,
  PiecePicker,
  SEEDER_MAX_PEERS,
  SeedOffers,
  choosePiece,
  linkToDrop,
  mayStartPiece,
  nextAnnounceDelayMs,
  pipelineLimits,
  seedOffersPerPeer,
} from '@shoal/swarm';
import { selectHandout } from '@shoal/tracker';

export {
  DEFAULT_MAX_PEERS,
  DEFAULT_NUMWANT,
  PiecePicker,
  SEEDER_MAX_PEERS,
  SeedOffers,
  choosePiece,
  choosePieceLength,
  linkToDrop,
  mayStartPiece,
  nextAnnounceDelayMs,
  pipelineLimits,
  seedOffersPerPeer,
  selectHandout,
};

/** The policy objects, by name, for checks that they are the agent's own. */
export const simulatorPolicies = {
  PiecePicker,
  SeedOffers,
  choosePiece,
  linkToDrop,
  mayStartPiece,
  nextAnnounceDelayMs,
  pipelineLimits,
  seedOffersPerPeer,
  selectHandout,
  choosePieceLength,
} as const;
