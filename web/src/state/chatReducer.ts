/** The conversation as the page sees it, rebuilt from server events. Pure: every event
 * carries the client time it arrived (`at`, performance.now()), so latencies are testable. */
import { toProsody } from "../lib/prosody";
import type { AudioPiece, PlaybackStatus, ProsodyResult, Turn } from "../lib/types";
import type { StoredTurn } from "../lib/api";

export interface ChatState {
  turns: Turn[];
  /** live partial transcript while the user speaks */
  partial: string;
  speaking: boolean;
  speechEndAt?: number;
  /** prosody results whose transcription is not (yet) linked to a turn */
  prosody: Record<string, ProsodyResult>;
}

export const initialChat: ChatState = { turns: [], partial: "", speaking: false, prosody: {} };

type Obj = Record<string, unknown>;

export type ChatAction =
  | { type: "send"; localId: string; text: string; at: number }
  | { type: "ack"; localId: string; turnId: string; number?: number }
  | { type: "send_failed"; localId: string; code: string; message: string }
  | { type: "server"; event: string; data: Obj; at: number }
  | { type: "playback"; turnId: string; status: PlaybackStatus }
  | { type: "history"; turns: StoredTurn[] }
  | { type: "prosody_list"; items: ProsodyResult[] }
  | { type: "clear" };

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

export function newTurn(id: string, at: number, patch: Partial<Turn> = {}): Turn {
  return {
    id,
    source: "text",
    userText: "",
    reply: "",
    status: "thinking",
    failedChunks: 0,
    audio: [],
    latency: {},
    playback: "idle",
    startedAt: at,
    ...patch,
  };
}

function update(state: ChatState, id: string, fn: (t: Turn) => Turn): ChatState {
  return { ...state, turns: state.turns.map((t) => (t.id === id ? fn(t) : t)) };
}

/** The turn a server event belongs to; a turn the page has not seen yet is created, or
 * matched with the message still waiting for its acknowledgement. */
function locate(state: ChatState, turnId: string, at: number): [ChatState, string] {
  const known = state.turns.find((t) => t.serverId === turnId);
  if (known) return [state, known.id];
  const waiting = state.turns.find((t) => !t.serverId && t.status === "sending");
  if (waiting) {
    return [update(state, waiting.id, (t) => ({ ...t, serverId: turnId })), waiting.id];
  }
  const startedAt = state.speechEndAt ?? at;
  const turn = newTurn(turnId, startedAt, { serverId: turnId, source: "voice" });
  return [{ ...state, turns: [...state.turns, turn], speechEndAt: undefined }, turnId];
}

function attachProsody(state: ChatState, result: ProsodyResult): ChatState {
  return { ...state, prosody: { ...state.prosody, [result.transcriptionId]: result } };
}

function onServer(state: ChatState, event: string, d: Obj, at: number): ChatState {
  const turnId = str(d.turn_id);
  switch (event) {
    case "vad_state": {
      if (d.state === "speech_start") return { ...state, speaking: true, partial: "" };
      if (d.state === "speech_end") return { ...state, speaking: false, speechEndAt: at };
      return state;
    }
    case "transcription_partial":
      return { ...state, partial: str(d.text) ?? state.partial };
    case "transcription_rejected": {
      const cleared = { ...state, partial: "", speaking: false, speechEndAt: undefined };
      // The rejected utterance's barge-in had stopped the previous turn unheard: that message
      // is asked again as a new turn, which takes the stopped one's place.
      const resumed = str(d.resumed_turn_id);
      const stopped = str(d.continues_turn_id);
      if (!resumed || !stopped) return cleared;
      return {
        ...cleared,
        turns: cleared.turns.map((t) =>
          t.serverId === stopped
            ? { ...t, serverId: resumed, userText: str(d.turn_text) ?? t.userText, reply: "", audio: [], status: "thinking", playback: "idle", failedChunks: 0 }
            : t,
        ),
      };
    }
    case "transcription_final": {
      // An utterance that continued an unanswered one (a pause mid-sentence): its turn holds
      // both (`turn_text`) and replaces the one it continued, which was stopped unheard.
      const continued = str(d.continues_turn_id);
      if (continued) state = { ...state, turns: state.turns.filter((t) => t.serverId !== continued) };
      const text = str(d.turn_text) ?? str(d.text) ?? "";
      const speechEnd = state.speechEndAt ?? at;
      const transcriptMs = num(d.latency_ms) ?? Math.max(0, at - speechEnd);
      const patch = (t: Turn): Turn => ({
        ...t,
        source: "voice",
        userText: text,
        transcriptionId: str(d.transcription_id),
        transcriptConfidence: num(d.confidence),
        startedAt: Math.min(t.startedAt, speechEnd),
        latency: { ...t.latency, transcriptMs },
      });
      const cleared = { ...state, partial: "", speaking: false };
      if (turnId) {
        const [s, id] = locate({ ...cleared, speechEndAt: speechEnd }, turnId, at);
        return { ...update(s, id, patch), speechEndAt: undefined };
      }
      // no turn yet: the reply's turn_started will pick this one up
      const pending = newTurn(`voice-${str(d.transcription_id) ?? at}`, speechEnd, { status: "sending" });
      return { ...cleared, speechEndAt: undefined, turns: [...cleared.turns, patch(pending)] };
    }
    case "prosody_analysis": {
      const result = toProsody(d);
      return result ? attachProsody(state, result) : state;
    }
  }
  if (!turnId) {
    return state;
  }
  const [s, id] = locate(state, turnId, at);
  switch (event) {
    case "turn_started":
      return update(s, id, (t) => ({ ...t, status: t.reply ? t.status : "thinking" }));
    case "turn_restarted":
      return update(s, id, (t) => ({ ...t, reply: "", audio: [], status: "thinking", failedChunks: 0, playback: "idle" }));
    case "llm_token":
      return update(s, id, (t) => ({
        ...t,
        reply: t.reply + (str(d.token) ?? ""),
        status: t.status === "thinking" || t.status === "sending" ? "streaming" : t.status,
        latency: t.latency.firstTokenMs === undefined ? { ...t.latency, firstTokenMs: at - t.startedAt } : t.latency,
      }));
    case "turn_complete": {
      const chunks = num(d.chunks);
      return update(s, id, (t) => ({
        ...t,
        reply: str(d.text) ?? t.reply,
        chunksExpected: chunks,
        status: t.status === "done" || t.status === "interrupted" ? t.status : chunks === 0 ? "done" : "speaking",
      }));
    }
    case "audio_chunk": {
      const audio = d.audio;
      if (!(audio instanceof ArrayBuffer)) return s;
      const piece: AudioPiece = {
        seq: num(d.seq) ?? 0,
        audio,
        durationMs: num(d.duration_ms) ?? 0,
        text: str(d.text) ?? "",
        mode: str(d.mode) ?? "fast",
      };
      return update(s, id, (t) => ({
        ...t,
        audio: [...t.audio.filter((p) => p.seq !== piece.seq), piece].sort((a, b) => a.seq - b.seq),
        latency: t.latency.firstAudioMs === undefined ? { ...t.latency, firstAudioMs: at - t.startedAt } : t.latency,
      }));
    }
    case "turn_audio_complete":
      return update(s, id, (t) => ({
        ...t,
        status: t.status === "error" || t.status === "interrupted" ? t.status : "done",
        failedChunks: num(d.failed) ?? t.failedChunks,
        latency: { ...t.latency, totalMs: at - t.startedAt },
      }));
    case "interrupt":
      return update(s, id, (t) => ({ ...t, status: t.status === "done" ? t.status : "interrupted", playback: "stopped" }));
    case "hq_audio_ready": {
      const url = str(d.url);
      return url ? update(s, id, (t) => ({ ...t, hq: { url, durationMs: num(d.duration_ms) } })) : s;
    }
    case "error": {
      const code = str(d.code) ?? "INTERNAL";
      const message = str(d.message) ?? "";
      if (d.seq !== undefined) return update(s, id, (t) => ({ ...t, failedChunks: t.failedChunks + 1 }));
      // degraded-quality notices keep the turn going
      if (code === "VRAM_EXHAUSTED" || code === "HQ_UNAVAILABLE") return s;
      return update(s, id, (t) => ({ ...t, status: "error", error: { code, message } }));
    }
    default:
      return s;
  }
}

