import { useEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { MIC_PROBLEM_TEXT, MicError, Microphone, type MicProblem } from "../audio/microphone";
import { loadPrefs, savePrefs } from "../lib/storage";
import { LevelMeter } from "./LevelMeter";
import { MicIcon } from "./MicIcon";

interface Props {
  /** connected, and the server takes speech input */
  enabled: boolean;
  unsupportedReason?: string;
  onFrame: (pcm: ArrayBuffer) => void;
  onEnd: () => void;
  onUnlock: () => void;
}

type MicMode = "ptt" | "handsfree";

/** Push-to-talk (hold the button, or Space on it) or hands-free (the server's VAD decides
 * when an utterance ends). The microphone stays open between presses so no word is cut. */
export function MicControl({ enabled, unsupportedReason, onFrame, onEnd, onUnlock }: Props) {
  const [mode, setMode] = useState<MicMode>(() => loadPrefs().micMode ?? "ptt");
  const [open, setOpen] = useState(false);
  const [sending, setSending] = useState(false);
  const [problem, setProblem] = useState<MicProblem | null>(null);
  const [level, setLevel] = useState(0);
  const mic = useRef<Microphone | null>(null);
  const sendingRef = useRef(false);
  const frame = useRef(onFrame);
  frame.current = onFrame;

  useEffect(() => () => mic.current?.stop(), []);
  useEffect(() => {
    if (!enabled) close();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enabled]);

  const ensureOpen = async (): Promise<boolean> => {
    if (mic.current?.active) return true;
    const m = new Microphone();
    try {
      await m.start({ onFrame: (pcm) => sendingRef.current && frame.current(pcm), onLevel: setLevel });
      mic.current = m;
      setOpen(true);
      setProblem(null);
      return true;
    } catch (error) {
      setProblem(error instanceof MicError ? error.problem : "error");
      return false;
    }
  };

  const begin = async () => {
    onUnlock();
    sendingRef.current = true;
    setSending(true);
    if (!(await ensureOpen())) {
      sendingRef.current = false;
      setSending(false);
    }
  };

  const finish = () => {
    if (!sendingRef.current) return;
    sendingRef.current = false;
    setSending(false);
    onEnd();
  };

  function close() {
    if (sendingRef.current) finish();
    mic.current?.stop();
    mic.current = null;
    setOpen(false);
    setLevel(0);
  }

  const chooseMode = (next: MicMode) => {
    if (sendingRef.current) finish();
    setMode(next);
    savePrefs({ ...loadPrefs(), micMode: next });
  };

  const onKey = (event: KeyboardEvent<HTMLButtonElement>, down: boolean) => {
    if (mode !== "ptt" || (event.key !== " " && event.key !== "Enter")) return;
    event.preventDefault();
    if (down && !event.repeat && !sendingRef.current) void begin();
    if (!down) finish();
  };

  const disabled = !enabled;
  return (
    <section className="mic" aria-label="語音輸入">
      <div className="mic__modes" role="radiogroup" aria-label="收音方式">
        {(["ptt", "handsfree"] as const).map((m) => (
          <label key={m} className={`chip ${mode === m ? "chip--on" : ""}`}>
            <input type="radio" name="mic-mode" value={m} checked={mode === m} onChange={() => chooseMode(m)} />
            {m === "ptt" ? "按住說話" : "免持（自動偵測）"}
          </label>
        ))}
      </div>
      <button
        type="button"
        className={`mic__button ${sending ? "mic__button--live" : ""}`}
        disabled={disabled}
        aria-pressed={sending}
        aria-label={mode === "ptt" ? "按住說話（或按住空白鍵）" : undefined}
        data-testid="mic-button"
        {...(mode === "ptt"
          ? {
              onPointerDown: (e: PointerEvent<HTMLButtonElement>) => {
                try {
                  e.currentTarget.setPointerCapture(e.pointerId); // release outside still ends it
                } catch {
                  /* synthetic pointer events have no capture */
                }
                void begin();
              },
              onPointerUp: finish,
              onPointerCancel: finish,
              onKeyDown: (e: KeyboardEvent<HTMLButtonElement>) => onKey(e, true),
              onKeyUp: (e: KeyboardEvent<HTMLButtonElement>) => onKey(e, false),
            }
          : { onClick: () => (sending ? finish() : void begin()) })}
      >
        <MicIcon /> {mode === "ptt" ? (sending ? "放開送出" : "按住說話") : sending ? "停止聆聽" : "開始聆聽"}
      </button>
      {open && <LevelMeter level={level} />}
      {open && !sending && (
        <button type="button" className="button button--small button--ghost" onClick={close}>
          關閉麥克風
        </button>
      )}
      {disabled && unsupportedReason && <p className="mic__note">{unsupportedReason}</p>}
      {problem && (
        <p className="mic__problem" role="alert" data-testid="mic-problem" data-problem={problem}>
          {MIC_PROBLEM_TEXT[problem]}
        </p>
      )}
    </section>
  );
}
