import { describe, expect, it } from "vitest";
import { chatReducer, initialChat, type ChatAction, type ChatState } from "./chatReducer";

const run = (actions: ChatAction[], state: ChatState = initialChat) => actions.reduce(chatReducer, state);
const server = (event: string, data: Record<string, unknown>, at: number): ChatAction => ({ type: "server", event, data, at });
const wav = () => new ArrayBuffer(8);

describe("chatReducer: a typed turn", () => {
  it("streams tokens, collects audio in seq order and measures latencies from the send", () => {
    const s = run([
      { type: "send", localId: "l1", text: "你好", at: 1000 },
      { type: "ack", localId: "l1", turnId: "t1", number: 1 },
      server("turn_started", { turn_id: "t1" }, 1100),
      server("llm_token", { turn_id: "t1", token: "你" }, 1400),
      server("llm_token", { turn_id: "t1", token: "好！" }, 1450),
      server("audio_chunk", { turn_id: "t1", seq: 1, audio: wav(), duration_ms: 300, text: "b" }, 1900),
      server("audio_chunk", { turn_id: "t1", seq: 0, audio: wav(), duration_ms: 500, text: "a" }, 1800),
      server("turn_complete", { turn_id: "t1", text: "你好！", chunks: 2 }, 1500),
      server("turn_audio_complete", { turn_id: "t1", chunks: 2, failed: 0, latency: {} }, 2500),
    ]);
    const turn = s.turns[0]!;
    expect(turn.reply).toBe("你好！");
    expect(turn.status).toBe("done");
    expect(turn.audio.map((a) => a.seq)).toEqual([0, 1]);
    expect(turn.latency).toEqual({ firstTokenMs: 400, firstAudioMs: 900, totalMs: 1500 });
  });

  it("gives events that beat the acknowledgement to the waiting message", () => {
    const s = run([
      { type: "send", localId: "l1", text: "hi", at: 0 },
      server("llm_token", { turn_id: "t9", token: "嗨" }, 50),
      { type: "ack", localId: "l1", turnId: "t9" },
    ]);
    expect(s.turns).toHaveLength(1);
    expect(s.turns[0]).toMatchObject({ serverId: "t9", reply: "嗨", status: "streaming", userText: "hi" });
  });

  it("marks a failed sentence without ending the turn, and a turn error with its message", () => {
    let s = run([{ type: "send", localId: "l", text: "x", at: 0 }, { type: "ack", localId: "l", turnId: "t" }]);
    s = run([server("error", { turn_id: "t", seq: 0, code: "ENGINE_FAILED", message: "m" }, 1)], s);
    expect(s.turns[0]).toMatchObject({ failedChunks: 1, status: "thinking" });
    s = run([server("error", { turn_id: "t", code: "ENGINE_UNAVAILABLE", message: "沒有模型" }, 2)], s);
    expect(s.turns[0]).toMatchObject({ status: "error", error: { code: "ENGINE_UNAVAILABLE", message: "沒有模型" } });
  });

  it("drops partial text and audio when the reply restarts", () => {
    const s = run([
      { type: "send", localId: "l", text: "x", at: 0 },
      { type: "ack", localId: "l", turnId: "t" },
      server("llm_token", { turn_id: "t", token: "半" }, 1),
      server("audio_chunk", { turn_id: "t", seq: 0, audio: wav() }, 2),
      server("turn_restarted", { turn_id: "t", generation: 2 }, 3),
    ]);
    expect(s.turns[0]).toMatchObject({ reply: "", audio: [], status: "thinking" });
  });

  it("shows HQ once hq_audio_ready arrives, and stops on interrupt", () => {
    const s = run([
      { type: "send", localId: "l", text: "x", at: 0 },
      { type: "ack", localId: "l", turnId: "t" },
      server("hq_audio_ready", { turn_id: "t", url: "/api/v1/media/hq.wav", duration_ms: 900 }, 5),
      server("interrupt", { turn_id: "t" }, 6),
    ]);
    expect(s.turns[0]!.hq).toEqual({ url: "/api/v1/media/hq.wav", durationMs: 900 });
    expect(s.turns[0]).toMatchObject({ status: "interrupted", playback: "stopped" });
  });
});

