// Mocha's spec reporter plus one plain closing line, "N passed, N failed", so CI can read the result.

import Mocha from 'mocha';

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options: Mocha.MochaOptions) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    runner.on(Mocha.Runner.constants.EVENT_TEST_PASS, () => passed++);
    runner.on(Mocha.Runner.constants.EVENT_TEST_FAIL, () => failed++);
    // Registered after the spec reporter's epilogue, so it prints last; synchronously, because mocha
    // may exit the process right after the run ends.
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => console.log(`\n${passed} passed, ${failed} failed`));
  }
}

export = SummaryReporter;
