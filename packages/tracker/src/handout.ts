/**
 * Which peers an announcing node is told about. Pure policy, shared by the announce server
 * and the fleet simulator.
 *
 * Nodes that have the whole blob come first, then nodes still downloading, each group in
 * random order so the mesh stays random; seeders come last, so a warm fleet pulls from its
 * peers and the seeders' upload is kept for pieces nobody else has. A node that would
 * otherwise get no complete peer always gets a seeder, or a cold swarm could not start.
 */
export interface HandoutPeer {
  /** The peer's BitTorrent peer id (hex). */
  peerId: string;
  complete: boolean;
  seeder: boolean;
}

export function selectHandout<T extends HandoutPeer>(
  peers: Iterable<T>,
  requesterPeerId: string,
  numwant: number,
  random: () => number = Math.random,
): T[] {
  const complete: T[] = [];
  const downloading: T[] = [];
  const seeders: T[] = [];
  for (const peer of peers) {
    if (peer.peerId === requesterPeerId) continue;
    if (peer.seeder) seeders.push(peer);
    else if (peer.complete) complete.push(peer);
    else downloading.push(peer);
  }
  if (numwant <= 0) return [];
  const chosen = [...shuffle(complete, random), ...shuffle(downloading, random)].slice(0, numwant);
  shuffle(seeders, random);
  const hasComplete = chosen.some((peer) => peer.complete);
  let s = 0;
  if (!hasComplete && seeders.length > 0 && chosen.length === numwant) chosen[numwant - 1] = seeders[s++]!;
  while (chosen.length < numwant && s < seeders.length) chosen.push(seeders[s++]!);
  return chosen;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