describe("chatReducer: a spoken turn", () => {
  it("shows partials, then makes the final transcript the user's message with its latency", () => {
    let s = run([server("vad_state", { state: "speech_start" }, 0), server("transcription_partial", { text: "今天", is_final: false }, 300)]);
    expect(s).toMatchObject({ partial: "今天", speaking: true });
    s = run(
      [
        server("vad_state", { state: "speech_end" }, 1000),
        server("transcription_final", { transcription_id: "tr1", turn_id: "t1", text: "今天天氣好嗎", confidence: 0.9 }, 1250),
        server("llm_token", { turn_id: "t1", token: "好" }, 1600),
      ],
      s,
    );
    expect(s.partial).toBe("");
    expect(s.turns).toHaveLength(1);
    expect(s.turns[0]).toMatchObject({ source: "voice", userText: "今天天氣好嗎", transcriptionId: "tr1", reply: "好" });
    expect(s.turns[0]!.latency).toMatchObject({ transcriptMs: 250, firstTokenMs: 600 });
  });

  it("replaces an unanswered turn with the one that continued it, holding both utterances", () => {
    const s = run([
      server("vad_state", { state: "speech_end" }, 0),
      server("transcription_final", { transcription_id: "trA", turn_id: "tA", text: "對" }, 100),
      server("llm_token", { turn_id: "tA", token: "好" }, 200),
      server("vad_state", { state: "speech_start" }, 300),
      server("vad_state", { state: "speech_end" }, 2000),
      server("interrupt", { turn_id: "tA", spoken_text: "", reason: "continued" }, 2100),
      server("transcription_final", {
        transcription_id: "trB", turn_id: "tB", text: "今天天氣好嗎", turn_text: "對，今天天氣好嗎", continues_turn_id: "tA",
      }, 2100),
    ]);
    expect(s.turns).toHaveLength(1);
    expect(s.turns[0]).toMatchObject({ serverId: "tB", userText: "對，今天天氣好嗎", transcriptionId: "trB", reply: "" });
  });

  it("puts a turn stopped unheard back when the utterance that stopped it held no words", () => {
    const s = run([
      server("vad_state", { state: "speech_end" }, 0),
      server("transcription_final", { transcription_id: "trA", turn_id: "tA", text: "今天天氣好嗎" }, 100),
      server("llm_token", { turn_id: "tA", token: "今" }, 200),
      server("vad_state", { state: "speech_start" }, 300),
      server("interrupt", { turn_id: "tA", spoken_text: "", reason: "barge_in" }, 700),
      server("vad_state", { state: "speech_end" }, 900),
      server("transcription_rejected", {
        reason: "no_speech", message: "聽起來像是靜音或雜音", resumed_turn_id: "tB", continues_turn_id: "tA", turn_text: "今天天氣好嗎",
      }, 1200),
      server("llm_token", { turn_id: "tB", token: "晴" }, 1300),
    ]);
    expect(s.turns).toHaveLength(1);
    expect(s.turns[0]).toMatchObject({ serverId: "tB", userText: "今天天氣好嗎", reply: "晴" });
    expect(s.turns[0]!.status).not.toBe("interrupted");
  });

  it("links a final transcript without turn_id to the reply that follows", () => {
    const s = run([
      server("vad_state", { state: "speech_end" }, 0),
      server("transcription_final", { transcription_id: "tr2", text: "你好", latency_ms: 120 }, 130),
      server("turn_started", { turn_id: "t2" }, 140),
    ]);
    expect(s.turns).toHaveLength(1);
    expect(s.turns[0]).toMatchObject({ serverId: "t2", userText: "你好", latency: { transcriptMs: 120 } });
  });

  it("keeps prosody results by transcription", () => {
    const s = run([server("prosody_analysis", { transcription_id: "tr1", scores: { confidence: 70, stability: 60, affability: 80 }, quality: "ok" }, 0)]);
    expect(s.prosody.tr1?.scores).toEqual({ confidence: 70, stability: 60, affability: 80 });
  });
});

describe("chatReducer: history after a reconnect", () => {
  it("settles the turn that finished while the connection was down, and adds the ones it missed", () => {
    let s = run([
      { type: "send", localId: "l1", text: "你好", at: 0 },
      { type: "ack", localId: "l1", turnId: "t1", number: 1 },
      server("llm_token", { turn_id: "t1", token: "你" }, 100),
    ]);
    expect(s.turns[0]!.status).toBe("streaming");
    s = run([{ type: "history", turns: [
      { turn_id: "t0", turn_number: 1, user_input: "早", ai_response: "早安", status: "completed" },
      { turn_id: "t1", turn_number: 2, user_input: "你好", ai_response: "你好，很高興見到你。", status: "completed",
        latency: { total_ms: 900 } },
    ] }], s);
    expect(s.turns.map((t) => t.serverId)).toEqual(["t0", "t1"]);
    expect(s.turns[1]).toMatchObject({ id: "l1", reply: "你好，很高興見到你。", status: "done", latency: { firstTokenMs: 100, totalMs: 900 } });
  });

  it("keeps a turn the server is still working on, and one the page already finished", () => {
    let s = run([
      { type: "send", localId: "a", text: "一", at: 0 },
      { type: "ack", localId: "a", turnId: "ta" },
      server("llm_token", { turn_id: "ta", token: "部" }, 10),
      { type: "send", localId: "b", text: "二", at: 20 },
      { type: "ack", localId: "b", turnId: "tb" },
      server("turn_complete", { turn_id: "tb", text: "好", chunks: 0 }, 30),
    ]);
    s = run([{ type: "history", turns: [
      { turn_id: "ta", ai_response: "", status: "pending" },
      { turn_id: "tb", ai_response: "好", status: "error", error_code: "X" },
    ] }], s);
    expect(s.turns[0]).toMatchObject({ reply: "部", status: "streaming" });
    expect(s.turns[1]).toMatchObject({ reply: "好", status: "done" });
    expect(s.turns[1]!.error).toBeUndefined();
  });
});
