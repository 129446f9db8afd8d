import { useEffect, useRef, useState } from "react";
import { MIC_PROBLEM_TEXT, MicError, Microphone, type MicProblem } from "../audio/microphone";
import { encodeWav } from "../lib/wav";
import { MAX_SECONDS, MIN_SECONDS } from "../lib/voiceValidation";
import type { Candidate } from "./VoiceUpload";

const RATE = 24000;
export const READING_PROMPT = "今天天氣很好，我們一起去公園散步吧。你最近過得怎麼樣？有空的話，晚上一起吃個飯，聊聊天。";

/** Records a 5-30 s sample in the browser with a countdown; the result becomes the upload
 * candidate (a 24 kHz WAV), with the reading prompt as its transcript. */
export function VoiceRecorder({ onRecorded }: { onRecorded: (candidate: Candidate) => void }) {
  const [recording, setRecording] = useState(false);
  const [elapsed, setElapsed] = useState(0);
  const [problem, setProblem] = useState<MicProblem | null>(null);
  const mic = useRef<Microphone | null>(null);
  const chunks = useRef<Int16Array[]>([]);
  const started = useRef(0);
  const timer = useRef<ReturnType<typeof setInterval> | undefined>(undefined);

  useEffect(() => () => {
    clearInterval(timer.current);
    mic.current?.stop();
  }, []);

  const stop = () => {
    clearInterval(timer.current);
    mic.current?.stop();
    mic.current = null;
    setRecording(false);
    const total = chunks.current.reduce((n, c) => n + c.length, 0);
    const samples = new Int16Array(total);
    let at = 0;
    for (const c of chunks.current) {
      samples.set(c, at);
      at += c.length;
    }
    chunks.current = [];
    if (!total) return;
    const blob = new Blob([encodeWav(samples, RATE)], { type: "audio/wav" });
    onRecorded({ blob, filename: "recording.wav", seconds: total / RATE, source: "recording", transcript: READING_PROMPT });
  };

  const start = async () => {
    const m = new Microphone();
    chunks.current = [];
    try {
      await m.start({ targetRate: RATE, frameMs: 100, onFrame: (pcm) => chunks.current.push(new Int16Array(pcm)) });
    } catch (error) {
      setProblem(error instanceof MicError ? error.problem : "error");
      return;
    }
    setProblem(null);
    mic.current = m;
    started.current = performance.now();
    setElapsed(0);
    setRecording(true);
    timer.current = setInterval(() => {
      const seconds = (performance.now() - started.current) / 1000;
      setElapsed(seconds);
      if (seconds >= MAX_SECONDS) stop();
    }, 200);
  };

  const remaining = Math.max(0, Math.ceil(MAX_SECONDS - elapsed));
  const canStop = elapsed >= MIN_SECONDS;
  return (
    <div className="recorder">
      <p className="recorder__prompt">
        請用自然的語氣朗讀：<q>{READING_PROMPT}</q>
      </p>
      {recording ? (
        <div className="recorder__live">
          <span className="recorder__dot" aria-hidden="true" />
          <span role="timer" aria-live="off" data-testid="record-countdown">
            錄音中 {elapsed.toFixed(0)} 秒・剩 {remaining} 秒
          </span>
          <button type="button" className="button button--small" onClick={stop} disabled={!canStop}>
            {canStop ? "完成" : `至少錄 ${MIN_SECONDS} 秒`}
          </button>
        </div>
      ) : (
        <button type="button" className="button" onClick={() => void start()} data-testid="record-start">
          <span className="recorder__dot" aria-hidden="true" /> 開始錄音（5–30 秒）
        </button>
      )}
      {problem && (
        <p className="field-error" role="alert">
          {MIC_PROBLEM_TEXT[problem]}
        </p>
      )}
    </div>
  );
}
