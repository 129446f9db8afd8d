/** Gapless playback of a turn's sentences with Web Audio: each sentence is decoded and
 * scheduled to start exactly when the previous one ends, strictly in seq order (a sentence
 * that arrives early waits for the missing one). `stop(turnId)` silences a turn at once
 * (barge-in). Every change is reported, so the server knows what the user has heard. */

export interface PlaybackReport {
  turnId: string;
  state: "playing" | "idle";
  playedSeq: number;
  playedMs: number;
}

interface TurnQueue {
  nextSeq: number;
  waiting: Map<number, ArrayBuffer>;
  sources: Set<AudioBufferSourceNode>;
  scheduled: number;
  playedSeq: number;
  playedMs: number;
  decoding: Promise<void>;
  stopped: boolean;
  finished: boolean;
  ended: boolean;
}

export class PlaybackQueue {
  private context: AudioContext | null = null;
  private turns = new Map<string, TurnQueue>();
  private timelineEnd = 0;

  constructor(private readonly onReport: (report: PlaybackReport) => void) {}

  /** Create (or wake) the audio context; call from a user gesture where possible. */
  unlock(): AudioContext {
    if (!this.context) this.context = new AudioContext();
    if (this.context.state === "suspended") void this.context.resume().catch(() => undefined);
    return this.context;
  }

  private queue(turnId: string): TurnQueue {
    let q = this.turns.get(turnId);
    if (!q) {
      q = { nextSeq: 0, waiting: new Map(), sources: new Set(), scheduled: 0, playedSeq: -1, playedMs: 0, decoding: Promise.resolve(), stopped: false, finished: false, ended: false };
      this.turns.set(turnId, q);
    }
    return q;
  }

  /** A sentence's WAV bytes. Copies the buffer: decodeAudioData detaches it. */
  enqueue(turnId: string, seq: number, wav: ArrayBuffer): void {
    const q = this.queue(turnId);
    if (q.stopped || seq < q.nextSeq) return;
    q.waiting.set(seq, wav.slice(0));
    while (q.waiting.has(q.nextSeq)) {
      const bytes = q.waiting.get(q.nextSeq)!;
      const current = q.nextSeq;
      q.waiting.delete(current);
      q.nextSeq += 1;
      q.decoding = q.decoding.then(() => this.schedule(turnId, q, current, bytes)).catch(() => undefined);
    }
  }

  /** A sentence that failed on the server (tombstone): play on without it. */
  skip(turnId: string, seq: number): void {
    const q = this.queue(turnId);
    if (seq === q.nextSeq) {
      q.nextSeq += 1;
      while (q.waiting.has(q.nextSeq)) {
        const next = q.nextSeq;
        this.enqueue(turnId, next, q.waiting.get(next)!);
      }
    }
  }

  /** No more sentences will come for this turn. */
  finish(turnId: string): void {
    const q = this.queue(turnId);
    q.finished = true;
    void q.decoding.then(() => this.maybeIdle(turnId, q));
  }

  stop(turnId: string): void {
    const q = this.queue(turnId);
    q.stopped = true;
    q.waiting.clear();
    for (const source of q.sources) {
      try {
        source.stop();
      } catch {
        /* already stopped */
      }
    }
    q.sources.clear();
    this.timelineEnd = this.context?.currentTime ?? 0;
    this.report(turnId, q, "idle");
  }

  /** Forget a turn (its reply restarts): stop it and accept its sentences from seq 0 again. */
  reset(turnId: string): void {
    if (this.turns.has(turnId)) this.stop(turnId);
    this.turns.delete(turnId);
  }

  stopAll(): void {
    for (const turnId of this.turns.keys()) {
      const q = this.turns.get(turnId)!;
      if (q.sources.size) this.stop(turnId);
    }
  }

  isPlaying(turnId: string): boolean {
    return (this.turns.get(turnId)?.sources.size ?? 0) > 0;
  }

  private async schedule(turnId: string, q: TurnQueue, seq: number, bytes: ArrayBuffer): Promise<void> {
    const context = this.unlock();
    const buffer = await context.decodeAudioData(bytes);
    if (q.stopped) return;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    const startAt = Math.max(context.currentTime + 0.03, this.timelineEnd);
    this.timelineEnd = startAt + buffer.duration;
    const wasSilent = q.sources.size === 0;
    q.sources.add(source);
    q.scheduled += 1;
    source.onended = () => {
      q.sources.delete(source);
      if (q.stopped) return;
      q.playedSeq = Math.max(q.playedSeq, seq);
      q.playedMs += Math.round(buffer.duration * 1000);
      if (!this.maybeIdle(turnId, q)) this.report(turnId, q, "playing");
    };
    source.start(startAt);
    if (wasSilent && q.scheduled === 1) this.report(turnId, q, "playing");
  }

  private maybeIdle(turnId: string, q: TurnQueue): boolean {
    if (q.finished && !q.ended && q.sources.size === 0 && q.waiting.size === 0) {
      q.ended = true;
      this.report(turnId, q, "idle");
      return true;
    }
    return false;
  }

  private report(turnId: string, q: TurnQueue, state: "playing" | "idle"): void {
    this.onReport({ turnId, state, playedSeq: q.playedSeq, playedMs: q.playedMs });
  }
}
