// A bench's command line, read flag by flag: `--flag value`, numbers checked against a minimum, and a
// usage error (the caller's, which exits) on a missing or bad value.

export class FlagReader {
  private index = -1;
  private flag = '';

  constructor(private readonly argv: readonly string[], private readonly fail: (message: string) => never) {}

  /** The next flag, or undefined after the last. */
  next(): string | undefined {
    this.index++;
    this.flag = this.argv[this.index] ?? '';
    return this.argv[this.index];
  }

  readonly value = (): string => {
    const next = this.argv[++this.index];
    if (next === undefined) this.fail(`${this.flag} needs a value`);
    return next;
  };

  readonly number = (min: number): number => {
    const text = this.value();
    const parsed = Number(text);
    if (!Number.isFinite(parsed) || parsed < min) this.fail(`${this.flag} must be a number >= ${min}, got ${JSON.stringify(text)}`);
    return parsed;
  };

  readonly integer = (min: number): number => {
    const text = this.value();
    const parsed = Number(text);
    if (!Number.isInteger(parsed) || parsed < min) this.fail(`${this.flag} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
    return parsed;
  };
}
