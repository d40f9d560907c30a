// A new group's first entries: one AddVoter per initial voter, at term 1, already committed. Writing the
// initial membership into the log (rather than into a snapshot) lets a replica added later learn the
// whole membership history from the log itself.

import { ConfChangeType, encodeConfChange } from './confChange';
import { Entry, EntryType, HardState } from './types';

export function bootstrapEntries(voters: number[]): { entries: Entry[]; hardState: HardState } {
  const sorted = [...voters].sort((a, b) => a - b);
  const entries = sorted.map((replica, offset) => ({
    term: 1,
    index: offset + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddVoter, replica }),
  }));
  return { entries, hardState: { term: 1, vote: 0, commit: entries.length } };
}
