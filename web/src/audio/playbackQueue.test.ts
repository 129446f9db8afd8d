import { describe, expect, it } from "vitest";
import { PlaybackQueue, type PlaybackReport } from "./playbackQueue";

// jsdom has no Web Audio: a minimal stand-in of the browser's AudioContext that records
// when each buffer was scheduled (a double of the platform, not of our code).
class FakeSource {
  buffer: { duration: number; id: number } | null = null;
  onended: (() => void) | null = null;
  startedAt = -1;
  stopped = false;
  constructor(private readonly log: FakeSource[]) {}
  connect() {}
  start(at: number) {
    this.startedAt = at;
    this.log.push(this);
  }
  stop() {
    this.stopped = true;
  }
}
class FakeContext {
  currentTime = 0;
  state = "running";
  destination = {};
  started: FakeSource[] = [];
  async resume() {}
  async decodeAudioData(bytes: ArrayBuffer) {
    return { duration: new Uint8Array(bytes)[0]! / 10, id: new Uint8Array(bytes)[1]! };
  }
  createBufferSource() {
    return new FakeSource(this.started);
  }
}

function setup() {
  const context = new FakeContext();
  (globalThis as unknown as { AudioContext: unknown }).AudioContext = function () {
    return context;
  };
  const reports: PlaybackReport[] = [];
  const queue = new PlaybackQueue((r) => reports.push(r));
  return { context, reports, queue };
}
const wav = (tenthsOfSecond: number, id: number) => Uint8Array.from([tenthsOfSecond, id]).buffer;
const settle = () => new Promise((r) => setTimeout(r, 0));

describe("PlaybackQueue", () => {
  it("plays sentences in seq order, back to back, and reports playing then idle", async () => {
    const { context, reports, queue } = setup();
    queue.enqueue("t", 1, wav(20, 1)); // arrives early: waits for seq 0
    await settle();
    expect(context.started).toHaveLength(0);
    queue.enqueue("t", 0, wav(10, 0));
    queue.finish("t");
    await settle();
    const starts = context.started.map((s) => [s.buffer!.id, s.startedAt]);
    expect(starts.map(([id]) => id)).toEqual([0, 1]);
    expect(starts[1]![1]! - starts[0]![1]!).toBeCloseTo(1.0); // gapless: next starts when the first ends
    expect(reports[0]).toMatchObject({ turnId: "t", state: "playing" });
    context.started.forEach((s) => s.onended?.());
    expect(reports.at(-1)).toMatchObject({ state: "idle", playedSeq: 1, playedMs: 3000 });
  });

  it("stops a turn at once on interrupt and ignores its later sentences", async () => {
    const { context, reports, queue } = setup();
    queue.enqueue("t", 0, wav(10, 0));
    await settle();
    queue.stop("t");
    expect(context.started[0]!.stopped).toBe(true);
    expect(reports.at(-1)).toMatchObject({ state: "idle" });
    queue.enqueue("t", 1, wav(10, 1));
    await settle();
    expect(context.started).toHaveLength(1);
  });

  it("plays past a sentence that failed on the server", async () => {
    const { context, queue } = setup();
    queue.enqueue("t", 1, wav(10, 1));
    queue.skip("t", 0);
    await settle();
    expect(context.started.map((s) => s.buffer!.id)).toEqual([1]);
  });
});
