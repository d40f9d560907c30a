// The Raft core's public surface.
export { Raft, RaftConfig } from './raft';
export { MemoryStorage } from './memoryStorage';
export { SeededRandom, RandomSource } from './random';
export { ConfChange, ConfChangeType, encodeConfChange, decodeConfChange, applyConfChange } from './confChange';
export { AssertionError } from './assert';
export * from './types';
export { bootstrapEntries } from './bootstrap';
