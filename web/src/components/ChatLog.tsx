import { useEffect, useRef } from "react";
import { prosodyForTurn } from "../lib/prosody";
import type { ProsodyResult, Turn } from "../lib/types";
import { TurnView } from "./TurnView";

interface Props {
  turns: Turn[];
  prosody: Record<string, ProsodyResult>;
  onOpenProsody: (transcriptionId: string) => void;
  onBeforeReplay: (turnId: string) => void;
}

export function ChatLog({ turns, prosody, onOpenProsody, onBeforeReplay }: Props) {
  const end = useRef<HTMLDivElement>(null);
  const last = turns[turns.length - 1];
  // Screen readers hear each finished reply once, not every streamed token.
  const announced = last && (last.status === "done" || last.status === "error") ? `助理回答：${last.reply || last.error?.message || ""}` : "";
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: "end" });
  }, [turns.length, last?.reply, last?.status]);

  if (!turns.length) {
    return (
      <div className="chat-empty" data-testid="chat-empty">
        <h2>開始對話</h2>
        <p>在下方輸入文字，或按住麥克風說話。助理會即時回答，並用你選的聲音唸出來。</p>
        <ul>
          <li>右側「聲音」可上傳或錄製 5–30 秒的聲音樣本，讓助理用你的聲音說話。</li>
          <li>每次說話後，「韻律報告」會顯示自信、穩定、親和三項分數。</li>
        </ul>
      </div>
    );
  }
  return (
    <div className="chat-log">
      <p className="visually-hidden" aria-live="polite">
        {announced}
      </p>
      <ol className="turns" aria-label="對話紀錄">
        {turns.map((turn) => (
          <TurnView
            key={turn.id}
            turn={turn}
            prosody={prosodyForTurn(prosody, turn)}
            onOpenProsody={onOpenProsody}
            onBeforeReplay={() => onBeforeReplay(turn.serverId ?? turn.id)}
          />
        ))}
      </ol>
      <div ref={end} />
    </div>
  );
}
