// Assertions stay on in production: a broken invariant in a replica must crash the actor (it is restarted
// from durable state) rather than let it apply or acknowledge something wrong.

export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
