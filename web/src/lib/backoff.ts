/** Exponential backoff with full jitter, capped: attempt 0 waits about `baseMs`. */
export function backoffDelay(
  attempt: number,
  { baseMs = 500, maxMs = 15000, random = Math.random }: { baseMs?: number; maxMs?: number; random?: () => number } = {},
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  // Half fixed, half jitter: never zero, and clients that dropped together spread out.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
