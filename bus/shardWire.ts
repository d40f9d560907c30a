// The bulk half of the resharding requests (actors/replica/shardRequests.ts): exported and ingested keys
// travel as msgpack, not JSON, since a partition's whole key space may cross in them.

import { Packr } from 'msgpackr';

export const shardPackr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
