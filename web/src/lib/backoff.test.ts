import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff";

describe("backoffDelay", () => {
  it("doubles per attempt, stays within [ceiling/2, ceiling], and is capped", () => {
    const low = (a: number) => backoffDelay(a, { random: () => 0 });
    const high = (a: number) => backoffDelay(a, { random: () => 1 });
    expect([0, 1, 2, 3].map(high)).toEqual([500, 1000, 2000, 4000]);
    expect(low(2)).toBe(1000);
    expect(high(20)).toBe(15000);
  });
});