function fromHistory(row: StoredTurn, index: number): Turn {
  const latency = row.latency ?? {};
  const transcriptionId = str(row.transcription_id) ?? str(row.transcription?.transcription_id);
  const status = row.status === "completed" ? "done" : row.status === "error" ? "error" : row.status === "interrupted" ? "interrupted" : "done";
  return newTurn(row.turn_id, 0, {
    serverId: row.turn_id,
    number: row.turn_number ?? index + 1,
    userText: row.user_input ?? "",
    reply: row.ai_response ?? "",
    status,
    error: row.error_code ? { code: row.error_code, message: row.error_message ?? "" } : undefined,
    latency: {
      firstTokenMs: num(latency.first_token_ms),
      firstAudioMs: num(latency.first_audio_ms),
      totalMs: num(latency.total_ms) ?? num(latency.audio_done_ms),
    },
    playback: "played",
    ...(transcriptionId ? { transcriptionId, source: "voice" as const } : {}),
  });
}

const SETTLED_ROWS = new Set(["completed", "error", "interrupted"]);
const LIVE = new Set<Turn["status"]>(["sending", "thinking", "streaming", "speaking"]);

/** A turn still in flight here that the server finished while the connection was down (an
 * API restart): its events are lost, the stored row has the reply. */
function settleFromHistory(turn: Turn, row: StoredTurn): Turn {
  if (!LIVE.has(turn.status) || !SETTLED_ROWS.has(row.status ?? "")) return turn;
  const stored = fromHistory(row, 0);
  return { ...turn, reply: stored.reply || turn.reply, status: stored.status, error: stored.error ?? turn.error,
           latency: { ...stored.latency, ...turn.latency } };
}

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case "send":
      return { ...state, turns: [...state.turns, newTurn(action.localId, action.at, { userText: action.text, status: "sending" })] };
    case "ack":
      return {
        ...state,
        turns: state.turns.map((t) =>
          t.id === action.localId
            ? { ...t, serverId: action.turnId, number: action.number ?? t.number, status: t.status === "sending" ? "thinking" : t.status }
            : t,
        ),
      };
    case "send_failed":
      return update(state, action.localId, (t) => ({ ...t, status: "error", error: { code: action.code, message: action.message } }));
    case "server":
      return onServer(state, action.event, action.data, action.at);
    case "playback":
      return {
        ...state,
        turns: state.turns.map((t) => (t.serverId === action.turnId || t.id === action.turnId ? { ...t, playback: action.status } : t)),
      };
    case "history": {
      const known = new Set(state.turns.map((t) => t.serverId));
      const older = action.turns.filter((row) => !known.has(row.turn_id)).map(fromHistory);
      const rows = new Map(action.turns.map((row) => [row.turn_id, row]));
      const turns = state.turns.map((t) => (t.serverId && rows.has(t.serverId) ? settleFromHistory(t, rows.get(t.serverId)!) : t));
      return { ...state, turns: [...older, ...turns] };
    }
    case "prosody_list":
      return action.items.reduce(attachProsody, state);
    case "clear":
      return initialChat;
  }
}
