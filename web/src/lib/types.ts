/** Shapes of the server's events and of the page's own state. Server payloads are read
 * defensively: every field that a later issue adds is optional here. */

export type TtsMode = "fast" | "hq" | "both";

export type TurnStatus =
  | "sending"
  | "thinking"
  | "streaming"
  | "speaking"
  | "done"
  | "error"
  | "interrupted";

export type PlaybackStatus = "idle" | "playing" | "played" | "stopped";

export interface AudioPiece {
  seq: number;
  audio: ArrayBuffer;
  durationMs: number;
  text: string;
  mode: string;
}

export interface Latency {
  /** speech end → final transcript (spoken turns) */
  transcriptMs?: number;
  firstTokenMs?: number;
  firstAudioMs?: number;
  totalMs?: number;
}

export interface Contribution {
  feature: string;
  value: number;
  score?: string;
}

export interface ProsodyResult {
  transcriptionId: string;
  turnId?: string;
  scores?: { confidence?: number; stability?: number; affability?: number };
  quality?: string;
  qualityReason?: string;
  contributions: Contribution[];
  summary?: string;
  /** per score: the 95 % test-retest interval */
  interval?: Partial<Record<"confidence" | "stability" | "affability", ScoreInterval>>;
  /** from the speaker's third utterance on: the change against their own earlier ones */
  relative?: RelativeChange;
  /** the optional emotion model's opinion (0..1 each), shown apart: never part of the scores */
  learned?: LearnedOpinion;
}

export interface LearnedOpinion {
  engine: string;
  licence: string;
  assumption: string;
  values?: { arousal: number; dominance: number; valence: number };
  error?: string;
}

export interface ScoreInterval {
  low: number;
  high: number;
  halfWidth: number;
}

export interface RelativeChange {
  earlierUtterances: number;
  scores: Partial<Record<"confidence" | "stability" | "affability", { baseline: number; change: number; threshold: number; exceedsNoise: boolean }>>;
}

export interface Turn {
  /** the server's turn_id once known; a local id before */
  id: string;
  serverId?: string;
  number?: number;
  source: "text" | "voice";
  userText: string;
  transcriptionId?: string;
  transcriptConfidence?: number;
  reply: string;
  status: TurnStatus;
  chunksExpected?: number;
  failedChunks: number;
  audio: AudioPiece[];
  hq?: { url: string; durationMs?: number };
  latency: Latency;
  error?: { code: string; message: string };
  playback: PlaybackStatus;
  /** performance.now() when the user finished (sent, or speech ended) */
  startedAt: number;
}

export interface Toast {
  id: number;
  code: string;
  message: string;
  tone: "error" | "info";
}

/** An uploaded voice is analysed on the server after the upload answers: `processing`,
 * then `ready` (selectable) or `failed` (with the reason). */
export type VoiceStatus = "processing" | "ready" | "failed";

export interface VoiceProfile {
  id: string;
  name: string;
  status: VoiceStatus;
  error?: { code: string; message: string };
  url?: string;
  durationSec?: number;
  transcript?: string;
  createdAt?: string;
}

export type ConnectionState =
  | { kind: "connecting"; attempt: number }
  | { kind: "connected" }
  | { kind: "reconnecting"; attempt: number; inMs: number }
  | { kind: "busy"; message: string; retryAfterS?: number; position?: number }
  | { kind: "failed"; message: string };
