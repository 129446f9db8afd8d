/** The page's brain: the connection, the conversation state, playback and what the user
 * sends. Components get plain values and callbacks from here. */
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { PlaybackQueue, type PlaybackReport } from "../audio/playbackQueue";
import { fetchSessionProsody, fetchTurns } from "../lib/api";
import { toProsodyList } from "../lib/prosody";
import type { TtsMode } from "../lib/types";
import { chatReducer, initialChat } from "../state/chatReducer";
import { useConnection } from "./useConnection";
import { useToasts } from "./useToasts";

const DEGRADED = new Set(["VRAM_EXHAUSTED", "HQ_UNAVAILABLE"]);
const SPEECH_EVENTS = new Set(["audio_chunk", "audio_end"]);

export type Ack = { ok: boolean; error?: { code?: string; message?: string }; [key: string]: unknown };

export function useAvatar() {
  const [chat, dispatch] = useReducer(chatReducer, initialChat);
  const { toasts, push, dismiss } = useToasts();
  /** false once the server said it does not know the speech-input events */
  const [speechInput, setSpeechInput] = useState(true);
  const speechRefused = useRef(false);
  const reportPlayback = useRef(true);
  const socketRef = useRef<ReturnType<typeof useConnection>["socket"]>(null);

  const player = useRef<PlaybackQueue | null>(null);
  if (!player.current) {
    player.current = new PlaybackQueue((report: PlaybackReport) => {
      dispatch({ type: "playback", turnId: report.turnId, status: report.state === "playing" ? "playing" : "played" });
      if (reportPlayback.current) {
        socketRef.current?.emit("playback_state", {
          turn_id: report.turnId,
          state: report.state,
          played_seq: report.playedSeq,
          played_ms: report.playedMs,
        });
      }
    });
  }

  const onEvent = useCallback(
    (event: string, data: Record<string, unknown>) => {
      const at = performance.now();
      dispatch({ type: "server", event, data, at });
      const turnId = typeof data.turn_id === "string" ? data.turn_id : undefined;
      const queue = player.current!;
      switch (event) {
        case "audio_chunk":
          if (turnId && data.audio instanceof ArrayBuffer) queue.enqueue(turnId, Number(data.seq ?? 0), data.audio);
          break;
        case "turn_audio_complete":
          if (turnId) queue.finish(turnId);
          break;
        case "turn_restarted":
          if (turnId) queue.reset(turnId);
          break;
        case "interrupt":
          if (turnId) queue.stop(turnId);
          break;
        case "transcription_rejected":
          push({ code: String(data.reason ?? "REJECTED"), message: String(data.message ?? "沒有聽清楚，請再說一次。"), tone: "info" });
          break;
        case "hq_audio_ready":
          push({ code: "HQ", message: "高品質語音已完成，重播時將使用 HQ 版本。", tone: "info" });
          break;
        case "error": {
          const code = String(data.code ?? "INTERNAL");
          const unknown = code === "UNKNOWN_EVENT" ? String(data.event ?? "") : "";
          if (unknown === "playback_state") {
            reportPlayback.current = false; // this server does not take playback reports
            break;
          }
          if (SPEECH_EVENTS.has(unknown)) {
            if (speechRefused.current) break; // frames still in flight: say it once
            speechRefused.current = true;
            setSpeechInput(false);
            push({ code: "SPEECH_UNSUPPORTED", message: "此伺服器尚未支援語音輸入，請改用文字輸入。", tone: "info" });
            break;
          }
          if (turnId && data.seq !== undefined) queue.skip(turnId, Number(data.seq));
          else if (turnId && !DEGRADED.has(code)) queue.finish(turnId);
          push({ code, message: String(data.message ?? code), tone: DEGRADED.has(code) ? "info" : "error" });
          break;
        }
      }
    },
    [push],
  );

  const onConnected = useCallback(
    (session: { session_id: string }, resumed: boolean) => {
      fetchSessionProsody(session.session_id)
        .then((body) => dispatch({ type: "prosody_list", items: toProsodyList(body) }))
        .catch(() => undefined); // no scores yet
      if (resumed) {
        fetchTurns(session.session_id)
          .then((turns) => dispatch({ type: "history", turns }))
          .catch(() => undefined);
      }
    },
    [],
  );

  const connection = useConnection(onEvent, onConnected);
  socketRef.current = connection.socket;

  useEffect(() => {
    if (connection.state.kind !== "connected") player.current?.stopAll();
  }, [connection.state.kind]);

  const send = useCallback(
    async (text: string): Promise<boolean> => {
      const socket = connection.socket;
      if (!socket) return false;
      player.current!.unlock();
      const localId = `local-${Date.now()}-${Math.random().toString(36).slice(2, 7)}`;
      dispatch({ type: "send", localId, text, at: performance.now() });
      try {
        const ack = (await socket.timeout(20000).emitWithAck("user_message", { text })) as Ack;
        if (ack?.ok && typeof ack.turn_id === "string") {
          dispatch({ type: "ack", localId, turnId: ack.turn_id, number: typeof ack.turn_number === "number" ? ack.turn_number : undefined });
          return true;
        }
        dispatch({ type: "send_failed", localId, code: ack?.error?.code ?? "INTERNAL", message: ack?.error?.message ?? "送出失敗" });
      } catch {
        dispatch({ type: "send_failed", localId, code: "TIMEOUT", message: "伺服器沒有回應，請稍後再試。" });
        push({ code: "TIMEOUT", message: "伺服器沒有回應，請稍後再試。", tone: "error" });
      }
      return false;
    },
    [connection.socket, push],
  );

  const setMode = useCallback(
    async (mode: TtsMode, voiceProfileId: string | null): Promise<Ack> => {
      const socket = connection.socket;
      if (!socket) return { ok: false, error: { message: "尚未連線" } };
      try {
        const payload: Record<string, unknown> = { mode };
        if (voiceProfileId) payload.voice_profile_id = voiceProfileId;
        return ((await socket.timeout(10000).emitWithAck("set_tts_mode", payload)) as Ack) ?? { ok: false };
      } catch {
        return { ok: false, error: { message: "伺服器沒有回應" } };
      }
    },
    [connection.socket],
  );

  const sendAudioFrame = useCallback((pcm: ArrayBuffer) => connection.socket?.emit("audio_chunk", pcm), [connection.socket]);
  const endUtterance = useCallback(() => connection.socket?.emit("audio_end", {}), [connection.socket]);
  const unlockAudio = useCallback(() => player.current!.unlock(), []);
  const stopPlayback = useCallback((turnId: string) => player.current!.stop(turnId), []);
  const newSession = useCallback(() => {
    player.current!.stopAll();
    dispatch({ type: "clear" });
    connection.newSession();
  }, [connection]);

  return {
    chat,
    connection,
    speechInput,
    toasts,
    dismissToast: dismiss,
    pushToast: push,
    send,
    setMode,
    sendAudioFrame,
    endUtterance,
    unlockAudio,
    stopPlayback,
    newSession,
  };
}

export type Avatar = ReturnType<typeof useAvatar>;
