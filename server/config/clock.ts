// The time services read, injectable so tests can move it instead of sleeping (`ManualClock`).
// Timers (setTimeout) stay real: the clock answers "what time is it", not "wake me later".

export abstract class Clock {
  /** Milliseconds since the epoch, as Date.now(). */
  abstract now(): number;
}

export class SystemClock extends Clock {
  now(): number {
    return Date.now();
  }
}

/** A clock that moves only when told: for tests. */
export class ManualClock extends Clock {
  constructor(private at = Date.now()) {
    super();
  }

  now(): number {
    return this.at;
  }

  advance(ms: number): void {
    this.at += ms;
  }
}

export const systemClock: Clock = new SystemClock();
